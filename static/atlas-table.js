/* 精致威海规划图 — the attribute table (数据表): a panel docked under the map for any layer. Columns
 * from the layer's fields (atlas-table-cells.js), sorted, filtered and paged by the server
 * (GET /api/layers/<id>/rows, by keyset as one scrolls on, by offset after a jump); only the rows in
 * sight are in the page. A row's click flies to its feature and highlights it (Atlas.showFeature);
 * its checkbox, or shift-click, adds it to the map's selection (atlas-selection.js), whose features
 * are marked in the table; a popup opened on the map marks its row. "Export selection" and "Export
 * this table" open the export panel with that scope. Every value goes in as textContent. */
(function () {
  'use strict';
  var Atlas = window.Atlas;
  var el = Atlas.el;
  var ROW = 28, PAGE = 100, OVER = 6, PARALLEL = 3;  // row height (px), rows a request, rows drawn beyond sight
  var FILTERS = ['district', 'category', 'status'];  // the page's filters, followed by the table

  var state = {layer: null, cfg: null, columns: [], sort: [], filters: {}, inView: false, current: null};
  var data = null, ui = null, shown = {}, frame = null, viewTimer = null, headGen = 0;
  var T = Atlas.table = {state: state, isOpen: function () { return !!ui && !ui.panel.hidden; }};

  function visible() { return state.columns.filter(function (c) { return !c.hidden; }); }
  function template() { return ['30px'].concat(visible().map(function (c) { return c.width + 'px'; })).join(' '); }
  function selected(id) { return !!Atlas.selection.items[String(id)]; }

  // -- what is asked ----------------------------------------------------------------------------------
  function params() {
    var p = {};
    Object.keys(state.filters).forEach(function (k) { if (state.filters[k]) { p[k] = state.filters[k]; } });
    if (state.sort.length) { p.sort = state.sort.map(function (s) { return (s[1] ? '-' : '') + s[0]; }).join(','); }
    if (state.inView) { p.bbox = Atlas.viewBbox(0, 1e6).join(','); }
    p.fields = visible().map(function (c) { return c.name; }).join(',') || null;
    return p;
  }

  // The table as shown, for the export panel: {params, words}, or null when it is closed.
  Atlas.tableExport = function () {
    if (!T.isOpen() || !state.layer) { return null; }
    var words = [Atlas.label(state.cfg.title), Atlas.t('tableCount', {n: Atlas.number(data.total)})];
    return {params: L.extend({layers: state.layer}, params()), words: words.join(' · ')};
  };

  // -- pages: keyset (after) from the page before when it is there, else by offset -----------------------
  function reset() {
    data = {gen: (data ? data.gen : 0) + 1, total: data ? data.total : 0, rows: [], pages: {}, tokens: {},
            totals: null, busy: 0};
    ui.body.textContent = '';
    shown = {};
  }

  // Read again from the server: from the top after a change of what is asked (``top``), else where
  // the table is (an edit, another time).
  function reload(top) {
    if (!T.isOpen()) { return; }
    if (top === true) { ui.scroll.scrollTop = 0; }
    reset();
    render();
    Atlas.changed('table');
  }

  function fetchPage(k) {
    var p = L.extend(params(), {limit: PAGE, as_of: Atlas.asOf || null}), gen = data.gen;
    if (data.tokens[k]) { p.after = data.tokens[k]; } else if (k) { p.offset = k * PAGE; }
    data.pages[k] = 'loading';
    data.busy += 1;
    ui.panel.setAttribute('data-table-state', 'loading');
    Atlas.fetchJson(Atlas.apiUrl('layers/' + encodeURIComponent(state.layer) + '/rows', p)).then(function (body) {
      if (gen !== data.gen) { return; }
      data.busy -= 1;
      data.pages[k] = 'done';
      body.rows.forEach(function (row, j) { data.rows[k * PAGE + j] = row; });
      if (body.next) { data.tokens[k + 1] = body.next; }
      data.total = body.numberMatched;
      data.totals = body.totals;
      say(null);
      render();
    }).catch(function (err) {
      if (gen !== data.gen) { return; }
      data.busy -= 1;
      delete data.pages[k];
      say(Atlas.t('tableError', {detail: err.message}));
      ui.panel.setAttribute('data-table-state', 'error');
    });
  }

  // The pages the rows in sight need, fetched a few at a time; one right after a page still loading
  // waits for its cursor (scrolling on reads by keyset).
  function need(first, last) {
    var want = data.total ? [] : [0];
    for (var k = Math.floor(first / PAGE); k <= Math.floor(Math.max(first, last - 1) / PAGE) + 1; k++) {
      if (k * PAGE < data.total) { want.push(k); }
    }
    want.forEach(function (k) {
      if (data.pages[k] || data.busy >= PARALLEL || (data.pages[k - 1] === 'loading' && !data.tokens[k])) { return; }
      fetchPage(k);
    });
  }

  // -- drawing ----------------------------------------------------------------------------------------
  function render() {
    frame = null;
    if (!T.isOpen()) { return; }
    var sc = ui.scroll, top = Math.max(0, sc.scrollTop - ui.head.offsetHeight);
    ui.body.style.height = (data.total * ROW) + 'px';
    var first = Math.floor(top / ROW), last = Math.min(data.total, first + Math.ceil(sc.clientHeight / ROW) + 1);
    var lo = Math.max(0, first - OVER), hi = Math.min(data.total, last + OVER);
    Object.keys(shown).forEach(function (i) {
      if (i < lo || i >= hi) { ui.body.removeChild(shown[i].node); delete shown[i]; }
    });
    for (var i = lo; i < hi; i++) {
      if (!shown[i] || shown[i].row !== data.rows[i]) { drawRow(i, data.rows[i]); }
    }
    need(first, last);
    if (!data.busy) { ui.panel.setAttribute('data-table-state', 'idle'); }
    counts();
    foot();
  }

  function schedule() { if (!frame) { frame = requestAnimationFrame(render); } }

  function drawRow(i, row) {
    var node = shown[i] ? shown[i].node : el('div', 'atlas-table-row', null, ui.body);
    node.textContent = '';
    node.style.top = (i * ROW) + 'px';
    node.style.gridTemplateColumns = template();
    node.setAttribute('data-index', String(i));
    shown[i] = {node: node, row: row};
    node.classList.toggle('atlas-table-pending', !row);
    var check = el('div', 'atlas-table-cell atlas-table-check', null, node);
    if (!row) { return; }
    node.setAttribute('data-id', String(row.id));
    var box = el('input', null, null, check);
    box.type = 'checkbox';
    Atlas.titled(box, Atlas.t('tableSelectRow'));
    visible().forEach(function (col) {
      var text = Atlas.tableText(col, (row.properties || {})[col.name]);
      var cell = el('div', 'atlas-table-cell' + (col.numeric ? ' atlas-table-num' : ''), text, node);
      cell.title = text;
    });
    mark(node, row);
  }

  function mark(node, row) {
    var on = selected(row.id);
    node.classList.toggle('atlas-selected', on);
    node.classList.toggle('atlas-table-current', String(row.id) === String(state.current));
    var box = node.querySelector('input');
    if (box) { box.checked = on; }
  }
  function marks() { Object.keys(shown).forEach(function (i) { if (shown[i].row) { mark(shown[i].node, shown[i].row); } }); }

  function counts() {
    var n = Atlas.selectedIds().filter(function (id) { return Atlas.selection.items[id].layer === state.layer; }).length;
    ui.count.textContent = Atlas.t('tableCount', {n: Atlas.number(data.total)}) + (n ? ' · ' + Atlas.t('tableSelected', {n: n}) : '');
    ui.exportSel.disabled = !Atlas.selectedIds().length;
  }

  function foot() {
    ui.foot.textContent = '';
    ui.foot.style.gridTemplateColumns = template();
    var sums = Atlas.tableTotals(state.columns, data.totals);
    el('div', 'atlas-table-cell atlas-table-check', null, ui.foot);
    visible().forEach(function (col, j) {
      var text = sums[col.name] || (j === 0 && !col.numeric ? Atlas.t('tableTotals') : '');
      el('div', 'atlas-table-cell' + (col.numeric ? ' atlas-table-num' : ''), text, ui.foot);
    });
    var t = data.totals || {}, parts = [];
    if (t.area_m2) {
      parts.push(Atlas.t('area') + ' ' + Atlas.number(t.area_mu, 1) + ' ' + Atlas.t('mu') + ' / ' + Atlas.number(t.area_ha, 2) +
                 ' ' + Atlas.t('ha') + ' / ' + Atlas.number(t.area_m2, 0) + ' m²');
    }
    if (t.length_km) { parts.push(Atlas.t('length') + ' ' + Atlas.number(t.length_km, 3) + ' ' + Atlas.t('km')); }
    ui.sum.textContent = parts.length ? Atlas.t('tableTotals') + '：' + parts.join('；') : '';
  }

  // -- the head: titles that sort, then the filters -------------------------------------------------------
  function head() {
    var gen = ++headGen;  // first: removing a focused editor may fire its change, which is then not ours
    ui.head.textContent = '';
    var titles = el('div', 'atlas-table-hrow', null, ui.head), filters = el('div', 'atlas-table-frow', null, ui.head);
    titles.style.gridTemplateColumns = filters.style.gridTemplateColumns = template();
    el('div', 'atlas-table-cell atlas-table-check', null, titles);
    var clear = Atlas.button('atlas-table-clear', '×', el('div', 'atlas-table-cell atlas-table-check', null, filters),
                             Atlas.t('tableClear'));
    clear.addEventListener('click', function () { state.filters = {}; head(); reload(true); });
    visible().forEach(function (col) {
      var cell = el('div', 'atlas-table-cell atlas-table-th', null, titles);
      cell.setAttribute('data-field', col.name);
      var at = state.sort.map(function (s) { return s[0]; }).indexOf(col.name);
      cell.setAttribute('aria-sort', at < 0 ? 'none' : (state.sort[at][1] ? 'descending' : 'ascending'));
      var b = Atlas.button('atlas-table-sort', col.title, cell, col.title + ' · ' + Atlas.t('tableSortHint'));
      if (at >= 0) { el('span', 'atlas-table-arrow', (state.sort[at][1] ? '▼' : '▲') + (state.sort.length > 1 ? at + 1 : ''), b); }
      b.addEventListener('click', function (e) { sortBy(col.name, e.shiftKey); });
      Atlas.tableFilter(el('div', 'atlas-table-cell', null, filters), col, state.filters, function (param, value) {
        if (gen !== headGen) { return; }
        state.filters[param] = value;
        reload(true);
      });
    });
  }

  // A click on a title: ascending, then descending, then unsorted; with shift, one field more.
  function sortBy(name, more) {
    var at = state.sort.map(function (s) { return s[0]; }).indexOf(name), next = at < 0 ? false : (state.sort[at][1] ? null : true);
    if (!more) { state.sort = next === null ? [] : [[name, next]]; } else if (at < 0) { state.sort.push([name, false]); } else if (next === null) {
      state.sort.splice(at, 1);
    } else { state.sort[at][1] = next; }
    head();
    reload(true);
  }

  // -- rows and the map ---------------------------------------------------------------------------------
  function flyTo(row) {
    state.current = row.id;
    marks();
    var b = row.bbox;
    if (!b) { Atlas.notify(Atlas.t('tableNoGeometry')); return; }
    Atlas.showFeature({id: row.id, bbox: b, properties: {layer: state.layer},
                       geometry: {type: 'Point', coordinates: [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2]}});
  }

  // The row's feature into (or out of) the selection: the drawn one, else read from the API.
  function toggle(row) {
    var layer = state.layer, drawn = Atlas.layers[layer] && Atlas.layers[layer].findFeature(row.id), on = !selected(row.id);
    if (drawn) { Atlas.toggleSelected(drawn.feature, layer, on); return; }
    Atlas.fetchJson(Atlas.apiUrl('features/' + encodeURIComponent(row.id), {as_of: Atlas.asOf || null})).then(function (f) {
      Atlas.toggleSelected(f, layer, on);
    }).catch(function (err) { say(Atlas.t('tableError', {detail: err.message})); });
  }

  function clicked(e) {
    var node = e.target.closest('.atlas-table-row'), i = node ? Number(node.getAttribute('data-index')) : -1;
    var row = shown[i] && shown[i].row;
    if (!row) { return; }
    if (e.target.tagName === 'INPUT' || e.shiftKey) {
      if (e.target.tagName !== 'INPUT') { e.preventDefault(); }
      toggle(row);
      return;
    }
    flyTo(row);
  }

  // a popup opened on the map: its row is marked (and scrolled to, when it is loaded)
  Atlas.popupSections.push(function (box, feature, cfg) {
    if (!T.isOpen() || !cfg || cfg.id !== state.layer) { return; }
    state.current = feature.id;
    marks();
    var i = data.rows.map(function (r) { return r && String(r.id); }).indexOf(String(feature.id));
    var top = i * ROW + ui.head.offsetHeight;
    if (i >= 0 && (top < ui.scroll.scrollTop + ui.head.offsetHeight || top + ROW > ui.scroll.scrollTop + ui.scroll.clientHeight)) {
      ui.scroll.scrollTop = Math.max(0, i * ROW - ui.scroll.clientHeight / 2);
    }
  });

  // -- the panel ------------------------------------------------------------------------------------------
  function setLayer(id) {
    state.layer = id;
    state.cfg = Atlas.layerConfig(id);
    state.columns = Atlas.tableColumns(state.cfg);
    state.sort = [];
    state.current = null;
    state.filters = {};
    FILTERS.forEach(function (k) { state.filters[k] = Atlas.filters[k] || null; });
    ui.layer.value = id;
    Atlas.tableChooser(ui.chooser, state.columns, function () {
      state.columns.forEach(function (c) { if (c.hidden) { [c.name, c.name + '_min', c.name + '_max', c.name + '_contains'].forEach(function (p) { delete state.filters[p]; }); } });
      head();
      reload(true);
    });
    head();
    reload(true);
  }

  function say(text) {
    ui.message.hidden = !text;
    ui.message.textContent = text || '';
  }

  function setHeight(px) {
    var h = Math.round(Math.max(120, Math.min(window.innerHeight * 0.8, px)));
    document.body.style.setProperty('--atlas-table-h', h + 'px');
    Atlas.map.invalidateSize({pan: false});
    schedule();
  }

  function build(map) {
    var panel = el('section', 'atlas-table', null, document.body);
    panel.hidden = true;
    panel.setAttribute('aria-label', Atlas.t('tableTitle'));
    var grip = el('div', 'atlas-table-grip', null, panel);
    grip.title = Atlas.t('tableResize');
    var bar = el('div', 'atlas-table-bar', null, panel);
    el('strong', 'atlas-table-name', Atlas.t('tableTitle'), bar);
    var layer = el('select', 'atlas-table-layer', null, bar);
    Atlas.titled(layer, Atlas.t('tableLayer'));
    Atlas.config.layers.forEach(function (cfg) { Atlas.option(layer, cfg.id, Atlas.label(cfg.title)); });
    var viewLabel = el('label', 'atlas-table-inview', null, bar);
    var inView = el('input', null, null, viewLabel);
    inView.type = 'checkbox';
    inView.name = 'table-in-view';
    el('span', null, Atlas.t('tableInView'), viewLabel);
    var pick = Atlas.button('atlas-table-pickcols', Atlas.t('tableColumns') + ' ▾', bar);
    var count = el('span', 'atlas-table-count', null, bar);
    var exportSel = Atlas.button('atlas-table-export-sel', Atlas.t('tableExportSel'), bar);
    var exportAll = Atlas.button('atlas-table-export-all', Atlas.t('tableExportAll'), bar);
    var close = Atlas.button('atlas-table-close', '×', bar, Atlas.t('close'));
    var chooser = el('div', 'atlas-table-chooser', null, panel);
    chooser.hidden = true;
    var message = el('div', 'atlas-table-message', null, panel);
    message.setAttribute('role', 'alert');
    message.hidden = true;
    var scroll = el('div', 'atlas-table-scroll', null, panel);
    var headBox = el('div', 'atlas-table-head', null, scroll);
    var body = el('div', 'atlas-table-body', null, scroll);
    var footBox = el('div', 'atlas-table-foot', null, scroll);
    var sum = el('div', 'atlas-table-sum', null, panel);
    ui = {panel: panel, layer: layer, count: count, chooser: chooser, message: message, scroll: scroll, head: headBox,
          body: body, foot: footBox, sum: sum, exportSel: exportSel};

    layer.addEventListener('change', function () { setLayer(layer.value); });
    inView.addEventListener('change', function () { state.inView = inView.checked; reload(true); });
    pick.addEventListener('click', function () { chooser.hidden = !chooser.hidden; });
    close.addEventListener('click', hide);
    scroll.addEventListener('scroll', schedule);
    body.addEventListener('click', clicked);
    body.addEventListener('mousedown', function (e) { if (e.shiftKey) { e.preventDefault(); } });  // no text selection
    exportSel.addEventListener('click', function () { openExport('selected'); });
    exportAll.addEventListener('click', function () { openExport('table'); });
    grip.addEventListener('pointerdown', function (e) {
      e.preventDefault();
      grip.setPointerCapture(e.pointerId);
      var move = function (ev) { setHeight(window.innerHeight - ev.clientY); };
      grip.addEventListener('pointermove', move);
      grip.addEventListener('pointerup', function up() {
        grip.removeEventListener('pointermove', move);
        grip.removeEventListener('pointerup', up);
      });
    });
    window.addEventListener('resize', schedule);
    map.on('moveend', function () {
      if (!T.isOpen() || !state.inView) { return; }
      clearTimeout(viewTimer);
      viewTimer = setTimeout(function () { reload(true); }, 250);
    });
    Atlas.on(function (what) {
      if (!T.isOpen()) { return; }
      if (what === 'selection') { marks(); counts(); }
      if (what === 'edited' || what === 'asof') { reload(); }
      if (what === 'filters') {
        FILTERS.forEach(function (k) { state.filters[k] = Atlas.filters[k] || null; });
        head();
        reload(true);
      }
    });
  }

  function openExport(scope) { Atlas.openExport({scope: scope}); }

  function show(layerId) {
    if (!ui) { build(Atlas.map); }
    ui.panel.hidden = false;
    document.body.classList.add('atlas-table-open');
    L.DomUtil.addClass(Atlas._tableButton, 'atlas-on');
    if (!document.body.style.getPropertyValue('--atlas-table-h')) {  // first: the map keeps room for its controls
      var h = window.innerHeight;
      setHeight(Atlas.isNarrow() ? h * 0.4 : Math.max(180, Math.min(h * 0.38, h - 560)));
    } else {
      Atlas.map.invalidateSize({pan: false});
    }
    if (!data) { reset(); }
    var first = Atlas.visibleLayers()[0] || Atlas.config.layers[0].id;
    if (layerId || !state.layer) { setLayer(layerId || first); } else { reload(); }
  }

  function hide() {
    if (!ui) { return; }
    ui.panel.hidden = true;
    document.body.classList.remove('atlas-table-open');
    L.DomUtil.removeClass(Atlas._tableButton, 'atlas-on');
    Atlas.map.invalidateSize({pan: false});
    Atlas.changed('table');
  }
  T.open = show;
  T.close = hide;
  T.shownIds = function () {
    return Object.keys(shown).map(Number).sort(function (a, b) { return a - b; }).map(function (i) { return shown[i].row && shown[i].row.id; });
  };
  T.data = function () { return data; };

  Atlas.tools.push({rank: 22, build: function (bar, map, button) {
    Atlas._tableButton = button(bar, 'atlas-tool-table', Atlas.t('tableOpen'), function () {
      if (T.isOpen()) { hide(); } else { show(); }
    });
    return null;
  }});
}());
