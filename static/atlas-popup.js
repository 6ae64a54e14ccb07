/* 精致威海规划图 — tooltip on hover, popup on click, the highlight of the chosen feature; for the
 * page and the offline map. Other modules add to the popup through the extension points of the core:
 * Atlas.popupSections (more content, e.g. the offline map's "all fields", the page's Select button)
 * and Atlas.popupClicks (a click taken for something else, e.g. shift-click to select).
 * Every value from the data becomes textContent: a name like <img onerror=...> is shown, never run. */
(function () {
  'use strict';
  var Atlas = window.Atlas;

  // -- tooltip on hover (one shared tooltip: no per-feature binding, fast at any size) ---------------
  Atlas.featureName = function (props) {
    var zh = props.name_zh, en = props.name_en;
    if (Atlas.lang === 'en') { return en || zh || props.id || ''; }
    return zh || en || props.id || '';
  };

  function tooltipContent(feature, cfg) {
    var props = feature.properties || {};
    var box = Atlas.el('div', 'atlas-tip');
    Atlas.el('div', 'atlas-tip-name', Atlas.featureName(props), box);
    var cat = Atlas.categoryOf(cfg, props);
    var sub = cat ? Atlas.label(cat.label) : Atlas.label(cfg && cfg.title);
    if (sub) { Atlas.el('div', 'atlas-tip-sub', sub, box); }
    return box;
  }

  Atlas.hover = {
    tip: null,
    over: function (e) {
      if (!e.layer || !e.layer.feature || Atlas.measuring) { return; }
      var layer = this;
      var point = !!e.layer.getLatLng;
      var tip = Atlas.hover.tip = Atlas.hover.tip || L.tooltip({direction: 'top', offset: [0, -6], className: 'atlas-tooltip', opacity: 1});
      tip.options.offset = point ? [0, -8] : [0, -12];
      tip.setContent(tooltipContent(e.layer.feature, layer.cfg));
      tip.setLatLng(point ? e.layer.getLatLng() : e.latlng);
      Atlas.hover.sticky = !point;
      if (!Atlas.map.hasLayer(tip)) { tip.addTo(Atlas.map); }
    },
    move: function (e) {
      var tip = Atlas.hover.tip;
      if (tip && Atlas.hover.sticky && Atlas.map.hasLayer(tip)) { tip.setLatLng(e.latlng); }
    },
    out: function () {
      var tip = Atlas.hover.tip;
      if (tip && Atlas.map.hasLayer(tip)) { Atlas.map.removeLayer(tip); }
    }
  };

  // -- popup on click -----------------------------------------------------------------------------
  // the catalog's fields, each shown in its own place in the popup (or not at all: the key)
  var LAID_OUT = {};
  ['id', 'layer', 'name_zh', 'name_en', 'category', 'status', 'district', 'functional_area', 'year', 'date', 'figures',
   'area_m2', 'area_ha', 'area_mu', 'length_km', 'description_zh', 'description_en', 'source', 'sources', 'accuracy',
   'accuracy_note_zh', 'accuracy_note_en', 'position_source', 'position_note_zh', 'position_note_en']
    .forEach(function (name) { LAID_OUT[name] = true; });

  function row(list, label, value) {
    if (value === null || value === undefined || value === '') { return; }
    Atlas.el('dt', null, label, list);
    var dd = Atlas.el('dd', null, null, list);
    if (value instanceof Node) { dd.appendChild(value); } else { dd.textContent = String(value); }
    return dd;
  }

  // The figures that are an area in 亩 (e.g. 华夏城's 3,767 亩 of former quarries): the popup puts
  // each beside the area the map measures, or says the map's area is only schematic.
  function areaFigures(props) {
    return (Array.isArray(props.figures) ? props.figures : []).filter(function (fig) {
      return fig && fig.unit_zh === '亩' && typeof fig.value === 'number' && fig.value > 0;
    });
  }

  // where the position comes from (position_source: kind and reference) and how far off it may be;
  // a tile's feature may carry it as JSON text
  function positionSource(box, props, lang, vocab) {
    var pos = props.position_source;
    if (typeof pos === 'string') { try { pos = JSON.parse(pos); } catch (e) { pos = null; } }
    var note = lang === 'en' ? (props.position_note_en || props.position_note_zh) : (props.position_note_zh || props.position_note_en);
    if (!(pos && typeof pos === 'object') && !note) { return; }
    var div = Atlas.el('div', 'atlas-popup-position', null, box);
    var kind = pos && pos.kind ? (Atlas.label((vocab.position_kinds || {})[pos.kind]) || String(pos.kind)) : '';
    if (pos && pos.kind) { div.setAttribute('data-position-kind', String(pos.kind)); }
    Atlas.el('strong', null, Atlas.t('positionSource') + '：' + kind, div);
    if (note) { Atlas.el('span', 'atlas-popup-position-note', ' ' + note, div); }
    if (pos && pos.ref) { Atlas.el('div', 'atlas-popup-position-ref', String(pos.ref), div); }
  }

  Atlas.popupContent = function (feature, cfg) {
    var props = feature.properties || {}, lang = Atlas.lang, vocab = Atlas.config.vocab;
    var box = Atlas.el('div', 'atlas-popup');
    box.setAttribute('data-feature-id', String(feature.id || props.id || ''));
    var primary = Atlas.featureName(props);
    var secondary = lang === 'en' ? props.name_zh : props.name_en;
    Atlas.el('h3', 'atlas-popup-title', primary, box);
    if (secondary && secondary !== primary) { Atlas.el('div', 'atlas-popup-sub', secondary, box); }

    var tags = Atlas.el('div', 'atlas-popup-tags', null, box);
    var cat = Atlas.categoryOf(cfg, props);
    var raw = cfg && cfg.style && cfg.style.by ? Atlas.categoryKey(cfg, props) : props.category;
    if (cat) {
      var chip = Atlas.el('span', 'atlas-chip', null, tags);
      var dot = Atlas.el('span', 'atlas-dot', null, chip);
      dot.style.backgroundColor = cat.color;
      Atlas.el('span', null, Atlas.label(cat.label), chip);
    } else if (raw) {
      Atlas.el('span', 'atlas-chip', raw, tags);
    }
    if (props.status) {
      var st = Atlas.el('span', 'atlas-chip atlas-status', Atlas.label(vocab.status[props.status]) || props.status, tags);
      st.setAttribute('data-status', String(props.status));
    }
    if (cfg) { Atlas.el('span', 'atlas-chip atlas-chip-layer', Atlas.label(cfg.title), tags); }

    var list = Atlas.el('dl', 'atlas-popup-fields', null, box);
    var district = vocab.districts[props.district];
    row(list, Atlas.t('districtLabel'), district ? Atlas.label(district) : props.district);
    var fa = props.functional_area ? vocab.functional_areas[props.functional_area] : null;
    row(list, Atlas.t('functionalArea'), fa ? Atlas.label(fa) : props.functional_area);
    row(list, Atlas.t('year'), props.year);
    row(list, Atlas.t('date'), props.date);
    if (Array.isArray(props.figures) && props.figures.length) {
      var figs = Atlas.el('ul', 'atlas-figures');
      props.figures.forEach(function (fig) {
        var label = lang === 'en' ? (fig.label_en || fig.label_zh) : (fig.label_zh || fig.label_en);
        var text = lang === 'en' && fig.unit_en !== undefined && fig.value !== undefined
          ? fig.value + ' ' + (fig.unit_en || '') + ' (' + (fig.text || '') + ')' : (fig.text || fig.value);
        Atlas.el('li', null, (label ? label + '：' : '') + text, figs);
      });
      row(list, Atlas.t('figures'), figs);
    }
    if (props.area_m2) {
      var schematic = props.accuracy === 'schematic';
      var area = row(list, Atlas.t('area'), Atlas.number(props.area_ha, 1) + ' ' + Atlas.t('ha') + ' · ' +
          Atlas.number(props.area_mu, 0) + ' ' + Atlas.t('mu') + (schematic ? Atlas.t('areaSchematic') : ''));
      if (area) { area.setAttribute('data-schematic', String(schematic)); }
      areaFigures(props).forEach(function (fig) {
        var label = lang === 'en' ? (fig.label_en || fig.label_zh) : (fig.label_zh || fig.label_en);
        var values = {label: label, text: fig.text || fig.value, value: Atlas.number(fig.value, 0),
                      mu: Atlas.number(props.area_mu, 0), pct: Atlas.number(100 * props.area_mu / fig.value, 0)};
        var cmp = row(list, Atlas.t('areaVsFigure'), Atlas.t(schematic ? 'areaVsFigureSchematic' : 'areaVsFigureOutline', values));
        if (cmp) { cmp.className = 'atlas-area-compare'; }
      });
    }
    if (props.length_km) { row(list, Atlas.t('length'), Atlas.number(props.length_km, 2) + ' ' + Atlas.t('km')); }
    // the layer's other fields (an imported layer's own), each under its title (cfg.fieldTitles)
    var titles = (cfg && cfg.fieldTitles) || {};
    Object.keys(titles).forEach(function (name) {
      if (LAID_OUT[name]) { return; }
      var value = props[name];
      row(list, Atlas.label(titles[name]) || name, value !== null && typeof value === 'object' ? JSON.stringify(value) : value);
    });

    var desc = lang === 'en' ? (props.description_en || props.description_zh) : (props.description_zh || props.description_en);
    if (desc) { Atlas.el('p', 'atlas-popup-desc', desc, box); }

    if (props.accuracy) {
      var acc = Atlas.el('div', 'atlas-popup-accuracy', null, box);
      acc.setAttribute('data-accuracy', String(props.accuracy));
      Atlas.el('strong', null, Atlas.t('accuracy') + '：' + (Atlas.label(vocab.accuracy[props.accuracy]) || props.accuracy), acc);
      var note = lang === 'en' ? (props.accuracy_note_en || props.accuracy_note_zh) : (props.accuracy_note_zh || props.accuracy_note_en);
      if (note) { Atlas.el('span', null, ' ' + note, acc); }
    }
    positionSource(box, props, lang, vocab);

    var sources = Array.isArray(props.source) ? props.source : (Array.isArray(props.sources) ? props.sources : []);
    if (sources.length) {
      var det = Atlas.el('details', 'atlas-popup-sources', null, box);
      Atlas.el('summary', null, Atlas.t('sources') + ' (' + sources.length + ')', det);
      sources.forEach(function (src) {
        var item = Atlas.el('div', 'atlas-source', null, det);
        Atlas.el('div', 'atlas-source-file', src.file, item);
        Atlas.el('blockquote', null, src.quote, item);
      });
    }
    Atlas.popupSections.forEach(function (section) { section(box, feature, cfg); });
    return box;
  };

  // How far in from the map's right edge its right-hand controls reach (px; 0 with none shown).
  function rightControls() {
    var container = Atlas.map.getContainer(), edge = container.getBoundingClientRect().right, reach = 0;
    container.querySelectorAll('.leaflet-right .leaflet-control').forEach(function (control) {
      var box = control.getBoundingClientRect();
      if (box.width && box.height) { reach = Math.max(reach, edge - box.left); }
    });
    return reach;
  }

  // The popup of ``feature`` (of the layer ``cfg``) at ``latlng``; null when a module of
  // Atlas.popupClicks took the click instead.
  Atlas.openPopup = function (feature, latlng, cfg) {
    if (Atlas.popupClicks.some(function (taken) { return taken(feature, latlng, cfg); })) { return null; }
    Atlas.hover.out();
    var width = Math.min(340, Math.max(220, window.innerWidth - 70));
    // keep the popup clear of the controls down the right (layers, legend) where the map is wide enough
    var right = rightControls();
    var clear = Atlas.map.getSize().x - right - 60 >= width + 30 ? right + 10 : 10;
    var popup = L.popup({maxWidth: width, minWidth: Math.min(240, width), maxHeight: Math.max(200, window.innerHeight * 0.55),
                         autoPanPaddingTopLeft: [10, 60], autoPanPaddingBottomRight: [clear, 10],
                         className: 'atlas-leaflet-popup'})
      .setLatLng(latlng).setContent(Atlas.popupContent(feature, cfg)).openOn(Atlas.map);
    Atlas.highlight(feature);
    popup.on('remove', function () { Atlas.highlight(null); });
    return popup;
  };

  // Hover and click on the features of ``layer`` (of the layer config ``cfg``): tooltip and popup.
  Atlas.bindFeatureEvents = function (layer, cfg) {
    layer.on('mouseover', Atlas.hover.over).on('mousemove', Atlas.hover.move).on('mouseout', Atlas.hover.out);
    layer.on('click', function (e) {
      if (Atlas.measuring || !e.layer || !e.layer.feature) { return; }
      Atlas.openPopup(e.layer.feature, e.layer.getLatLng ? e.layer.getLatLng() : e.latlng, cfg);
    });
  };

  // -- highlights: outlines over the map, on their own pane, not clickable ------------------------
  /* ``data`` (GeoJSON) outlined on the map: lines and areas in ``style``, points as rings in
   * ``ring`` (circle marker options). */
  Atlas.outline = function (data, style, ring) {
    var on = {pane: 'atlas-highlight', interactive: false, renderer: Atlas.highlightRenderer};
    return L.geoJSON(data, L.extend({}, on, {
      style: style,
      pointToLayer: function (f, latlng) { return L.circleMarker(latlng, L.extend({fill: false}, on, ring)); }
    })).addTo(Atlas.map);
  };

  Atlas.highlight = function (feature) {
    if (Atlas._highlight) { Atlas.map.removeLayer(Atlas._highlight); Atlas._highlight = null; }
    if (!feature || !feature.geometry) { return; }
    Atlas._highlight = Atlas.outline(feature, {color: '#ffd400', weight: 6, opacity: 0.85, fill: false},
                                     {radius: 12, color: '#ffd400', weight: 4});
  };

}());
