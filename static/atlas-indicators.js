/* 精致威海规划图 — the indicator panel (指标模型): the registry of GET /api/indicators (titles, the
 * formula in words, unit, the standards and clauses with whether each was verified, the warning
 * bands), the chosen indicator's parameters as inputs (numbers within their bounds, layer pickers
 * for its input layers), as-of and a compare time (对比分析), and GET /api/indicators/<id>'s answer:
 * the table per district and for the city with the warning levels in words, the values then and the
 * change, the base in words and the notes; the CSV of the same parameters; and its thematic map
 * (atlas-indicators-map.js) while "show on the map" is ticked. Text only. */
(function () {
  'use strict';
  var Atlas = window.Atlas;
  var el = Atlas.el;

  Atlas.strings({
    indOpen: ['指标模型 · 专题图', 'Indicators · thematic map'],
    indPick: ['指标', 'Indicator'],
    indFormula: ['计算方法', 'Formula'],
    indUnit: ['单位', 'Unit'],
    indVersion: ['版本', 'Version'],
    indStandards: ['依据的标准与条文', 'Standards and clauses'],
    indAbout: ['计算方法、依据（{n} 项）与预警分级', 'Formula, standards ({n}) and warning bands'],
    indNoStandard: ['不依据标准条文', 'No standard'],
    indVerified: ['已核实 / verified', '已核实 / verified'],
    indNotVerified: ['未核实 / not verified', '未核实 / not verified'],
    indBands: ['预警分级', 'Warning bands'],
    indNoBands: ['未设预警门槛', 'No warning threshold declared'],
    indBelow: ['以下', 'below'],
    indParams: ['参数', 'Parameters'],
    indNone: ['（无）', '(none)'],
    indMissing: ['{layer}（本图无此图层）', '{layer} (not in this atlas)'],
    indAsOf: ['计算时间（空：现在）', 'As of (empty: now)'],
    indCompare: ['对比时间（对比分析）', 'Compare with (对比分析)'],
    indShowMap: ['在地图上显示专题图', 'Show the thematic map'],
    indDistrict: ['行政区', 'District'],
    indValue: ['指标值', 'Value'],
    indLevel: ['预警', 'Level'],
    indThen: ['对比时值', 'Then'],
    indChange: ['变化', 'Change'],
    lvl_ok: ['良好', 'ok'],
    lvl_notice: ['提示', 'notice'],
    lvl_warning: ['预警', 'warning'],
    lvl_none: ['无等级', 'no level'],
    indBase: ['基数', 'Base'],
    indNotes: ['说明', 'Notes'],
    indCsv: ['表格 CSV', 'Table CSV'],
    indLoading: ['正在计算…', 'Computing…'],
    indFailed: ['计算失败：{detail}', 'The computation failed: {detail}'],
    indNoLayer: ['请选择“{param}”：图层 {layer} 不在本图中', 'Choose “{param}”: layer {layer} is not in this atlas'],
    indBadParam: ['“{param}”的值无效：{hint}', 'The value of “{param}” is not valid: {hint}'],
    indBounds: ['{min} 至 {max}', '{min} to {max}'],
    indAt: ['计算于 {time}', 'As of {time}'],
    indNow: ['现在', 'now'],
    indFold: ['收起面板', 'Fold the panel'],
    indUnfold: ['展开面板', 'Unfold the panel']
  });

  var registry = null;  // GET /api/indicators

  function badge(parent, verified, note) {
    var b = el('span', 'atlas-ind-verified ' + (verified ? 'atlas-ind-yes' : 'atlas-ind-no'),
               Atlas.t(verified ? 'indVerified' : 'indNotVerified'), parent);
    b.setAttribute('data-verified', String(!!verified));
    if (note) { b.title = Atlas.label(note); }
    return b;
  }
  function levelBadge(parent, level, label) {
    var box = el('span', 'atlas-ind-level', null, parent);
    var b = el('span', 'atlas-ind-badge atlas-ind-' + (level || 'none'), Atlas.t('lvl_' + (level || 'none')), box);
    b.setAttribute('data-level', level || '');
    el('span', 'atlas-ind-level-label', Atlas.label(label), box);
    return box;
  }
  function layerOptions(select, p) {
    select.textContent = '';
    if (p.optional) { Atlas.option(select, '', Atlas.t('indNone'), p.default === ''); }
    var ids = Atlas.config.layers.map(function (c) { return c.id; });
    if (p.default && ids.indexOf(p.default) < 0) {
      Atlas.option(select, p.default, Atlas.t('indMissing', {layer: p.default}), true).setAttribute('data-missing', '');
    }
    Atlas.config.layers.forEach(function (c) { Atlas.option(select, c.id, Atlas.label(c.title) + ' · ' + c.id, c.id === p.default); });
  }

  // -- what the indicator is ------------------------------------------------------------------------
  function describe(box, ind) {
    box.textContent = '';
    var head = el('div', 'atlas-ind-what', null, box);
    el('strong', 'atlas-ind-title', Atlas.label(ind.title), head);
    el('span', 'atlas-ind-meta', Atlas.t('indUnit') + '：' + (ind.unit || '—') + ' · ' + Atlas.t('indVersion') + ' ' + ind.version, head);
    var about = el('details', 'atlas-ind-about', null, box);
    var sum = el('summary', null, Atlas.t('indAbout', {n: ind.standards.length}), about);
    if (ind.standards.some(function (s) { return !s.verified; })) { badge(sum, false); }
    var formula = el('p', 'atlas-ind-formula', null, about);
    el('strong', null, Atlas.t('indFormula') + '：', formula);
    el('span', null, Atlas.label(ind.formula), formula);
    var std = el('div', 'atlas-ind-standards', null, about);
    el('strong', null, Atlas.t('indStandards') + '：', std);
    if (!ind.standards.length) { el('span', null, Atlas.t('indNoStandard'), std); }
    ind.standards.forEach(function (s) {
      var item = el('div', 'atlas-ind-standard', null, std);
      item.setAttribute('data-code', s.code);
      var line = el('div', null, null, item);
      el('strong', null, s.code + ' ' + Atlas.label(s.title), line);
      badge(line, s.verified, s.note);
      el('div', 'atlas-ind-clause', Atlas.label(s.clause), item);
      el('div', 'atlas-ind-note', Atlas.label(s.note), item);
    });
    var bands = el('div', 'atlas-ind-bands', null, about);
    el('strong', null, Atlas.t('indBands') + '：', bands);
    if (!ind.thresholds) { el('span', null, Atlas.t('indNoBands'), bands); return; }
    ind.thresholds.bands.forEach(function (b) { levelBadge(bands, b.level, b.label); });
    levelBadge(bands, ind.thresholds.below.level, ind.thresholds.below.label);
    badge(bands, ind.thresholds.verified, ind.thresholds.note);
    el('div', 'atlas-ind-note', Atlas.label(ind.thresholds.note), bands);
  }

  // -- its parameters ----------------------------------------------------------------------------------
  function paramForm(box, ind) {
    box.textContent = '';
    return ind.params.map(function (p) {
      var label = el('label', 'atlas-ind-field', null, box), input;
      var text = el('span', 'atlas-ind-label', Atlas.label(p.title) + (p.unit ? '（' + p.unit + '）' : ''), label);
      if (p.verified === false) { badge(text, false); }
      if (p.kind === 'layer' || p.kind === 'choice') {
        input = el('select', null, null, label);
        if (p.kind === 'layer') { layerOptions(input, p); } else {
          p.choices.forEach(function (c) { Atlas.option(input, c, c, c === p.default); });
        }
      } else {
        input = el('input', null, null, label);
        input.type = p.kind === 'number' ? 'number' : 'text';
        if (p.kind === 'number') {
          input.step = 'any';
          if (p.minimum !== undefined) { input.min = String(p.minimum); }
          if (p.maximum !== undefined) { input.max = String(p.maximum); }
        }
        input.value = p.default === null || p.default === undefined ? '' : String(p.default);
      }
      input.name = 'ind-' + p.name;
      input.setAttribute('data-param', p.name);
      return {param: p, input: input};
    });
  }

  // -- the answer -----------------------------------------------------------------------------------------
  function num(v) { return typeof v === 'number' && isFinite(v) ? Atlas.number(v, 2) : '—'; }

  function table(answer) {
    var compare = !!answer.compare, unit = answer.indicator.unit;
    var t = el('table', 'atlas-ind-table'), tr = el('tr', null, null, el('thead', null, null, t));
    var heads = [Atlas.t('indDistrict'), Atlas.t('indValue') + (unit ? '（' + unit + '）' : ''), Atlas.t('indLevel')];
    if (compare) { heads.push(Atlas.t('indThen'), Atlas.t('indChange')); }
    answer.measures.forEach(function (m) { heads.push(Atlas.label(m.title)); });
    heads.forEach(function (h) { el('th', null, h, tr); });
    var body = el('tbody', null, null, t), foot = el('tfoot', null, null, t);
    answer.districts.concat([answer.city]).forEach(function (r, i) {
      var city = i === answer.districts.length, row = el('tr', city ? 'atlas-ind-city' : null, null, city ? foot : body);
      row.setAttribute('data-district', r.district);
      el(city ? 'th' : 'td', 'atlas-ind-name', Atlas.label(r.label), row);
      var v = el('td', 'atlas-ind-num atlas-ind-value', num(r.value), row);
      v.setAttribute('data-value', r.value === null ? '' : String(r.value));
      levelBadge(el('td', null, null, row), r.level, r.level_label);
      if (compare) {
        var then = r.compare ? r.compare.value : null;
        el('td', 'atlas-ind-num atlas-ind-then', num(then), row).setAttribute('data-value', then === null ? '' : String(then));
        var c = el('td', 'atlas-ind-num atlas-ind-change', typeof r.change === 'number' ? Atlas.indicatorSigned(r.change) : '—', row);
        c.setAttribute('data-value', r.change === null ? '' : String(r.change));
        if (r.change) { c.classList.add(r.change > 0 ? 'atlas-ind-up' : 'atlas-ind-down'); }
      }
      answer.measures.forEach(function (m) {
        var mv = r.measures[m.name];
        var text = typeof mv !== 'number' ? '—' : Number.isInteger(mv) ? Atlas.number(mv) : Atlas.number(mv, 2);
        el('td', 'atlas-ind-num', text, row).setAttribute('data-measure', m.name);
      });
    });
    return t;
  }

  function buildPanel(map) {
    var panel = el('div', 'atlas-ind', null, map.getContainer());
    panel.hidden = true;
    panel.setAttribute('role', 'dialog');
    panel.setAttribute('aria-label', Atlas.t('indOpen'));
    L.DomEvent.disableClickPropagation(panel);
    L.DomEvent.disableScrollPropagation(panel);
    var head = el('div', 'atlas-ind-head', null, panel);
    el('h2', null, Atlas.t('indOpen'), head);
    var fold = Atlas.button('atlas-ind-fold', '−', head, Atlas.t('indFold'));
    var close = Atlas.button('atlas-ind-close', '×', head, Atlas.t('close'));
    fold.setAttribute('aria-expanded', 'true');
    fold.addEventListener('click', function () {  // folded: only the head, the map is free to click
      var folded = panel.classList.toggle('atlas-ind-folded');
      fold.textContent = folded ? '+' : '−';
      Atlas.titled(fold, Atlas.t(folded ? 'indUnfold' : 'indFold'));
      fold.setAttribute('aria-expanded', String(!folded));
    });
    var pickBox = el('label', 'atlas-ind-field atlas-ind-pickbox', null, panel);
    el('span', 'atlas-ind-label', Atlas.t('indPick'), pickBox);
    var pick = el('select', null, null, pickBox);
    pick.name = 'ind-indicator';
    var info = el('div', 'atlas-ind-info', null, panel);
    var paramsBox = el('fieldset', 'atlas-ind-params', null, panel);
    var times = el('div', 'atlas-ind-times', null, panel);
    function timeField(label, name) {
      var box = el('label', 'atlas-ind-field', null, times);
      el('span', 'atlas-ind-label', label, box);
      var input = el('input', null, null, box);
      input.type = 'datetime-local';
      input.step = '1';
      input.name = name;
      return input;
    }
    var asOf = timeField(Atlas.t('indAsOf'), 'ind-as-of'), compare = timeField(Atlas.t('indCompare'), 'ind-compare');
    var mapBox = el('label', 'atlas-ind-showmap', null, times), showMap = el('input', null, null, mapBox);
    showMap.type = 'checkbox';
    showMap.name = 'ind-show-map';
    showMap.checked = true;
    el('span', null, Atlas.t('indShowMap'), mapBox);
    var message = el('div', 'atlas-ind-message', null, panel);
    message.setAttribute('role', 'status');
    var tableBox = el('div', 'atlas-ind-tablebox', null, panel);
    var after = el('div', 'atlas-ind-after', null, panel);
    var actions = el('div', 'atlas-ind-actions', null, panel);
    var csv = el('a', 'atlas-ind-csv', Atlas.t('indCsv'), actions);

    var inputs = [], shown = null, seq = 0, ctrl = null, timer = null;
    function current() { return registry.indicators.filter(function (i) { return i.id === pick.value; })[0]; }
    function setState(s) { panel.setAttribute('data-ind-state', s); }
    function say(text, kind) {
      message.hidden = !text;
      message.textContent = text || '';
      message.className = 'atlas-ind-message' + (kind ? ' atlas-ind-' + kind : '');
    }
    function links(params) {
      if (!params) { csv.removeAttribute('href'); csv.setAttribute('aria-disabled', 'true'); return; }
      csv.href = Atlas.apiUrl('indicators/' + encodeURIComponent(pick.value), L.extend({}, params, {format: 'csv', lang: Atlas.lang}));
      csv.removeAttribute('aria-disabled');
    }

    /* The request of the form: {params} or {error}. */
    function request() {
      var params = {};
      for (var i = 0; i < inputs.length; i++) {
        var p = inputs[i].param, input = inputs[i].input;
        if (p.kind === 'layer' && input.selectedOptions[0] && input.selectedOptions[0].hasAttribute('data-missing')) {
          return {error: Atlas.t('indNoLayer', {param: Atlas.label(p.title), layer: input.value})};
        }
        if (!input.checkValidity()) {
          var hint = p.minimum !== undefined || p.maximum !== undefined ?
            Atlas.t('indBounds', {min: p.minimum !== undefined ? p.minimum : '−∞', max: p.maximum !== undefined ? p.maximum : '∞'}) : input.validationMessage;
          return {error: Atlas.t('indBadParam', {param: Atlas.label(p.title), hint: hint}), param: p.name};
        }
        params[p.name] = input.value;
      }
      var when = Atlas.inputTime(asOf.value) || Atlas.asOf, then = Atlas.inputTime(compare.value);
      if (when) { params.as_of = when; }
      if (then) { params.compare = then; }
      return {params: params};
    }

    function drawAfter(answer) {
      after.textContent = '';
      var base = el('p', 'atlas-ind-base', null, after);
      el('strong', null, Atlas.t('indBase') + '：', base);
      el('span', null, Atlas.label(answer.base), base);
      el('p', 'atlas-ind-at', Atlas.t('indAt', {time: answer.as_of ? Atlas.timeText(answer.as_of) : Atlas.t('indNow')}) +
         (answer.compare ? ' · ' + Atlas.t('indCompare') + '：' + Atlas.timeText(answer.compare) : ''), after);
      if (answer.change_rule) { el('p', 'atlas-ind-rule', Atlas.label(answer.change_rule), after); }
      if (!answer.notes.length) { return; }
      el('strong', null, Atlas.t('indNotes'), after);
      var list = el('ul', 'atlas-ind-notes', null, after);
      answer.notes.forEach(function (n) { el('li', null, Atlas.label(n), list); });
    }

    function thematic() {
      if (!shown || !showMap.checked || panel.hidden) { Atlas.thematic.clear(); return Promise.resolve(); }
      return Atlas.thematic.show(shown);
    }

    function failed(text) {
      shown = null;
      tableBox.textContent = after.textContent = '';
      links(null);
      Atlas.thematic.clear();
      say(text, 'error');
      setState('error');
    }

    function refresh() {
      clearTimeout(timer);
      if (ctrl) { ctrl.abort(); ctrl = null; }
      var req = request(), mine = ++seq;
      if (req.error) { failed(req.error); return; }
      var query = Atlas.query(req.params);
      ctrl = new AbortController();
      setState('loading');
      say(Atlas.t('indLoading'));
      Atlas.busy(1);
      Atlas.fetchJson(Atlas.apiUrl('indicators/' + encodeURIComponent(pick.value), req.params), {signal: ctrl.signal})
        .then(function (answer) {
          if (mine !== seq) { return; }
          ctrl = null;
          shown = answer;
          panel.setAttribute('data-ind-query', query);
          panel.setAttribute('data-ind-id', answer.indicator.id);
          links(req.params);
          tableBox.textContent = '';
          tableBox.appendChild(table(answer));
          drawAfter(answer);
          say('');
          return thematic().then(function () { if (mine === seq) { setState('ready'); } });
        }).catch(function (err) {
          if (err.name !== 'AbortError' && mine === seq) { ctrl = null; failed(Atlas.t('indFailed', {detail: err.message})); }
        }).then(function () { Atlas.busy(-1); });
    }
    function later() { clearTimeout(timer); timer = setTimeout(refresh, 150); }

    function choose() {
      var ind = current();
      describe(info, ind);
      inputs = paramForm(paramsBox, ind);
      inputs.forEach(function (it) { it.input.addEventListener('change', later); });
      refresh();
    }
    pick.addEventListener('change', choose);
    [asOf, compare].forEach(function (input) { input.addEventListener('change', later); });
    showMap.addEventListener('change', function () { thematic(); });
    Atlas.on(function (what) { if (what === 'asof' && !panel.hidden && !asOf.value) { later(); } });

    function open() {
      panel.hidden = false;
      L.DomUtil.addClass(Atlas._indButton, 'atlas-on');
      if (registry) { if (shown) { thematic(); } else { refresh(); } return; }
      setState('loading');
      say(Atlas.t('indLoading'));
      Atlas.fetchJson(Atlas.apiUrl('indicators')).then(function (body) {
        registry = body;
        body.indicators.forEach(function (i) { Atlas.option(pick, i.id, Atlas.label(i.title), false); });
        choose();
      }).catch(function (err) { failed(Atlas.t('indFailed', {detail: err.message})); });
    }
    function hide() {
      panel.hidden = true;
      clearTimeout(timer);
      Atlas.thematic.clear();
      L.DomUtil.removeClass(Atlas._indButton, 'atlas-on');
    }
    close.addEventListener('click', hide);
    links(null);
    Atlas.indicatorPanel = {open: open, close: hide, refresh: refresh, element: panel,
                            isOpen: function () { return !panel.hidden; }};
  }

  Atlas.tools.push({rank: 26, build: function (bar, map, button) {
    Atlas._indButton = button(bar, 'atlas-tool-indicators', Atlas.t('indOpen'), function () {
      if (!Atlas.indicatorPanel) { buildPanel(map); }
      if (Atlas.indicatorPanel.isOpen()) { Atlas.indicatorPanel.close(); } else { Atlas.indicatorPanel.open(); }
    });
    return null;
  }});
}());
