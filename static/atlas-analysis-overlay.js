/* 精致威海规划图 — spatial analysis (分析评价), tab 2: the overlay of two layers (叠加分析). A left layer
 * × a right layer of areas (default projects × zones) → GET /api/overlay: the pairs (left, right, 亩,
 * share of the left feature), the area of each right feature covered, the left features outside every
 * right feature, and the totals; the intersections (and the features outside, dashed) drawn as a map
 * layer; exports: the API's GeoJSON and the CSV of each table. Loaded after atlas-analysis.js, which
 * calls Atlas.analysis.buildOverlay when it builds the panel. Text only. */
(function () {
  'use strict';
  var Atlas = window.Atlas;
  var el = Atlas.el;
  var an = Atlas.analysis;

  Atlas.strings({
    ovLeft: ['叠加图层（左）', 'Layer (left)'],
    ovRight: ['被叠加面图层（右）', 'Areas (right)'],
    ovRun: ['叠加', 'Overlay'],
    ovLoading: ['正在叠加…', 'Overlaying…'],
    ovFailed: ['叠加失败：{detail}', 'The overlay failed: {detail}'],
    ovSame: ['左右图层不能相同', 'Choose two different layers'],
    ovNoArea: ['没有面图层可作右图层', 'No layer of areas for the right side'],
    ovPairs: ['落在哪个区域（交集）', 'Which feature lies in which (intersections)'],
    ovCovered: ['各区域被覆盖面积', 'Area covered of each right feature'],
    ovOutside: ['不在任何区域内的要素', 'Features outside every right feature'],
    ovLeftName: ['要素', 'Feature'],
    ovRightName: ['所在区域', 'Lies in'],
    ovMu: ['交集（亩）', 'Intersection (mu)'],
    ovKm: ['交集（千米）', 'Intersection (km)'],
    ovShare: ['占本要素', 'Share of it'],
    ovArea: ['面积（亩）', 'Area (mu)'],
    ovCoveredMu: ['被覆盖（亩）', 'Covered (mu)'],
    ovCount: ['要素数', 'Features'],
    ovCoveredShare: ['覆盖比例', 'Covered'],
    ovLength: ['长度（千米）', 'Length (km)'],
    ovTotals: ['{pairs} 对交集 · 区内 {inside} 个要素 {mu} 亩 · 区外 {out} 个', '{pairs} intersections · {inside} features inside, {mu} mu · {out} outside'],
    ovEmpty: ['无', 'none'],
    ovGeojson: ['GeoJSON', 'GeoJSON'],
    ovCsvPairs: ['交集表 CSV', 'Pairs CSV'],
    ovCsvCovered: ['覆盖表 CSV', 'Covered CSV'],
    ovCsvOutside: ['区外表 CSV', 'Outside CSV']
  });

  var PAIR_STYLE = {color: '#00695c', weight: 2, fillColor: '#26a69a', fillOpacity: 0.45};
  var OUTSIDE_STYLE = {color: '#b71c1c', weight: 2, dashArray: '5 5', fillColor: '#ef5350', fillOpacity: 0.12};

  function fill(select, configs, current) {
    select.textContent = '';
    configs.forEach(function (c) { Atlas.option(select, c.id, Atlas.label(c.title), c.id === current); });
    if (current && configs.some(function (c) { return c.id === current; })) { select.value = current; }
  }
  function areas() { return Atlas.config.layers.filter(function (c) { return Atlas.kind(c.geometry) === 'polygon'; }); }
  function has(id) { return !!Atlas.layerConfig(id); }

  an.buildOverlay = function (section, map, panel) {
    var form = el('div', 'atlas-analysis-form', null, section);
    var left = an.field(form, Atlas.t('ovLeft'), 'select', 'overlay-left');
    var right = an.field(form, Atlas.t('ovRight'), 'select', 'overlay-right');
    var actions = el('div', 'atlas-analysis-actions', null, section);
    var run = Atlas.button('atlas-overlay-run', Atlas.t('ovRun'), actions);
    var files = [['geojson', null, 'ovGeojson'], ['csv', 'pairs', 'ovCsvPairs'], ['csv', 'covered', 'ovCsvCovered'],
                 ['csv', 'outside', 'ovCsvOutside']].map(function (f) {
      var a = el('a', 'atlas-overlay-file', Atlas.t(f[2]), actions);
      a.setAttribute('data-file', f[1] || f[0]);
      return {a: a, format: f[0], table: f[1]};
    });
    var message = el('div', 'atlas-analysis-message', null, section);
    message.setAttribute('role', 'status');
    var results = el('div', 'atlas-analysis-results', null, section);
    var filled = false;

    function setState(v) { panel.setAttribute('data-overlay-state', v); }
    function say(text, error) {
      message.textContent = text || '';
      message.hidden = !text;
      message.className = 'atlas-analysis-message' + (error ? ' atlas-analysis-error' : '');
    }
    function links(params) {
      files.forEach(function (f) {
        if (!params) { f.a.removeAttribute('href'); f.a.setAttribute('aria-disabled', 'true'); return; }
        var p = L.extend({}, params, {format: f.format});
        if (f.table) { p.table = f.table; p.lang = Atlas.lang; }
        f.a.href = Atlas.apiUrl('overlay', p);
        f.a.removeAttribute('aria-disabled');
      });
    }

    function open() {  // the choices: every layer on the left, the layers of areas on the right
      if (filled) { return; }
      filled = true;
      var all = Atlas.config.layers, rights = areas();
      var r = has('zones') ? 'zones' : (rights.filter(function (c) { return c.id !== 'districts'; })[0] || rights[0] || {}).id;
      var l = has('projects') ? 'projects' : (all.filter(function (c) { return c.id !== r && c.id !== 'districts'; })[0] || {}).id;
      fill(left, all, l);
      fill(right, rights, r);
      if (!rights.length) { say(Atlas.t('ovNoArea'), true); }
    }

    function section3(title, cls, heads, texts, rows) {
      var box = el('section', 'atlas-overlay-table ' + cls, null, results);
      el('h3', null, title + '（' + Atlas.number(rows.length) + '）', box);
      if (!rows.length) { el('div', 'atlas-analysis-note', Atlas.t('ovEmpty'), box); return; }
      var body = an.table(box, heads, texts);
      rows.forEach(function (row) { body.appendChild(row); });
    }
    function row(texts, cells, attrs, onClick) {  // ``texts``: how many cells are words (the rest numbers)
      var tr = el('tr', 'atlas-analysis-row');
      Object.keys(attrs).forEach(function (k) { tr.setAttribute('data-' + k, String(attrs[k])); });
      cells.forEach(function (c, i) { an.cell(tr, c, i >= texts); });
      if (onClick) { tr.addEventListener('click', onClick); }
      return tr;
    }

    function show(answer, fc) {
      results.textContent = '';
      var L0 = answer.left.layer, R0 = answer.right.layer;
      var shapes = {};
      fc.features.forEach(function (f, i) {
        var p = f.properties;
        shapes[p.kind === 'pair' ? 'pair\u0000' + p.left_id + '\u0000' + p.right_id : 'out\u0000' + f.id] = f;
        f.id = f.id || i;
      });
      var fly = function (key, id, layer) {
        return function () { if (shapes[key]) { an.fly(L.extend({}, shapes[key], {id: id}), layer); } };
      };
      section3(Atlas.t('ovPairs'), 'atlas-overlay-pairs', [Atlas.t('ovLeftName'), Atlas.t('ovRightName'), Atlas.t('ovMu'),
        Atlas.t('ovKm'), Atlas.t('ovShare')], 2, answer.pairs.map(function (p) {
        return row(2, [an.name(p.left), an.name(p.right), Atlas.number(p.area_mu, 2), Atlas.number(p.length_km, 3), an.pct(p.share)],
                   {left: p.left.id, right: p.right.id, 'area-mu': p.area_mu, 'length-km': p.length_km, share: p.share},
                   fly('pair\u0000' + p.left.id + '\u0000' + p.right.id, p.left.id, L0));
      }));
      section3(Atlas.t('ovCovered'), 'atlas-overlay-covered', [Atlas.t('ovRightName'), Atlas.t('ovArea'), Atlas.t('ovCoveredMu'),
        Atlas.t('ovCoveredShare'), Atlas.t('ovCount')], 1, answer.covered.map(function (c) {
        return row(1, [an.name(c.right), Atlas.number(c.area.area_mu, 2), Atlas.number(c.covered.area_mu, 2), an.pct(c.share),
                    Atlas.number(c.count)],
                   {right: c.right.id, 'area-mu': c.area.area_mu, 'covered-mu': c.covered.area_mu, share: c.share, count: c.count},
                   function () {
                     Atlas.fetchJson(Atlas.apiUrl('features/' + encodeURIComponent(c.right.id), {as_of: Atlas.asOf || null}))
                       .then(function (f) { an.fly(f, R0); }).catch(function (err) { say(err.message, true); });
                   });
      }));
      section3(Atlas.t('ovOutside'), 'atlas-overlay-outside', [Atlas.t('ovLeftName'), Atlas.t('ovArea'), Atlas.t('ovLength')], 1,
               answer.outside.map(function (o) {
                 return row(1, [an.name(o), Atlas.number(o.area_mu, 2), Atlas.number(o.length_km, 3)],
                            {id: o.id, 'area-mu': o.area_mu, 'length-km': o.length_km}, fly('out\u0000' + o.id, o.id, L0));
               }));
      var t = answer.totals;
      say(Atlas.t('ovTotals', {pairs: Atlas.number(t.pairs), inside: Atlas.number(t.left_inside_count),
                               mu: Atlas.number(t.left_inside.area_mu, 2), out: Atlas.number(t.outside_count)}));
      an.show('overlay', L.geoJSON(fc, {pane: 'atlas-highlight', interactive: false, renderer: Atlas.highlightRenderer,
        style: function (f) { return f.properties.kind === 'pair' ? PAIR_STYLE : OUTSIDE_STYLE; },
        pointToLayer: function (f, ll) {
          return L.circleMarker(ll, L.extend({radius: 8}, f.properties.kind === 'pair' ? PAIR_STYLE : OUTSIDE_STYLE));
        }}), true);
    }

    run.addEventListener('click', function () {
      open();
      if (!left.value || !right.value) { say(Atlas.t('ovNoArea'), true); setState('error'); return; }
      if (left.value === right.value) { say(Atlas.t('ovSame'), true); setState('error'); return; }
      var params = {left: left.value, right: right.value};
      if (Atlas.asOf) { params.as_of = Atlas.asOf; }
      setState('loading');
      say(Atlas.t('ovLoading'));
      links(null);
      Atlas.busy(+1);
      Promise.all([Atlas.fetchJson(Atlas.apiUrl('overlay', params)),
                   Atlas.fetchJson(Atlas.apiUrl('overlay', L.extend({format: 'geojson'}, params)))])
        .then(function (got) {
          show(got[0], got[1]);
          links(params);
          panel.setAttribute('data-overlay', Atlas.query(params));
          setState('ready');
        }).catch(function (err) {
          say(Atlas.t('ovFailed', {detail: err.message}), true);
          setState('error');
        }).then(function () { Atlas.busy(-1); });
    });
    (an.onClear = an.onClear || []).push(function () {
      results.textContent = '';
      links(null);
      panel.removeAttribute('data-overlay');
      say('');
      setState('idle');
    });
    links(null);
    say('');
    setState('idle');
    return {open: open};
  };
}());
