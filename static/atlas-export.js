/* 精致威海规划图 — the export panel: layers, format, coordinate system and scope (the page's filters,
 * optionally only the view, or the selected features of atlas-selection.js) for the API's export;
 * the standalone map file (Atlas.config.standalone); below them the sections of Atlas.exportSections
 * (the print layout's, atlas-print.js). A data export runs as a job (Atlas.exportJobs): its progress
 * in features, then its file; a job a reload interrupted opens the panel again and goes on. Downloads
 * (atlas-download.js) stream with progress and are saved under the server's file name. All text goes
 * in as textContent. */
(function () {
  'use strict';
  var Atlas = window.Atlas;
  var el = Atlas.el;

  // -- what the panel asks for ----------------------------------------------------------------------
  /* The request of the panel's choices: {params} for /api/export(s), or {error} saying what to change.
   * ``state``: {layers: [...], format, crs, scope: 'filtered'|'selected'|'table', viewOnly}; 'table':
   * the attribute table as it is shown (Atlas.tableExport of atlas-table.js: its layer, filters, order
   * and columns). */
  Atlas.exportRequest = function (state, forMap) {
    var params = {};
    var shown = state.scope === 'table' && Atlas.tableExport ? Atlas.tableExport() : null;
    if (state.scope === 'table') {
      if (!shown) { return {error: Atlas.t('exportNoTable')}; }
      params = L.extend({}, shown.params);
    } else if (state.scope === 'selected') {
      var ids = Atlas.selectedIds();
      if (!ids.length) { return {error: Atlas.t('exportNoSelection')}; }
      var layers = [];
      ids.forEach(function (id) { var lay = Atlas.selection.items[id].layer; if (layers.indexOf(lay) < 0) { layers.push(lay); } });
      params.layers = layers.join(',');
      params.ids = ids.join(',');
    } else {
      if (!state.layers.length) { return {error: Atlas.t('exportNoLayers')}; }
      // what the page shows: a layer the filters exclude (a category it lacks) is left out
      var kept = state.layers.filter(function (id) { return !Atlas.layers[id] || Atlas.layers[id]._filterParams() !== null; });
      if (!kept.length) { return {error: Atlas.t('exportNothing')}; }
      params.layers = kept.join(',');
      Atlas.FILTERS.forEach(function (k) { if (Atlas.filters[k]) { params[k] = Atlas.filters[k]; } });
      if (state.viewOnly) { params.bbox = Atlas.viewBbox(0, 1e6).join(','); }
    }
    if (Atlas.asOf) { params.as_of = Atlas.asOf; }  // the atlas as it is shown: as it was then
    if (forMap) {
      var c = Atlas.map.getCenter();
      params.lang = Atlas.lang;
      params.center = c.lat.toFixed(6) + ',' + c.lng.toFixed(6);
      params.zoom = String(Math.round(Atlas.map.getZoom()));
      if (state.title) { params.title = state.title; }
    } else {
      params.format = state.format;
      params.crs = state.crs;
    }
    return {params: params};
  };

  // -- the panel ------------------------------------------------------------------------------------
  function field(parent, label) {
    var box = el('label', 'atlas-export-field', null, parent);
    el('span', 'atlas-export-label', label, box);
    return box;
  }

  function buildPanel(map) {
    var panel = el('div', 'atlas-export', null, map.getContainer());
    panel.hidden = true;
    panel.setAttribute('role', 'dialog');
    panel.setAttribute('aria-label', Atlas.t('exportTitle'));
    L.DomEvent.disableClickPropagation(panel);
    L.DomEvent.disableScrollPropagation(panel);
    var head = el('div', 'atlas-export-head', null, panel);
    el('h2', null, Atlas.t('exportTitle'), head);
    var close = Atlas.button('atlas-export-close', '×', head, Atlas.t('close'));

    var data = el('section', 'atlas-export-section atlas-export-data', null, panel);
    el('h3', null, Atlas.t('exportData'), data);
    el('div', 'atlas-export-label', Atlas.t('exportLayers'), data);
    var layerBox = el('div', 'atlas-export-layers', null, data);
    var boxes = {};
    Atlas.config.layers.forEach(function (cfg) {
      var label = el('label', 'atlas-export-layer', null, layerBox);
      var input = boxes[cfg.id] = el('input', null, null, label);
      input.type = 'checkbox';
      input.value = cfg.id;
      input.name = 'export-layer';
      el('span', null, Atlas.label(cfg.title), label);
    });
    var row = el('div', 'atlas-export-row', null, data);
    var format = el('select', 'atlas-export-format', null, field(row, Atlas.t('exportFormat')));
    format.name = 'format';
    var crs = el('select', 'atlas-export-crs', null, field(row, Atlas.t('exportCrs')));
    crs.name = 'crs';
    var formatNote = el('div', 'atlas-export-note', null, data);

    el('div', 'atlas-export-label', Atlas.t('exportScope'), data);
    var scopes = el('div', 'atlas-export-scopes', null, data);
    function radio(value, checked) {
      var label = el('label', 'atlas-export-scope', null, scopes);
      var input = el('input', null, null, label);
      input.type = 'radio';
      input.name = 'export-scope';
      input.value = value;
      input.checked = !!checked;
      var text = el('span', null, null, label);
      return {input: input, text: text, label: label};
    }
    var filtered = radio('filtered', true);
    var viewLabel = el('label', 'atlas-export-view', null, scopes);
    var viewOnly = el('input', null, null, viewLabel);
    viewOnly.type = 'checkbox';
    viewOnly.name = 'export-view-only';
    el('span', null, Atlas.t('scopeView'), viewLabel);
    var selected = radio('selected', false);
    var selectRow = el('div', 'atlas-export-select', null, scopes);
    var selectHint = el('span', 'atlas-export-hint', Atlas.t('selectHint'), selectRow);
    var clearSel = Atlas.button('atlas-export-clear', Atlas.t('selectClear'), selectRow);
    var tableScope = radio('table', false);  // the attribute table as shown (atlas-table.js)

    var actions = el('div', 'atlas-export-actions', null, data);
    var go = Atlas.button('atlas-export-go atlas-primary', Atlas.t('download'), actions);
    var goHtml = Atlas.button('atlas-export-html', Atlas.t('downloadHtml'), actions);
    goHtml.title = Atlas.t('htmlNote');
    var progressBox = el('div', 'atlas-export-progress', null, data);
    progressBox.hidden = true;
    var bar = el('progress', null, null, progressBox);
    bar.max = 100;
    var progressText = el('span', 'atlas-export-progress-text', null, progressBox);
    var message = el('div', 'atlas-export-message', null, data);
    message.setAttribute('role', 'status');
    message.hidden = true;

    Atlas.exportSections.forEach(function (section) {
      section.build(el('section', 'atlas-export-section ' + (section.className || ''), null, panel), map);
    });
    if (Atlas.config.ogc) {  // the OGC API - Features service, for desktop GIS
      var ogc = el('a', 'atlas-export-ogc', Atlas.t('ogcLink'), el('p', 'atlas-export-hint', null, panel));
      ogc.href = Atlas.config.ogc;
      ogc.target = '_blank';
      ogc.rel = 'noopener';
    }

    var options = null;
    function fillOptions() {
      format.textContent = '';
      options.formats.forEach(function (f) {
        Atlas.option(format, f.id, f.title, f.id === options.default_format);
      });
      crs.textContent = '';
      options.crs.forEach(function (c) {
        Atlas.option(crs, c.id, c.id + ' · ' + Atlas.label(c.title), c.id === options.default_crs);
      });
      showFormatNote();
    }
    function showFormatNote() {
      var f = options && options.formats.filter(function (x) { return x.id === format.value; })[0];
      // the registry's notes are in English: shown on the English page, a tooltip on the Chinese one
      formatNote.textContent = f && Atlas.lang === 'en' ? f.note : '';
      format.title = f ? f.note : '';
      // a coordinate system the format cannot hold stays choosable: the server says why it is refused
      Array.prototype.forEach.call(crs.options, function (opt) {
        opt.className = f && f.crs.indexOf(opt.value) < 0 ? 'atlas-unsupported' : '';
      });
    }
    format.addEventListener('change', showFormatNote);

    function update() {
      var words = Atlas.filterWords(), n = Atlas.selectedIds().length;
      filtered.text.textContent = Atlas.t('scopeFiltered') + (words.length ? '：' + words.join(' · ') : '（' + Atlas.t('all') + '）');
      selected.text.textContent = Atlas.t('scopeSelected') + '（' + Atlas.t('selectedCount', {n: n}) + '）';
      clearSel.hidden = !n;
      var shown = Atlas.tableExport ? Atlas.tableExport() : null;
      tableScope.label.hidden = !shown;
      tableScope.text.textContent = shown ? Atlas.t('scopeTable', {what: shown.words}) : '';
      if (!shown && tableScope.input.checked) { filtered.input.checked = true; }
      var byList = selected.input.checked || tableScope.input.checked;
      viewOnly.disabled = byList;
      L.DomUtil[byList ? 'addClass' : 'removeClass'](panel, 'atlas-export-by-selection');
    }
    [filtered.input, selected.input, tableScope.input].forEach(function (input) { input.addEventListener('change', update); });
    clearSel.addEventListener('click', function () { Atlas.clearSelection(); });
    Atlas.on(function (what) { if (what === 'filters' || what === 'selection' || what === 'table') { update(); } });

    function state() {
      var chosen = {
        layers: Object.keys(boxes).filter(function (id) { return boxes[id].checked; }),
        format: format.value, crs: crs.value,
        scope: selected.input.checked ? 'selected' : (tableScope.input.checked ? 'table' : 'filtered'),
        viewOnly: viewOnly.checked && !selected.input.checked && !tableScope.input.checked,
        title: ''
      };
      Atlas.exportSections.forEach(function (section) { if (section.state) { L.extend(chosen, section.state()); } });
      return chosen;
    }

    function say(text, kind) {
      message.hidden = !text;
      message.textContent = text || '';
      message.className = 'atlas-export-message' + (kind ? ' atlas-export-' + kind : '');
      message.setAttribute('role', kind === 'error' ? 'alert' : 'status');
    }

    // -- running: one download or export job at a time, its progress in the bar and the text --------
    var running = false;
    function setState(value) { panel.setAttribute('data-export-state', value); }
    function begin() {
      running = true;
      go.disabled = goHtml.disabled = true;
      say(null);
      progressBox.hidden = false;
      bar.removeAttribute('value');  // indeterminate until there is a figure
      progressText.textContent = Atlas.t('exportPreparing');
      setState('running');
    }
    function showBytes(got, total) {
      var pct = total > 0 ? Math.min(100, Math.round(got / total * 100)) : null;
      if (pct !== null) { bar.value = pct; } else if (got) { bar.removeAttribute('value'); }
      progressText.textContent = Atlas.t('exportReceiving', {size: Atlas.formatBytes(got)}) +
        (pct !== null ? ' / ' + Atlas.formatBytes(total) + '（' + pct + '%）' : '');
    }
    function layerName(id) {
      var cfg = id && Atlas.layerConfig(id);
      return cfg ? Atlas.label(cfg.title) : String(id || '');
    }
    // A job's progress: features read of all, the layer being read; then the file being written.
    function showJob(job) {
      if (job.state !== 'running') { return; }
      var done = Number(job.done) || 0, total = Number(job.total) || 0;
      var pct = Math.max(0, Math.min(100, Math.round(Number(job.percent) || 0)));
      if (!total || (!done && !job.layer)) { return; }  // not reading yet: still "preparing"
      bar.value = pct;
      progressText.textContent = done >= total ? Atlas.t('exportJobWriting', {percent: pct}) :
        Atlas.t('exportJobProgress', {layer: layerName(job.layer), done: Atlas.number(done),
                                      total: Atlas.number(total), percent: pct});
    }
    // ``work``: the promise of the saved file {name, size}; ``gone``: the message for a vanished job.
    function finish(work, gone) {
      work.then(function (saved) {
        progressBox.hidden = true;
        say(Atlas.t('exportDone', {name: saved.name, size: Atlas.formatBytes(saved.size)}), 'done');
        setState('done');
      }).catch(function (err) {
        progressBox.hidden = true;
        say(Atlas.t(gone && err.status === 404 ? gone : 'exportFailed', {detail: err.message}), 'error');
        setState('error');
      }).then(function () {
        running = false;
        go.disabled = goHtml.disabled = false;
      });
    }

    go.addEventListener('click', function () {
      if (running) { return; }
      var req = Atlas.exportRequest(state(), false);
      if (req.error) { say(req.error, 'error'); setState('error'); return; }
      begin();
      finish(Atlas.exportJobs.run(req.params, showJob, showBytes));
    });
    goHtml.addEventListener('click', function () {
      if (running) { return; }
      var req = Atlas.exportRequest(state(), true);
      if (req.error) { say(req.error, 'error'); setState('error'); return; }
      begin();  // the offline map is made in the request: a direct download
      finish(Atlas.download(Atlas.config.standalone + '?' + Atlas.query(req.params), showBytes, 'weihai-atlas.html'));
    });
    // A job the page left running before a reload: followed here until its file is saved.
    // (The panel's choices are the page's, not the job's: the message says what the job writes.)
    function resume(rec) {
      if (running) { return; }
      begin();
      say(Atlas.t('exportResumed'));
      var told = false;
      finish(Atlas.exportJobs.resume(rec, function (job) {
        if (!told && job.state === 'running' && job.format) {
          told = !!options;  // the format's title once the options are read (they may come later)
          var f = options && options.formats.filter(function (x) { return x.id === job.format; })[0];
          say(Atlas.t('exportResumedJob', {format: f ? f.title : String(job.format), crs: String(job.crs || '')}));
        }
        showJob(job);
      }, showBytes), 'exportJobGone');
    }

    // ``opts.scope``: the scope to choose ('selected', 'table': the attribute table's buttons)
    function open(opts) {
      var visible = Atlas.visibleLayers();
      Object.keys(boxes).forEach(function (id) { boxes[id].checked = visible.indexOf(id) >= 0; });
      var scope = {filtered: filtered, selected: selected, table: tableScope}[(opts || {}).scope];
      if (scope) { scope.input.checked = true; }
      update();
      panel.hidden = false;
      L.DomUtil.addClass(Atlas._exportButton, 'atlas-on');
      Atlas.exportSections.forEach(function (section) { if (section.open) { section.open(); } });
      if (!options) {  // a running export keeps its state (a resumed job opens the panel first)
        if (!running) { setState('loading'); }
        Atlas.fetchJson(Atlas.apiUrl('export/options')).then(function (body) {
          options = body;
          fillOptions();
          if (!running) { setState('ready'); }
        }).catch(function (err) {
          if (running) { return; }
          say(Atlas.t('exportOptionsFailed', {detail: err.message}), 'error');
          setState('error');
        });
      }
    }
    function hide() {
      panel.hidden = true;
      L.DomUtil.removeClass(Atlas._exportButton, 'atlas-on');
    }
    close.addEventListener('click', hide);
    Atlas.exportPanel = {open: open, close: hide, resume: resume, element: panel,
                         isOpen: function () { return !panel.hidden; }};
    return panel;
  }

  Atlas.tools.push({rank: 20, build: function (bar, map, button) {
    // the panel opened from elsewhere (the attribute table's export buttons), with ``opts`` of open()
    Atlas.openExport = function (opts) {
      if (!Atlas.exportPanel) { buildPanel(map); }
      Atlas.exportPanel.open(opts);
    };
    Atlas._exportButton = button(bar, 'atlas-tool-export', Atlas.t('exportOpen'), function () {
      if (!Atlas.exportPanel) { buildPanel(map); }
      if (Atlas.exportPanel.isOpen()) { Atlas.exportPanel.close(); } else { Atlas.exportPanel.open(); }
    });
    // an export a reload interrupted: the panel opens by itself and follows it (once the map is set up)
    setTimeout(function () {
      Atlas.exportJobs.whenPending(function (rec) {
        if (!Atlas.exportPanel) { buildPanel(map); }
        if (!Atlas.exportPanel.isOpen()) { Atlas.exportPanel.open(); }
        Atlas.exportPanel.resume(rec);
      });
    }, 0);
    return null;
  }});
}());
