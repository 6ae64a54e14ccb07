/* 精致威海规划图 — the viewer of the standalone map file (layers/standalone.py inlines it after
 * atlas.js, atlas-ui.js and atlas-popup.js). The features are in the file, as JSON in the script
 * element #atlas-standalone-data (type application/json); nothing is fetched. No basemap: the
 * sea is the map's background, the land the city's districts. Every value from the data becomes
 * text (textContent); the one HTML string Leaflet asks for (a layer's name in the layer control) is
 * escaped here. On the atlas page itself this file is not loaded. */
(function () {
  'use strict';
  var Atlas = window.Atlas;
  var node = document.getElementById('atlas-standalone-data');
  if (!Atlas || !node) { return; }
  var config = JSON.parse(node.textContent);
  var el = Atlas.el;

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c];
    });
  }

  // -- popups: the page's popup, and below it every field of the feature ---------------------------
  Atlas.popupSections.push(function (box, feature, cfg) {
    var titles = (cfg && cfg.fieldTitles) || {};
    var props = feature.properties || {};
    var det = el('details', 'atlas-popup-fields-all', null, box);
    el('summary', null, Atlas.t('allFields'), det);
    var list = el('dl', 'atlas-popup-fields', null, det);
    Object.keys(props).forEach(function (key) {
      var value = props[key];
      if (value === null || value === undefined || value === '') { return; }
      var title = titles[key] || config.fieldTitles[key];
      el('dt', null, title ? Atlas.label(title) : key, list);
      el('dd', null, typeof value === 'object' ? JSON.stringify(value) : String(value), list);
    });
  });

  // -- the map ------------------------------------------------------------------------------------
  var map = L.map('atlas-standalone', {zoomControl: false, minZoom: config.zoom.min, maxZoom: config.zoom.max});
  Atlas.prepareMap(map, config);
  if (config.land) {
    L.geoJSON(config.land, {pane: 'atlas-land', renderer: Atlas.landRenderer, interactive: false,
                            style: Atlas.LAND_STYLE}).addTo(map);
  }

  Atlas.layers = {};
  var overlays = {}, bounds = L.latLngBounds([]);
  Atlas.byZ(config.layers).forEach(function (cfg) {
    var layer = Atlas.geoJson(cfg.data, cfg);
    layer.cfg = cfg;
    Atlas.bindFeatureEvents(layer, cfg);
    layer.addTo(map);
    if (cfg.data.features.length) { bounds.extend(layer.getBounds()); }
    Atlas.layers[cfg.id] = layer;
    overlays[escapeHtml(Atlas.label(cfg.title) + ' (' + cfg.data.features.length + ')')] = layer;
  });
  if (!config.view && bounds.isValid()) { map.fitBounds(bounds, {animate: false, padding: [40, 40], maxZoom: 15}); }

  // -- title, layer control, legend, scale ---------------------------------------------------------------
  Atlas.control('topleft', 'atlas-panel atlas-standalone-head', function (box) {
    el('h1', 'atlas-title atlas-standalone-title', config.title, box);
    var sub = el('div', 'atlas-standalone-sub', null, box);
    el('span', null, config.subtitle, sub);
    el('span', 'atlas-standalone-date', ' · ' + Atlas.t('generated') + ' ' + config.date, sub);
    el('div', 'atlas-standalone-note', Atlas.t('standaloneNote'), box);
  }).addTo(map);
  L.control.zoom({position: 'topleft', zoomInTitle: Atlas.t('zoomIn'), zoomOutTitle: Atlas.t('zoomOut')}).addTo(map);
  L.control.layers(null, overlays, {collapsed: false, position: 'topright'}).addTo(map);

  Atlas.legendControl(false).addTo(map);
  var sections = config.layers.map(function (cfg) {
    var categories = {}, n = cfg.data.features.length;
    cfg.data.features.forEach(function (f) {
      var cat = Atlas.categoryKey(cfg, f.properties) || '';
      categories[cat] = (categories[cat] || 0) + 1;
    });
    return Atlas.legendLayer(cfg, {categories: categories, count: n, matched: n, loaded: true});
  });
  Atlas.renderLegend(Atlas._legendBody, {layers: sections, keys: Atlas.legendKeys(sections)});
  L.control.scale({position: 'bottomleft', metric: true, imperial: false, maxWidth: 120}).addTo(map);

  map.on('zoomend', function () {
    Object.keys(Atlas.layers).forEach(function (id) { Atlas.resizePoints(Atlas.layers[id], Atlas.layers[id].cfg); });
  });

  // for tests and scripts: the ids drawn in a layer
  Atlas.standalone = {
    featureIds: function (id) { return Atlas.layers[id] ? Atlas.leafIds(Atlas.layers[id]) : []; }
  };
  map.getContainer().setAttribute('data-atlas-state', 'idle');
}());
