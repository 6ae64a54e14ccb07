/* 精致威海规划图 — an answer of GET /api/stats as the statistics panel shows it (atlas-stats.js): its
 * numbers written for the page's language, the chart's data (atlas-chart.js; a category in its
 * layer's colour, other values in the chart's palette) and the table (a cross table for two groups,
 * with subtotals and totals; each cell's raw numbers in data-*). Text only. */
(function () {
  'use strict';
  var Atlas = window.Atlas;
  var el = Atlas.el;

  var MEASURES = Atlas.statsMeasures = ['count', 'area_mu', 'area_ha', 'area_m2', 'area_km2', 'length_km'];
  // the places of each measure in the answer (layers/analysis/stats.py: MEASURES)
  var DIGITS = {count: 0, area_m2: 2, area_ha: 4, area_mu: 2, area_km2: 6, length_km: 3};
  var GREY = '#9aa5ad';  // not given, outside every district

  // A number as the page's language writes it, at the answer's precision (``compact``: fewer places).
  Atlas.statsNumber = function (value, measure, compact) {
    var d = DIGITS[measure] || 0;
    return Number(value).toLocaleString(Atlas.lang === 'zh' ? 'zh-CN' : 'en',
      {minimumFractionDigits: compact ? 0 : d, maximumFractionDigits: compact ? Math.min(d, 2) : d});
  };

  // -- the colours: a category its layer's colour, any other value the fixed palette ----------------
  function colours(dim, cfg) {
    var cats = cfg.style && cfg.style.by === 'category' ? cfg.style.categories || {} : {};
    var n = 0;
    return dim.values.map(function (v) {
      if (v.key === null || v.key === 'outside') { return GREY; }
      if (dim.name === 'category' && Object.prototype.hasOwnProperty.call(cats, v.key)) { return cats[v.key].color; }
      return Atlas.chart.color(n++);
    });
  }

  // -- the answer as a chart's data and as a table ---------------------------------------------------
  function keyOf(entry, dims) { return JSON.stringify(dims.map(function (d) { return entry.key[d]; })); }
  function index(entries, dims) {
    var out = {};
    (entries || []).forEach(function (e) { out[keyOf(e, dims)] = e; });
    return out;
  }
  function measureTitle(body, measure) {
    var m = body.measures.filter(function (x) { return x.name === measure; })[0];
    return m ? Atlas.label(m.title) : measure;
  }

  Atlas.statsChartData = function (body, measure, cfg) {
    var dims = body.dimensions, two = dims.length === 2, groups = index(body.groups, body.group);
    var rowColours = colours(dims[0], cfg), serColours = two ? colours(dims[1], cfg) : [];
    var subs = two ? index(body.subtotals[dims[0].name], [dims[0].name]) : null;
    var rows = dims[0].values.map(function (v, i) { return {key: v.key, label: Atlas.label(v.label), color: rowColours[i]}; });
    var series = two ? dims[1].values.map(function (v, i) { return {key: v.key, label: Atlas.label(v.label), color: serColours[i]}; })
                     : [{key: null, label: measureTitle(body, measure), color: Atlas.chart.color(0)}];
    var values = dims[0].values.map(function (r) {
      return series.map(function (s) {
        var e = groups[JSON.stringify(two ? [r.key, s.key] : [r.key])];
        return e ? e.values[measure] : 0;
      });
    });
    var totals = two ? dims[0].values.map(function (r) {
      var e = subs[JSON.stringify([r.key])];
      return e ? e.values[measure] : 0;
    }) : null;
    return {title: Atlas.label(body.title) + ' · ' + measureTitle(body, measure), measure: measureTitle(body, measure),
            rows: rows, series: two ? series : [], values: values, totals: totals, empty: Atlas.t('statsEmpty'),
            format: function (n) { return Atlas.statsNumber(n, measure, true); }};
  };

  // A cell of numbers: the chosen measure as text, every measure's raw number in data-*.
  function numberCell(tr, entry, measure, part, tag) {
    var td = el(tag || 'td', 'atlas-stats-num', entry ? Atlas.statsNumber(entry.values[measure], measure) : '–', tr);
    td.setAttribute('data-part', part);
    if (!entry) { td.setAttribute('data-empty', ''); return td; }
    if (entry.key) { td.setAttribute('data-key', JSON.stringify(entry.key)); }
    MEASURES.forEach(function (m) { td.setAttribute('data-' + m, String(entry.values[m])); });
    return td;
  }

  Atlas.statsTable = function (body, measure) {
    var table = el('table', 'atlas-stats-table'), dims = body.dimensions;
    var head = el('tr', null, null, el('thead', null, null, table)), tbody = el('tbody', null, null, table);
    var foot = el('tr', 'atlas-stats-total', null, el('tfoot', null, null, table));
    var groups = index(body.groups, body.group), total = {values: body.totals};
    el('th', null, Atlas.label(dims[0].title) + (dims.length === 2 ? ' \\ ' + Atlas.label(dims[1].title) : ''), head);
    el('th', 'atlas-stats-rowhead', Atlas.t('statsTotal'), foot);
    if (dims.length === 1) {
      el('th', 'atlas-stats-num', measureTitle(body, measure), head);
      dims[0].values.forEach(function (v) {
        var tr = el('tr', null, null, tbody);
        el('th', 'atlas-stats-rowhead', Atlas.label(v.label), tr).setAttribute('data-key', JSON.stringify(v.key));
        numberCell(tr, groups[JSON.stringify([v.key])], measure, 'group');
      });
      numberCell(foot, total, measure, 'total');
      return table;
    }
    var rowSubs = index(body.subtotals[dims[0].name], [dims[0].name]);
    var colSubs = index(body.subtotals[dims[1].name], [dims[1].name]);
    dims[1].values.forEach(function (c) {
      el('th', 'atlas-stats-num', Atlas.label(c.label), head).setAttribute('data-key', JSON.stringify(c.key));
    });
    el('th', 'atlas-stats-num', Atlas.t('statsTotal'), head);
    dims[0].values.forEach(function (r) {
      var tr = el('tr', null, null, tbody);
      el('th', 'atlas-stats-rowhead', Atlas.label(r.label), tr).setAttribute('data-key', JSON.stringify(r.key));
      dims[1].values.forEach(function (c) { numberCell(tr, groups[JSON.stringify([r.key, c.key])], measure, 'group'); });
      numberCell(tr, rowSubs[JSON.stringify([r.key])], measure, 'subtotal').setAttribute('data-dimension', dims[0].name);
    });
    dims[1].values.forEach(function (c) {
      numberCell(foot, colSubs[JSON.stringify([c.key])], measure, 'subtotal').setAttribute('data-dimension', dims[1].name);
    });
    numberCell(foot, total, measure, 'total');
    return table;
  };
}());
