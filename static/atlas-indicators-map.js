/* 精致威海规划图 — the thematic map (专题图) of a planning indicator: the district polygons of the
 * districts layer (GET /api/layers/districts, as of the answer's time) coloured by the indicator's
 * value in graduated classes — equal intervals between the lowest and the highest district value,
 * five classes (one when every value is the same), a sequential ramp that reads in greyscale and
 * for colour-blind eyes (ColorBrewer YlGnBu, light = low) — drawn on its own pane above the other
 * layers, with its section in the legend (classes, colours, unit, how many districts each) and the
 * value of a district on click. Used by atlas-indicators.js. Text only. */
(function () {
  'use strict';
  var Atlas = window.Atlas;
  var el = Atlas.el;

  Atlas.strings({
    thmTitle: ['专题图：{title}', 'Thematic map: {title}'],
    thmMethod: ['等间距分级（{n} 级，最小值至最大值）', 'Equal intervals ({n} classes, lowest to highest value)'],
    thmNoValue: ['无值（无基数）', 'no value (no base)'],
    thmDistricts: ['{n} 个区', '{n} districts'],
    thmValue: ['指标值', 'Value'],
    thmThen: ['对比时', 'Then'],
    thmChange: ['变化', 'Change']
  });

  /** The ramp, light (low) to dark (high): ColorBrewer YlGnBu, 5 classes (colour-blind safe). */
  var RAMP = ['#ffffcc', '#a1dab4', '#41b6c4', '#2c7fb8', '#253494'];
  var NO_VALUE = '#bdbdbd';
  var CLASSES = 5;
  var DIVISIONS = ['district', 'county_city'];  // as layers/analysis/stats.py splits by geometry

  function finite(v) { return typeof v === 'number' && isFinite(v); }

  /* Equal-interval classes of ``values`` (nulls left out): [{index, from, to, color}], each holding
   * from <= v < to, the last also its top. ``n`` classes, one when all values are the same. */
  Atlas.indicatorClasses = function (values, n) {
    var vals = values.filter(finite);
    if (!vals.length) { return []; }
    var lo = Math.min.apply(null, vals), hi = Math.max.apply(null, vals), k = hi > lo ? (n || CLASSES) : 1;
    var step = (hi - lo) / k, out = [];
    for (var i = 0; i < k; i++) {
      out.push({index: i, from: lo + i * step, to: i === k - 1 ? hi : lo + (i + 1) * step,
                color: k === 1 ? RAMP[2] : RAMP[Math.round(i * (RAMP.length - 1) / (k - 1))]});
    }
    return out;
  };
  // The class of ``value`` among ``classes``, or null (no value).
  Atlas.indicatorClassOf = function (classes, value) {
    if (!finite(value) || !classes.length) { return null; }
    var lo = classes[0].from, k = classes.length, step = (classes[k - 1].to - lo) / k;
    if (k === 1 || step <= 0) { return classes[0]; }
    return classes[Math.max(0, Math.min(k - 1, Math.floor((value - lo) / step + 1e-9)))];
  };

  // -- the districts' shapes: one MultiPolygon per district code ----------------------------------------
  var shapes = {};  // as_of ('' for now) -> Promise of {code: coordinates}
  function districtShapes(asOf) {
    var key = asOf || '';
    if (!shapes[key]) {
      var params = {limit: 10000};
      if (asOf) { params.as_of = asOf; }
      shapes[key] = Atlas.fetchJson(Atlas.apiUrl('layers/districts', params)).then(function (fc) {
        var out = {};
        (fc.features || []).forEach(function (f) {
          var p = f.properties || {}, g = f.geometry;
          if (!g || DIVISIONS.indexOf(p.category) < 0 || p.district === null || p.district === undefined ||
              String(p.district) === '371000') { return; }
          var code = String(p.district), list = out[code] = out[code] || [];
          if (g.type === 'Polygon') { list.push(g.coordinates); }
          if (g.type === 'MultiPolygon') { g.coordinates.forEach(function (c) { list.push(c); }); }
        });
        return out;
      }).catch(function (err) { delete shapes[key]; throw err; });
    }
    return shapes[key];
  }

  function signed(v) { return (v > 0 ? '+' : '') + Atlas.number(v, 2); }
  Atlas.indicatorSigned = signed;
  function valueText(v, unit) { return finite(v) ? Atlas.number(v, 2) + (unit ? ' ' + unit : '') : '—'; }

  function popup(row, unit) {
    var box = el('div', 'atlas-thematic-popup');
    el('strong', null, Atlas.label(row.label), box);
    el('div', 'atlas-thematic-value', Atlas.t('thmValue') + '：' + valueText(row.value, unit), box);
    el('div', 'atlas-thematic-level', Atlas.label(row.level_label), box);
    if (row.compare !== undefined) {
      el('div', null, Atlas.t('thmThen') + '：' + valueText(row.compare && row.compare.value, unit), box);
      el('div', 'atlas-thematic-change', Atlas.t('thmChange') + '：' + (finite(row.change) ? signed(row.change) : '—'), box);
    }
    return box;
  }

  // -- the layer and its legend section -----------------------------------------------------------------
  var layer = null, legend = null, seq = 0, renderer = null;

  function pane(map) {
    if (!map.getPane('atlas-thematic')) {
      map.createPane('atlas-thematic').style.zIndex = 445;  // over the overlays (400), under highlights (450)
      renderer = L.svg({pane: 'atlas-thematic', padding: 0.5});
    }
  }

  function clear() {
    seq++;
    if (layer) { Atlas.map.removeLayer(layer); layer = null; }
    if (legend) { legend = null; Atlas.updateLegend(); }
  }

  /* Draw ``answer`` (GET /api/indicators/<id>) on the map; a Promise of the classes drawn. */
  function show(answer) {
    var mine = ++seq, ind = answer.indicator, unit = ind.unit;
    return districtShapes(answer.as_of).then(function (geo) {
      if (mine !== seq) { return null; }
      var rows = answer.districts.filter(function (r) { return geo[r.district]; });
      var classes = Atlas.indicatorClasses(rows.map(function (r) { return r.value; }), CLASSES);
      var counts = classes.map(function () { return 0; }), empty = 0;
      var features = rows.map(function (r) {
        var cls = Atlas.indicatorClassOf(classes, r.value);
        if (cls) { counts[cls.index]++; } else { empty++; }
        return {type: 'Feature', properties: {row: r, cls: cls},
                geometry: {type: 'MultiPolygon', coordinates: geo[r.district]}};
      });
      if (layer) { Atlas.map.removeLayer(layer); }
      pane(Atlas.map);
      layer = L.geoJSON({type: 'FeatureCollection', features: features}, {
        renderer: renderer, pane: 'atlas-thematic',
        style: function (f) {
          var c = f.properties.cls;
          return {color: '#3a3a3a', weight: 1.2, opacity: 0.9, fillColor: c ? c.color : NO_VALUE, fillOpacity: c ? 0.82 : 0.5,
                  dashArray: c ? null : '4 3', className: 'atlas-thematic-area'};
        },
        onEachFeature: function (f, lay) { lay.bindPopup(function () { return popup(f.properties.row, unit); }); }
      }).addTo(Atlas.map);
      layer.eachLayer(function (lay) {
        var p = lay.getElement(), f = lay.feature.properties;
        if (!p) { return; }
        p.setAttribute('data-district', f.row.district);
        p.setAttribute('data-value', finite(f.row.value) ? String(f.row.value) : '');
        p.setAttribute('data-class', f.cls ? String(f.cls.index) : '');
        p.setAttribute('data-color', f.cls ? f.cls.color : NO_VALUE);
      });
      legend = {title: Atlas.label(ind.title), unit: unit, classes: classes, counts: counts, empty: empty};
      Atlas.updateLegend();
      return classes;
    });
  }

  function legendSection(body) {
    var old = body.querySelector('.atlas-legend-thematic');
    if (old) { old.parentNode.removeChild(old); }
    if (!legend) { return; }
    var box = el('section', 'atlas-legend-layer atlas-legend-thematic');
    body.insertBefore(box, body.firstChild);
    var title = el('div', 'atlas-legend-title', null, box);
    el('span', null, Atlas.t('thmTitle', {title: legend.title}) + (legend.unit ? '（' + legend.unit + '）' : ''), title);
    el('div', 'atlas-legend-note', Atlas.t('thmMethod', {n: legend.classes.length}), box);
    var items = el('div', 'atlas-legend-items atlas-thematic-classes', null, box);
    legend.classes.forEach(function (c, i) {
      var key = el('span', 'atlas-key atlas-thematic-class', null, items);
      key.setAttribute('data-class', String(c.index));
      key.setAttribute('data-color', c.color);
      key.setAttribute('data-from', String(c.from));
      key.setAttribute('data-to', String(c.to));
      Atlas.symbol('polygon', key, c.color).style.background = c.color;
      el('span', null, Atlas.number(c.from, 2) + ' – ' + Atlas.number(c.to, 2) + (legend.unit ? ' ' + legend.unit : '') +
         '（' + Atlas.t('thmDistricts', {n: legend.counts[i]}) + '）', key);
    });
    if (legend.empty) {
      var none = el('span', 'atlas-key atlas-thematic-class', null, items);
      none.setAttribute('data-class', '');
      Atlas.symbol('polygon', none, NO_VALUE, 'dashed');
      el('span', null, Atlas.t('thmNoValue') + '（' + Atlas.t('thmDistricts', {n: legend.empty}) + '）', none);
    }
  }

  var update = Atlas.updateLegend;  // the legend's layers and keys (atlas-legend.js), then our section
  Atlas.updateLegend = function () {
    update.apply(this, arguments);
    if (Atlas._legendBody) { legendSection(Atlas._legendBody); }
  };

  Atlas.thematic = {show: show, clear: clear, RAMP: RAMP,
                    layer: function () { return layer; }, legend: function () { return legend; }};
}());
