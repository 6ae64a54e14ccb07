/* 精致威海规划图 — the statistics panel (查询统计): count, areas and length of one layer per one or two
 * of district, category, status and year, for the page's filters (optionally only the view) or the
 * selected features, as of the time shown; from GET /api/stats, so the page, the API and the command
 * line give the same numbers. A chart (atlas-chart.js) and the table beside it (atlas-stats-table.js:
 * a cross table for two groups, with subtotals and totals), the rule the answer used, and exports:
 * the table as CSV and XLSX (the API's files), the chart as SVG and PNG (drawn here). It follows
 * changes of the filters, the view (when only the view counts), the selection and as_of. Text only. */
(function () {
  'use strict';
  var Atlas = window.Atlas;
  var el = Atlas.el;

  Atlas.strings({
    statsOpen: ['查询统计', 'Statistics'],
    statsLayer: ['图层', 'Layer'],
    statsGroup: ['分组', 'Group by'],
    statsGroup2: ['交叉分组', 'and by'],
    statsNoGroup: ['（不交叉）', '(none)'],
    statsMeasure: ['指标', 'Measure'],
    statsBy: ['行政区归属', 'Districts by'],
    statsByGeometry: ['按几何叠加', 'geometry'],
    statsByField: ['按属性字段', 'district field'],
    statsChart: ['图表', 'Chart'],
    statsScope: ['范围', 'Scope'],
    chartBar: ['柱状图', 'bars'],
    chartStacked: ['堆叠柱状图', 'stacked bars'],
    chartDonut: ['环形图', 'donut'],
    g_district: ['行政区', 'district'],
    g_category: ['类别', 'category'],
    g_status: ['状态', 'status'],
    g_year: ['年份', 'year'],
    m_count: ['数量（个）', 'count'],
    m_area_mu: ['面积（亩）', 'area (mu)'],
    m_area_ha: ['面积（公顷）', 'area (ha)'],
    m_area_m2: ['面积（平方米）', 'area (m²)'],
    m_area_km2: ['面积（平方千米）', 'area (km²)'],
    m_length_km: ['长度（千米）', 'length (km)'],
    statsTotal: ['合计', 'Total'],
    statsLoading: ['正在统计…', 'Counting…'],
    statsFailed: ['统计失败：{detail}', 'The statistics failed: {detail}'],
    statsEmpty: ['当前范围内没有要素', 'No features in this scope'],
    statsNoSelected: ['此图层没有已选要素：按住 Shift 单击地图上的要素', 'No selected features of this layer: shift-click features on the map'],
    statsRule: ['统计规则', 'Rule'],
    statsCsv: ['表格 CSV', 'Table CSV'],
    statsXlsx: ['表格 XLSX', 'Table XLSX'],
    statsSvg: ['图 SVG', 'Chart SVG'],
    statsPng: ['图 PNG', 'Chart PNG'],
    statsFeatures: ['{n} 个要素', '{n} features']
  });

  var GROUPS = ['district', 'category', 'status', 'year'];

  function defaultMeasure(cfg) {
    var kind = Atlas.kind(cfg.geometry);
    return kind === 'polygon' ? 'area_mu' : kind === 'line' ? 'length_km' : 'count';
  }
  // The layers offered: the visible ones (all when none is shown); first, a visible one with area.
  function offered() {
    var shown = Atlas.visibleConfigs();
    return shown.length ? shown : Atlas.config.layers;
  }
  function firstChoice(configs) {
    var area = configs.filter(function (cfg) { return Atlas.kind(cfg.geometry) === 'polygon'; });
    var own = area.filter(function (cfg) { return cfg.id !== 'districts'; });  // the divisions themselves last
    return (own[0] || area[0] || configs[0] || {}).id;
  }
  function groupsOf(cfg) {  // district always: by the geometry a layer without the field is still grouped
    return GROUPS.filter(function (g) { return g === 'district' || cfg.fields.indexOf(g) >= 0; });
  }

  // -- the panel --------------------------------------------------------------------------------------
  function field(parent, label, name) {
    var box = el('label', 'atlas-stats-field', null, parent);
    el('span', 'atlas-stats-label', label, box);
    var select = el('select', null, null, box);
    select.name = name;
    return select;
  }
  function fill(select, items, current) {  // items: [[value, text]]
    select.textContent = '';
    items.forEach(function (it) { Atlas.option(select, it[0], it[1], it[0] === current); });
    if (!items.some(function (it) { return it[0] === current; }) && items.length) { select.value = items[0][0]; }
  }

  function buildPanel(map) {
    var panel = el('div', 'atlas-stats', null, map.getContainer());
    panel.hidden = true;
    panel.setAttribute('role', 'dialog');
    panel.setAttribute('aria-label', Atlas.t('statsOpen'));
    L.DomEvent.disableClickPropagation(panel);
    L.DomEvent.disableScrollPropagation(panel);
    var head = el('div', 'atlas-stats-head', null, panel);
    el('h2', null, Atlas.t('statsOpen'), head);
    var close = Atlas.button('atlas-stats-close', '×', head, Atlas.t('close'));

    var form = el('div', 'atlas-stats-form', null, panel);
    var layer = field(form, Atlas.t('statsLayer'), 'stats-layer');
    var group1 = field(form, Atlas.t('statsGroup'), 'stats-group');
    var group2 = field(form, Atlas.t('statsGroup2'), 'stats-group2');
    var measure = field(form, Atlas.t('statsMeasure'), 'stats-measure');
    var by = field(form, Atlas.t('statsBy'), 'stats-by');
    var chartType = field(form, Atlas.t('statsChart'), 'stats-chart');
    fill(chartType, [['bar', Atlas.t('chartBar')], ['stacked', Atlas.t('chartStacked')], ['donut', Atlas.t('chartDonut')]], 'stacked');

    var scopes = el('div', 'atlas-stats-scopes', null, panel);
    el('span', 'atlas-stats-label', Atlas.t('statsScope'), scopes);
    function check(type, name, value, text) {
      var label = el('label', 'atlas-stats-scope', null, scopes), input = el('input', null, null, label);
      input.type = type;
      input.name = name;
      input.value = value;
      return {input: input, text: el('span', null, text, label)};
    }
    var filtered = check('radio', 'stats-scope', 'filtered');
    var viewOnly = check('checkbox', 'stats-view-only', 'view', Atlas.t('scopeView'));
    var selected = check('radio', 'stats-scope', 'selected');
    filtered.input.checked = true;

    var rule = el('div', 'atlas-stats-rule', null, panel);
    var message = el('div', 'atlas-stats-message', null, panel);
    message.setAttribute('role', 'status');
    var body = el('div', 'atlas-stats-body', null, panel);
    var chartBox = el('div', 'atlas-stats-chart', null, body);
    var tableBox = el('div', 'atlas-stats-tablebox', null, body);
    var actions = el('div', 'atlas-stats-actions', null, panel);
    var csv = el('a', 'atlas-stats-csv', Atlas.t('statsCsv'), actions);
    var xlsx = el('a', 'atlas-stats-xlsx', Atlas.t('statsXlsx'), actions);
    var svgButton = Atlas.button('atlas-stats-svg', Atlas.t('statsSvg'), actions);
    var pngButton = Atlas.button('atlas-stats-png', Atlas.t('statsPng'), actions);

    var shown = null, seq = 0, ctrl = null, timer = null, chartChosen = false, layerIds = '', lastLayer = null;

    function cfg() { return Atlas.layerConfig(layer.value); }
    function setState(value) { panel.setAttribute('data-stats-state', value); }
    function say(text, kind) {
      message.hidden = !text;
      message.textContent = text || '';
      message.className = 'atlas-stats-message' + (kind ? ' atlas-stats-' + kind : '');
    }

    // the layers offered, and the choices that follow the layer: its groups, its default measure
    function layerChoices() {
      var configs = offered(), ids = configs.map(function (c) { return c.id; }).join(',');
      if (ids !== layerIds) {
        layerIds = ids;
        fill(layer, configs.map(function (c) { return [c.id, Atlas.label(c.title)]; }),
             ids.split(',').indexOf(layer.value) >= 0 ? layer.value : firstChoice(configs));
      }
      var c = cfg();
      if (!c) { return; }
      var groups = groupsOf(c).map(function (g) { return [g, Atlas.t('g_' + g)]; });
      if (c.id !== lastLayer) {
        lastLayer = c.id;
        fill(group1, groups, group1.value || 'district');
        fill(group2, [['', Atlas.t('statsNoGroup')]].concat(groups), group2.options.length ? group2.value : 'status');
        fill(measure, Atlas.statsMeasures.map(function (m) { return [m, Atlas.t('m_' + m)]; }), defaultMeasure(c));
      }
      Array.prototype.forEach.call(group2.options, function (o) { o.disabled = o.value && o.value === group1.value; });
      if (group2.value === group1.value) { group2.value = ''; }
      var hasField = c.fields.indexOf('district') >= 0;
      fill(by, [['geometry', Atlas.t('statsByGeometry')]].concat(hasField ? [['field', Atlas.t('statsByField')]] : []),
           by.value || 'geometry');
      by.disabled = [group1.value, group2.value].indexOf('district') < 0;
      if (!chartChosen) { chartType.value = group2.value ? 'stacked' : 'bar'; }
    }

    function scopeWords() {
      var words = Atlas.filterWords(), ids = selectedIds();
      filtered.text.textContent = Atlas.t('scopeFiltered') + (words.length ? '：' + words.join(' · ') : '（' + Atlas.t('all') + '）');
      selected.text.textContent = Atlas.t('scopeSelected') + '（' + Atlas.t('selectedCount', {n: ids.length}) + '）';
      viewOnly.input.disabled = selected.input.checked;
    }
    function selectedIds() {
      return Atlas.selectedIds().filter(function (id) { return Atlas.selection.items[id].layer === layer.value; });
    }

    /* The request of the panel's choices: {params} for /api/stats, or {error}. */
    function request() {
      var groups = [group1.value, group2.value].filter(Boolean);
      var params = {layer: layer.value, group: groups.join(',')};
      if (groups.indexOf('district') >= 0) { params.by = by.value; }
      if (selected.input.checked) {
        var ids = selectedIds();
        if (!ids.length) { return {error: Atlas.t('statsNoSelected')}; }
        params.ids = ids.join(',');
      } else {
        Atlas.FILTERS.forEach(function (k) { if (Atlas.filters[k]) { params[k] = Atlas.filters[k]; } });
        if (viewOnly.input.checked) { params.bbox = Atlas.viewBbox(0, 1e6).join(','); }
      }
      if (Atlas.asOf) { params.as_of = Atlas.asOf; }
      return {params: params};
    }

    function links(params) {
      [[csv, 'csv'], [xlsx, 'xlsx']].forEach(function (pair) {
        if (!params) { pair[0].removeAttribute('href'); pair[0].setAttribute('aria-disabled', 'true'); return; }
        pair[0].href = Atlas.apiUrl('stats', L.extend({}, params, {format: pair[1], lang: Atlas.lang}));
        pair[0].removeAttribute('aria-disabled');
      });
      svgButton.disabled = pngButton.disabled = !params;
    }

    function draw() {
      if (!shown) { return; }
      var c = Atlas.layerConfig(shown.body.layer) || cfg(), m = measure.value;
      chartBox.textContent = '';
      tableBox.textContent = '';
      var width = Math.max(300, Math.min(400, chartBox.clientWidth || 400));
      var type = chartType.value;
      chartBox.appendChild(Atlas.chart.draw(type, Atlas.statsChartData(shown.body, m, c), {width: width, height: 280}));
      chartBox.setAttribute('data-chart', type);
      tableBox.appendChild(Atlas.statsTable(shown.body, m));
      rule.textContent = '';
      el('strong', null, Atlas.t('statsRule') + '：', rule);
      el('span', null, Atlas.label(shown.body.rule), rule);
      rule.setAttribute('data-rule', shown.body.rule.id);
      say(shown.body.totals.count ? Atlas.t('statsFeatures', {n: Atlas.number(shown.body.totals.count)}) : Atlas.t('statsEmpty'));
    }

    function refresh() {
      clearTimeout(timer);
      if (ctrl) { ctrl.abort(); ctrl = null; }
      var req = request(), mine = ++seq;
      if (req.error) {
        shown = null;
        chartBox.textContent = tableBox.textContent = rule.textContent = '';
        links(null);
        say(req.error, 'error');
        setState('error');
        return;
      }
      var query = Atlas.query(req.params);
      ctrl = new AbortController();
      setState('loading');
      say(Atlas.t('statsLoading'));
      Atlas.fetchJson(Atlas.apiUrl('stats', req.params), {signal: ctrl.signal}).then(function (answer) {
        if (mine !== seq) { return; }
        ctrl = null;
        shown = {body: answer, query: query};
        panel.setAttribute('data-stats-query', query);
        links(req.params);
        draw();
        setState('ready');
      }).catch(function (err) {
        if (err.name === 'AbortError' || mine !== seq) { return; }
        ctrl = null;
        shown = null;
        chartBox.textContent = tableBox.textContent = rule.textContent = '';
        links(null);
        say(Atlas.t('statsFailed', {detail: err.message}), 'error');
        setState('error');
      });
    }
    function later() {
      clearTimeout(timer);
      timer = setTimeout(refresh, 150);
    }

    function fileName(ext) {
      var b = shown.body, stem = [b.layer].concat(b.group).join('_') + '_' + measure.value + '_' + chartType.value;
      return ('weihai-atlas_stats_' + stem).replace(/[\\/:*?"<>|\u0000-\u001f]/g, '_') + '.' + ext;
    }
    svgButton.addEventListener('click', function () {
      var svg = chartBox.querySelector('svg');
      if (!svg) { return; }
      Atlas.saveBlob(new Blob([Atlas.chart.svgText(svg)], {type: 'image/svg+xml'}), fileName('svg'));
    });
    pngButton.addEventListener('click', function () {
      var svg = chartBox.querySelector('svg');
      if (!svg) { return; }
      Atlas.chart.png(svg, 2).then(function (blob) { Atlas.saveBlob(blob, fileName('png')); })
        .catch(function (err) { say(Atlas.t('statsFailed', {detail: err.message}), 'error'); });
    });

    [layer, group1, group2, by].forEach(function (s) { s.addEventListener('change', function () { layerChoices(); refresh(); }); });
    measure.addEventListener('change', draw);
    chartType.addEventListener('change', function () { chartChosen = true; draw(); });
    [filtered.input, selected.input, viewOnly.input].forEach(function (input) {
      input.addEventListener('change', function () { scopeWords(); refresh(); });
    });

    Atlas.on(function (what) {
      if (panel.hidden) { return; }
      if (what === 'filters' || what === 'asof') { scopeWords(); later(); }
      if (what === 'selection') { scopeWords(); if (selected.input.checked) { later(); } }
      if (what === 'layers' && offered().map(function (c) { return c.id; }).join(',') !== layerIds) {
        layerChoices();
        if (layerIds.split(',').indexOf(shown ? shown.body.layer : '') < 0) { later(); }
      }
    });
    map.on('moveend', function () {
      if (!panel.hidden && viewOnly.input.checked && !selected.input.checked) { later(); }
    });

    function open() {
      layerChoices();
      scopeWords();
      panel.hidden = false;
      L.DomUtil.addClass(Atlas._statsButton, 'atlas-on');
      refresh();
    }
    function hide() {
      panel.hidden = true;
      clearTimeout(timer);
      L.DomUtil.removeClass(Atlas._statsButton, 'atlas-on');
    }
    close.addEventListener('click', hide);
    links(null);
    Atlas.statsPanel = {open: open, close: hide, refresh: refresh, element: panel,
                        isOpen: function () { return !panel.hidden; }};
    return panel;
  }

  Atlas.tools.push({rank: 25, build: function (bar, map, button) {
    Atlas._statsButton = button(bar, 'atlas-tool-stats', Atlas.t('statsOpen'), function () {
      if (!Atlas.statsPanel) { buildPanel(map); }
      if (Atlas.statsPanel.isOpen()) { Atlas.statsPanel.close(); } else { Atlas.statsPanel.open(); }
    });
    return null;
  }});
}());
