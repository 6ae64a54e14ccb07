/* 精致威海规划图 — the viewer of the standalone map file (layers/standalone.py inlines it after
 * atlas.js and atlas-popup.js). The features are in the file, as JSON in the script element
 * #atlas-standalone-data (type application/json); nothing is fetched. No basemap: the
 * sea is the map's background, the land the city's districts. Every value from the data becomes
 * text (textContent); the one HTML string Leaflet asks for (a layer's name in the layer control) is
 * escaped here. On the atlas page itself this file is not loaded. */
(function () {
  'use strict';
  var Atlas = window.Atlas;
  var node = document.getElementById('atlas-standalone-data');
  if (!Atlas || !node) { return; }
  var config = JSON.parse(node.textContent);
  var el = function (tag, cls, text, parent) { return Atlas.el(tag, cls, text, parent); };

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c];
    });
  }

  function control(position, className, build) {
    var Ctl = L.Control.extend({options: {position: position}, onAdd: function (map) {
      var box = L.DomUtil.create('div', 'leaflet-control ' + className);
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      build(box, map);
      return box;
    }});
    return new Ctl();
  }

  // -- popups: the page's popup, and below it every field of the feature ---------------------------
  var pagePopup = Atlas.popupContent;
  Atlas.popupContent = function (feature, cfg) {
    var box = pagePopup(feature, cfg), props = feature.properties || {};
    var det = el('details', 'atlas-popup-fields-all', null, box);
    el('summary', null, Atlas.t('allFields'), det);
    var list = el('dl', 'atlas-popup-fields', null, det);
    Object.keys(props).forEach(function (key) {
      var value = props[key];
      if (value === null || value === undefined || value === '') { return; }
      var title = config.fieldTitles[key];
      el('dt', null, title ? Atlas.label(title) : key, list);
      el('dd', null, typeof value === 'object' ? JSON.stringify(value) : String(value), list);
    });
    return box;
  };

  // -- the map ------------------------------------------------------------------------------------
  Atlas.config = config;
  Atlas.lang = config.lang === 'en' ? 'en' : 'zh';
  var map = Atlas.map = L.map('atlas-standalone', {zoomControl: false, minZoom: config.zoom.min,
                                                  maxZoom: config.zoom.max});
  map.attributionControl.setPrefix('Leaflet');
  map.createPane('atlas-land').style.zIndex = 250;
  map.createPane('atlas-highlight').style.zIndex = 450;
  map.getPane('atlas-land').style.pointerEvents = 'none';
  map.getPane('atlas-highlight').style.pointerEvents = 'none';
  Atlas.canvas = L.canvas({padding: 0.3, tolerance: L.Browser.mobile ? 10 : 4});
  Atlas.highlightRenderer = L.svg({pane: 'atlas-highlight', padding: 0.5});
  if (config.view) {
    map.setView(config.view.center, config.view.zoom, {animate: false});
  } else {
    map.fitBounds(config.home, {animate: false, padding: [4, 4]});
  }
  if (config.land) {
    L.geoJSON(config.land, {pane: 'atlas-land', renderer: L.svg({pane: 'atlas-land', padding: 0.5}),
                            interactive: false, style: {stroke: false, fillColor: '#f3efe4', fillOpacity: 1}}).addTo(map);
  }

  Atlas.layers = {};
  var overlays = {}, bounds = L.latLngBounds([]);
  config.layers.slice().sort(function (a, b) { return (a.style.z || 0) - (b.style.z || 0); }).forEach(function (cfg) {
    var layer = L.geoJSON(cfg.data, {
      renderer: Atlas.canvas,
      style: function (f) { return Atlas.featureStyle(cfg, f.properties || {}); },
      pointToLayer: function (f, latlng) {
        return L.circleMarker(latlng, L.extend({renderer: Atlas.canvas}, Atlas.featureStyle(cfg, f.properties || {})));
      }
    });
    layer.cfg = cfg;
    layer.on('mouseover', Atlas.hover.over).on('mousemove', Atlas.hover.move).on('mouseout', Atlas.hover.out);
    layer.on('click', function (e) {
      if (!e.layer || !e.layer.feature) { return; }
      Atlas.openPopup(e.layer.feature, e.layer.getLatLng ? e.layer.getLatLng() : e.latlng, cfg);
    });
    layer.addTo(map);
    if (cfg.data.features.length) { bounds.extend(layer.getBounds()); }
    Atlas.layers[cfg.id] = layer;
    overlays[escapeHtml(Atlas.label(cfg.title) + ' (' + cfg.data.features.length + ')')] = layer;
  });
  if (!config.view && bounds.isValid()) { map.fitBounds(bounds, {animate: false, padding: [40, 40], maxZoom: 15}); }

  // -- title, layer control, legend, scale ---------------------------------------------------------------
  control('topleft', 'atlas-panel atlas-standalone-head', function (box) {
    el('h1', 'atlas-title atlas-standalone-title', config.title, box);
    var sub = el('div', 'atlas-standalone-sub', null, box);
    el('span', null, config.subtitle, sub);
    el('span', 'atlas-standalone-date', ' · ' + Atlas.t('generated') + ' ' + config.date, sub);
    el('div', 'atlas-standalone-note', Atlas.t('standaloneNote'), box);
  }).addTo(map);
  L.control.zoom({position: 'topleft', zoomInTitle: Atlas.t('zoomIn'), zoomOutTitle: Atlas.t('zoomOut')}).addTo(map);
  L.control.layers(null, overlays, {collapsed: false, position: 'topright'}).addTo(map);

  function symbol(kind, parent, color, pattern, fill) {
    var sym = el('span', 'atlas-sym atlas-sym-' + kind + (pattern ? ' atlas-pat-' + pattern : '') +
                 (fill ? ' atlas-fill-' + fill : ''), null, parent);
    if (color) { sym.style.setProperty('--sym', color); }
    return sym;
  }
  control('bottomright', 'atlas-legend', function (box) {
    var head = el('div', 'atlas-legend-head', null, box);
    el('strong', null, Atlas.t('legend'), head);
    var body = el('div', 'atlas-legend-body', null, box);
    body.setAttribute('data-legend', '');
    config.layers.forEach(function (cfg) {
      var kind = Atlas.kind(cfg.geometry), cats = cfg.style.categories || {}, seen = {};
      cfg.data.features.forEach(function (f) { seen[(f.properties || {}).category] = true; });
      var sec = el('section', 'atlas-legend-layer', null, body);
      sec.setAttribute('data-layer', cfg.id);
      var title = el('div', 'atlas-legend-title', null, sec);
      el('span', null, Atlas.label(cfg.title), title);
      el('span', 'atlas-legend-count', String(cfg.data.features.length), title);
      var items = el('div', 'atlas-legend-items', null, sec);
      if (cfg.style.by !== 'category') {
        var item = el('span', 'atlas-key', null, items);
        symbol(kind, item, cfg.style.color);
        el('span', null, Atlas.label(cfg.title), item);
      }
      Object.keys(cats).filter(function (k) { return seen[k]; }).forEach(function (k) {
        var key = el('span', 'atlas-key', null, items);
        symbol(kind, key, cats[k].color);
        el('span', null, Atlas.label(cats[k].label), key);
      });
      if (!cfg.data.features.length) { el('div', 'atlas-legend-note', Atlas.t('none'), sec); }
    });
    var keys = el('section', 'atlas-legend-keys', null, body);
    var st = el('div', 'atlas-legend-row', null, keys);
    el('span', 'atlas-legend-label', Atlas.t('statusKey'), st);
    ['solid', 'half', 'hollow'].forEach(function (k) {
      var key = el('span', 'atlas-key', null, st);
      symbol('point', key, '#555555', null, k);
      el('span', null, Atlas.t(k), key);
    });
    var acc = el('div', 'atlas-legend-row', null, keys);
    el('span', 'atlas-legend-label', Atlas.t('accuracyKey'), acc);
    var pattern = {surveyed: 'solid', approximate: 'dashed', schematic: 'dotted'};
    Object.keys(config.vocab.accuracy).forEach(function (k) {
      var key = el('span', 'atlas-key', null, acc);
      symbol('line', key, '#555555', pattern[k] || 'solid');
      el('span', null, Atlas.label(config.vocab.accuracy[k]), key);
    });
  }).addTo(map);
  L.control.scale({position: 'bottomleft', metric: true, imperial: false, maxWidth: 120}).addTo(map);

  map.on('zoomend', function () {
    Object.keys(Atlas.layers).forEach(function (id) {
      var cfg = Atlas.layers[id].cfg;
      if (Atlas.kind(cfg.geometry) !== 'point') { return; }
      var radius = Atlas.pointRadius(cfg.style.radius || 6);
      Atlas.layers[id].eachLayer(function (lay) { if (lay.setRadius) { lay.setRadius(radius); } });
    });
  });

  // for tests and scripts: the ids drawn in a layer
  Atlas.standalone = {
    featureIds: function (id) {
      var ids = [];
      if (Atlas.layers[id]) { Atlas.layers[id].eachLayer(function (lay) { ids.push(lay.feature && lay.feature.id); }); }
      return ids;
    }
  };
  map.getContainer().setAttribute('data-atlas-state', 'idle');
}());
