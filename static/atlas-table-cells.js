/* 精致威海规划图 — the attribute table's columns (atlas-table.js draws the table): each field of a
 * layer as a column — its title (cfg.fieldTitles), width, how its values read (vocabularies, numbers
 * in the locale, JSON as text) and its filter (a pick-list for a field with a vocabulary, a range of
 * numbers or dates, else "contains") — and the column chooser. Values become textContent only. */
(function () {
  'use strict';
  var Atlas = window.Atlas;
  var el = Atlas.el;

  Atlas.strings({
    tableOpen: ['数据表', 'Attribute table'],
    tableTitle: ['数据表', 'Attribute table'],
    tableLayer: ['图层', 'Layer'],
    tableInView: ['仅当前视图', 'Only in view'],
    tableColumns: ['列', 'Columns'],
    tableClear: ['清除筛选', 'Clear filters'],
    tableCount: ['共 {n} 行', '{n} rows'],
    tableSelected: ['已选 {n}', '{n} selected'],
    tableExportSel: ['导出所选', 'Export selection'],
    tableExportAll: ['导出本表', 'Export this table'],
    tableTotals: ['合计', 'Total'],
    tableMin: ['最小', 'min'],
    tableMax: ['最大', 'max'],
    tableFrom: ['起 2021', 'from 2021'],
    tableTo: ['止 2024-06', 'to 2024-06'],
    tableContains: ['包含…', 'contains…'],
    tableSortHint: ['单击排序，Shift+单击按多列排序', 'Click to sort; shift-click to sort by several columns'],
    tableSelectRow: ['选择此行', 'Select this row'],
    tableNoGeometry: ['此要素没有几何', 'This feature has no geometry'],
    tableError: ['数据表加载失败：{detail}', 'The table could not be loaded: {detail}'],
    tableResize: ['拖动调整高度', 'Drag to resize'],
    yes: ['是', 'yes'],
    no: ['否', 'no'],
    scopeTable: ['数据表所示（{what}）', 'the attribute table as shown ({what})'],
    exportNoTable: ['数据表未打开', 'The attribute table is not open']
  });

  // fields with long text or JSON: in the chooser, not shown at first
  var HIDDEN = ['description_zh', 'description_en', 'accuracy_note_zh', 'accuracy_note_en', 'source', 'figures',
                'position_source', 'position_note_zh', 'position_note_en'];
  var DIGITS = {area_m2: 0, area_ha: 2, area_mu: 1, length_km: 3};
  var WIDTH = {id: 150, name_zh: 190, name_en: 190, description_zh: 260, description_en: 260, source: 220};
  // the store's types (/api/layers fields) where the config names only the field
  var TYPES = {year: 'int', area_m2: 'float', area_ha: 'float', area_mu: 'float', length_km: 'float', figures: 'json', source: 'json'};

  // {value: labels} of a field's vocabulary, or null: the page's filters, accuracy, functional areas,
  // and the categories of the layer's own style field
  function vocabulary(cfg, name) {
    var vocab = Atlas.config.vocab, st = cfg.style || {};
    if (name === 'district') { return vocab.districts && filterOut(vocab.districts, '371000'); }
    if (name === 'status') { return vocab.status; }
    if (name === 'accuracy') { return vocab.accuracy; }
    if (name === 'functional_area') { return vocab.functional_areas; }
    if (st.by === name && st.categories && Object.keys(st.categories).length) {
      var out = {};
      Object.keys(st.categories).forEach(function (k) { out[k] = st.categories[k].label; });
      return out;
    }
    return null;
  }
  function filterOut(table, key) {
    var out = {};
    Object.keys(table).forEach(function (k) { if (k !== key) { out[k] = table[k]; } });
    return out;
  }

  /* The columns of the layer ``cfg``: [{name, title, type, width, vocab, hidden, numeric}]. ``types``:
   * field -> store type where known (cfg.types, from /api/layers). */
  Atlas.tableColumns = function (cfg) {
    var types = cfg.types || {};
    return (cfg.fields || []).map(function (name) {
      var type = name === 'date' ? 'date' : (types[name] || TYPES[name] || 'str');  // the catalog's dates are ISO text
      var vocab = vocabulary(cfg, name);
      var numeric = type === 'int' || type === 'float';
      return {name: name, title: Atlas.label((cfg.fieldTitles || {})[name]) || name, type: type, vocab: vocab,
              numeric: numeric, hidden: HIDDEN.indexOf(name) >= 0,
              width: WIDTH[name] || (numeric ? 104 : (type === 'date' ? 170 : (type === 'bool' ? 64 : 140)))};
    });
  };

  // A value as the table shows it (text).
  Atlas.tableText = function (col, value) {
    if (value === null || value === undefined || value === '') { return ''; }
    if (col.vocab && Object.prototype.hasOwnProperty.call(col.vocab, String(value))) {
      return Atlas.label(col.vocab[String(value)]) || String(value);
    }
    if (col.type === 'bool') { return Atlas.t(value ? 'yes' : 'no'); }
    if (col.name === 'year' && typeof value === 'number') { return String(value); }  // 2024, not 2,024
    if (col.numeric && typeof value === 'number') {
      return Atlas.number(value, DIGITS[col.name] !== undefined ? DIGITS[col.name] : (col.type === 'int' ? 0 : 2));
    }
    if (typeof value === 'object') {
      if (col.name === 'figures' && Array.isArray(value)) {
        return value.map(function (f) { return f && (f.text || f.value); }).filter(Boolean).join('；');
      }
      return JSON.stringify(value);
    }
    return String(value);
  };

  // -- the filter of a column: an editor in ``cell`` that calls ``set(param, value)`` -------------------
  /* The API parameters of a column's filter: a pick-list is ``<field>=v`` (district, category and
   * status are the atlas's own filters of those names), a range ``<field>_min``/``_max``, text
   * ``<field>_contains``. ``values``: param -> value now; ``set(param, value)`` on a change. */
  Atlas.tableFilter = function (cell, col, values, given) {
    var timer = null;
    // an editor of a head drawn again since (another layer, a sort) is gone: its late change is not the table's
    var set = function (param, value) { if (cell.isConnected) { given(param, value); } };
    function later(param, input) {
      input.addEventListener('input', function () {
        clearTimeout(timer);
        timer = setTimeout(function () { set(param, input.value.trim() || null); }, 350);
      });
      input.addEventListener('change', function () { clearTimeout(timer); set(param, input.value.trim() || null); });
    }
    if (col.vocab || col.type === 'bool') {
      var select = el('select', 'atlas-table-pick', null, cell);
      select.name = col.name;
      Atlas.titled(select, col.title);
      Atlas.option(select, '', Atlas.t('all'), !values[col.name]);
      var table = col.vocab || {'true': Atlas.t('yes'), 'false': Atlas.t('no')};
      Object.keys(table).forEach(function (k) { Atlas.option(select, k, Atlas.label(table[k]) || k, values[col.name] === k); });
      select.addEventListener('change', function () { set(col.name, select.value || null); });
      return;
    }
    if (col.numeric || col.type === 'date') {
      cell.classList.add('atlas-table-range');
      ['min', 'max'].forEach(function (end) {
        var input = el('input', null, null, cell), param = col.name + '_' + end;
        // dates as text: a year or a month is a range too (2021, 2021-11, 2021-11-18; the API says if not)
        input.type = col.numeric ? 'number' : 'search';
        if (col.numeric) { input.step = 'any'; }
        input.name = param;
        input.placeholder = Atlas.t(col.numeric ? (end === 'min' ? 'tableMin' : 'tableMax') : (end === 'min' ? 'tableFrom' : 'tableTo'));
        Atlas.titled(input, col.title + ' ' + input.placeholder);
        input.value = values[param] || '';
        later(param, input);
      });
      return;
    }
    var text = el('input', 'atlas-table-contains', null, cell);
    text.type = 'search';
    text.name = col.name + '_contains';
    text.placeholder = Atlas.t('tableContains');
    Atlas.titled(text, col.title + ' ' + text.placeholder);
    text.value = values[text.name] || '';
    later(text.name, text);
  };

  // -- the column chooser: a checkbox a column --------------------------------------------------------
  Atlas.tableChooser = function (box, columns, changed) {
    box.textContent = '';
    columns.forEach(function (col) {
      var label = el('label', 'atlas-table-choice', null, box);
      var input = el('input', null, null, label);
      input.type = 'checkbox';
      input.name = 'column';
      input.value = col.name;
      input.checked = !col.hidden;
      el('span', null, col.title, label);
      input.addEventListener('change', function () { col.hidden = !input.checked; changed(); });
    });
  };

  // The totals as the footer shows them under their columns: {field: text}.
  Atlas.tableTotals = function (columns, totals) {
    var out = {};
    columns.forEach(function (col) {
      var v = (totals || {})[col.name];
      if (v !== null && v !== undefined) { out[col.name] = Atlas.tableText(col, v); }
    });
    return out;
  };
}());
