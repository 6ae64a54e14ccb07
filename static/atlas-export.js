/* 精致威海规划图 — the export panel: layers, format, coordinate system and scope (the page's filters,
 * optionally only the view, or the selected features) for /api/export; the standalone map file
 * (/export/map.html); and, from atlas-print.js, the print layout. Downloads stream with progress and
 * are saved under the server's file name. Features are selected by shift-click or from a popup and
 * drawn highlighted. All text goes in as textContent. */
(function () {
  'use strict';
  var Atlas = window.Atlas;
  var el = function (tag, cls, text, parent) { return Atlas.el(tag, cls, text, parent); };

  // -- selection: shift-click a feature, or "Select" in its popup ----------------------------------
  var selection = Atlas.selection = {items: {}, order: []};  // id -> {feature, layer}
  var selectionLayer = null;

  Atlas.selectedIds = function () { return selection.order.slice(); };

  function drawSelection() {
    if (selectionLayer) { Atlas.map.removeLayer(selectionLayer); selectionLayer = null; }
    var features = selection.order.map(function (id) { return selection.items[id].feature; })
      .filter(function (f) { return f && f.geometry; });
    if (features.length) {
      selectionLayer = L.geoJSON({type: 'FeatureCollection', features: features}, {
        pane: 'atlas-highlight', interactive: false, renderer: Atlas.highlightRenderer,
        style: {color: '#c2185b', weight: 4, opacity: 0.95, fillColor: '#c2185b', fillOpacity: 0.12},
        pointToLayer: function (f, latlng) {
          return L.circleMarker(latlng, {radius: 11, color: '#c2185b', weight: 3.5, fill: false, interactive: false,
                                         pane: 'atlas-highlight', renderer: Atlas.highlightRenderer});
        }
      }).addTo(Atlas.map);
    }
    Atlas.changed('selection');
  }

  Atlas.toggleSelected = function (feature, layerId, on) {
    var id = String(feature.id || (feature.properties || {}).id);
    var has = !!selection.items[id];
    if (on === undefined) { on = !has; }
    if (on && !has) {
      selection.items[id] = {feature: feature, layer: layerId};
      selection.order.push(id);
    } else if (!on && has) {
      delete selection.items[id];
      selection.order.splice(selection.order.indexOf(id), 1);
    }
    drawSelection();
    return on;
  };

  Atlas.clearSelection = function () {
    selection.items = {};
    selection.order = [];
    drawSelection();
  };

  // Whether the click now being handled was a shift-click (seen first, in the capture phase).
  var shiftClick = false;
  document.addEventListener('click', function (e) {
    shiftClick = !!e.shiftKey;
    setTimeout(function () { shiftClick = false; }, 0);
  }, true);

  var openPopup = Atlas.openPopup;
  Atlas.openPopup = function (feature, latlng, cfg) {
    if (shiftClick && cfg && feature) {  // shift-click: select, no popup
      shiftClick = false;
      Atlas.toggleSelected(feature, cfg.id);
      return null;
    }
    var popup = openPopup.apply(this, arguments);
    var box = popup.getContent();
    if (cfg && box && box.appendChild) {
      var id = String(feature.id || (feature.properties || {}).id);
      var button = el('button', 'atlas-popup-select', null, box);
      button.type = 'button';
      var label = function () { button.textContent = Atlas.t(selection.items[id] ? 'unselect' : 'select'); };
      label();
      button.addEventListener('click', function (e) {
        L.DomEvent.stop(e);
        Atlas.toggleSelected(feature, cfg.id);
        label();
      });
    }
    return popup;
  };

  // -- downloads: streamed, with progress, saved under the server's name ---------------------------
  Atlas.filenameFrom = function (disposition) {
    if (!disposition) { return null; }
    var name = null, star = /filename\*\s*=\s*UTF-8''([^;]+)/i.exec(disposition);
    if (star) {
      try { name = decodeURIComponent(star[1].trim()); } catch (err) { name = null; }
    }
    if (!name) {
      var plain = /filename\s*=\s*"([^"]*)"/i.exec(disposition) || /filename\s*=\s*([^;]+)/i.exec(disposition);
      name = plain ? plain[1].trim() : null;
    }
    return name ? name.replace(/[\\/:*?"<>|\u0000-\u001f]/g, '_') : null;
  };

  Atlas.formatBytes = function (n) {
    if (n < 1024) { return n + ' B'; }
    if (n < 1024 * 1024) { return Atlas.number(n / 1024, 1) + ' KB'; }
    return Atlas.number(n / 1024 / 1024, 1) + ' MB';
  };

  // The message of a failed answer: {error, detail} JSON from the API, or the error page's text.
  function errorText(resp) {
    var type = resp.headers.get('Content-Type') || '';
    return resp.text().then(function (text) {
      if (/json/.test(type)) {
        try { var body = JSON.parse(text); return body.detail || body.error || text; } catch (err) { return text; }
      }
      if (/html/.test(type)) {  // an inert document: parsed, never shown or run
        var doc = new DOMParser().parseFromString(text, 'text/html'), p = doc.querySelector('p');
        return (p ? p.textContent : doc.body.textContent).trim();
      }
      return text || (resp.status + ' ' + resp.statusText);
    });
  }

  Atlas.saveBlob = function (blob, name) {
    var a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = name;
    a.hidden = true;
    document.body.appendChild(a);
    a.click();
    document.body.removeChild(a);
    setTimeout(function () { URL.revokeObjectURL(a.href); }, 60000);
  };

  /* Fetch ``url`` and save what comes; ``progress(received, total)`` as it streams (total 0 when the
   * server does not say). Resolves with {name, size}; rejects with the server's message. */
  Atlas.download = function (url, progress, fallbackName) {
    return fetch(url).then(function (resp) {
      if (!resp.ok) { return errorText(resp).then(function (detail) { throw new Error(detail); }); }
      var total = parseInt(resp.headers.get('Content-Length') || '0', 10) || 0;
      var name = Atlas.filenameFrom(resp.headers.get('Content-Disposition')) || fallbackName || 'weihai-atlas';
      var type = (resp.headers.get('Content-Type') || 'application/octet-stream').split(';')[0];
      var chunks = [], received = 0;
      progress(0, total);
      var finish = function () {
        var blob = new Blob(chunks, {type: type});
        Atlas.saveBlob(blob, name);
        return {name: name, size: blob.size};
      };
      if (!resp.body || !resp.body.getReader) {
        return resp.blob().then(function (blob) { chunks = [blob]; progress(blob.size, total); return finish(); });
      }
      var reader = resp.body.getReader();
      var pump = function () {
        return reader.read().then(function (step) {
          if (step.done) { return finish(); }
          chunks.push(step.value);
          received += step.value.length;
          progress(received, total);
          return pump();
        });
      };
      return pump();
    });
  };

  // -- what the panel asks for ----------------------------------------------------------------------
  function viewBbox() {
    var b = Atlas.map.getBounds(), r = function (v, lo, hi) { return Math.round(Math.min(hi, Math.max(lo, v)) * 1e6) / 1e6; };
    return [r(b.getWest(), -180, 180), r(b.getSouth(), -90, 90), r(b.getEast(), -180, 180), r(b.getNorth(), -90, 90)].join(',');
  }

  /* The request of the panel's choices: {params} for /api/export, or {error} saying what to change.
   * ``state``: {layers: [...], format, crs, scope: 'filtered'|'selected', viewOnly}. */
  Atlas.exportRequest = function (state, forMap) {
    var params = {};
    if (state.scope === 'selected') {
      var ids = Atlas.selectedIds();
      if (!ids.length) { return {error: Atlas.t('exportNoSelection')}; }
      var layers = [];
      ids.forEach(function (id) { var lay = selection.items[id].layer; if (layers.indexOf(lay) < 0) { layers.push(lay); } });
      params.layers = layers.join(',');
      params.ids = ids.join(',');
    } else {
      if (!state.layers.length) { return {error: Atlas.t('exportNoLayers')}; }
      // what the page shows: a layer the filters exclude (a category it lacks) is left out
      var kept = state.layers.filter(function (id) { return !Atlas.layers[id] || Atlas.layers[id]._filterParams() !== null; });
      if (!kept.length) { return {error: Atlas.t('exportNothing')}; }
      params.layers = kept.join(',');
      ['district', 'category', 'status'].forEach(function (k) { if (Atlas.filters[k]) { params[k] = Atlas.filters[k]; } });
      if (state.viewOnly) { params.bbox = viewBbox(); }
    }
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

  function query(params) {
    return Object.keys(params).map(function (k) {
      return encodeURIComponent(k) + '=' + encodeURIComponent(params[k]).replace(/%2C/g, ',');
    }).join('&');
  }

  // The page's filters in words: 环翠区 · 运营中
  function filterWords() {
    var vocab = Atlas.config.vocab, words = [];
    ['district', 'category', 'status'].forEach(function (k) {
      var v = Atlas.filters[k];
      if (v) { words.push(Atlas.label(vocab[k][v]) || v); }
    });
    return words;
  }
  Atlas.filterWords = filterWords;

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
    var close = el('button', 'atlas-export-close', '×', head);
    close.type = 'button';
    close.title = Atlas.t('close');
    close.setAttribute('aria-label', Atlas.t('close'));

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
    var clearSel = el('button', 'atlas-export-clear', Atlas.t('selectClear'), selectRow);
    clearSel.type = 'button';

    var actions = el('div', 'atlas-export-actions', null, data);
    var go = el('button', 'atlas-export-go atlas-primary', Atlas.t('download'), actions);
    go.type = 'button';
    var goHtml = el('button', 'atlas-export-html', Atlas.t('downloadHtml'), actions);
    goHtml.type = 'button';
    goHtml.title = Atlas.t('htmlNote');
    var progressBox = el('div', 'atlas-export-progress', null, data);
    progressBox.hidden = true;
    var bar = el('progress', null, null, progressBox);
    bar.max = 100;
    var progressText = el('span', 'atlas-export-progress-text', null, progressBox);
    var message = el('div', 'atlas-export-message', null, data);
    message.setAttribute('role', 'status');
    message.hidden = true;

    if (Atlas.printSection) { Atlas.printSection(el('section', 'atlas-export-section atlas-export-print', null, panel), map); }

    var options = null;
    function fillOptions() {
      format.textContent = '';
      options.formats.forEach(function (f) {
        var opt = el('option', null, f.title, format);
        opt.value = f.id;
        opt.selected = f.id === options.default_format;
      });
      crs.textContent = '';
      options.crs.forEach(function (c) {
        var opt = el('option', null, c.id + ' · ' + Atlas.label(c.title), crs);
        opt.value = c.id;
        opt.selected = c.id === options.default_crs;
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
      var words = filterWords(), n = Atlas.selectedIds().length;
      filtered.text.textContent = Atlas.t('scopeFiltered') + (words.length ? '：' + words.join(' · ') : '（' + Atlas.t('all') + '）');
      selected.text.textContent = Atlas.t('scopeSelected') + '（' + Atlas.t('selectedCount', {n: n}) + '）';
      clearSel.hidden = !n;
      viewOnly.disabled = selected.input.checked;
      L.DomUtil[selected.input.checked ? 'addClass' : 'removeClass'](panel, 'atlas-export-by-selection');
    }
    [filtered.input, selected.input].forEach(function (input) { input.addEventListener('change', update); });
    clearSel.addEventListener('click', function () { Atlas.clearSelection(); });
    Atlas.on(function (what) { if (what === 'filters' || what === 'selection') { update(); } });

    function state() {
      return {
        layers: Object.keys(boxes).filter(function (id) { return boxes[id].checked; }),
        format: format.value, crs: crs.value,
        scope: selected.input.checked ? 'selected' : 'filtered',
        viewOnly: viewOnly.checked && !selected.input.checked,
        title: Atlas.printTitle ? Atlas.printTitle() : ''
      };
    }

    function say(text, kind) {
      message.hidden = !text;
      message.textContent = text || '';
      message.className = 'atlas-export-message' + (kind ? ' atlas-export-' + kind : '');
      message.setAttribute('role', kind === 'error' ? 'alert' : 'status');
    }

    var running = false;
    function run(url, fallback) {
      if (running) { return; }
      running = true;
      go.disabled = goHtml.disabled = true;
      say(null);
      progressBox.hidden = false;
      bar.removeAttribute('value');  // indeterminate until the first byte
      progressText.textContent = Atlas.t('exportPreparing');
      panel.setAttribute('data-export-state', 'running');
      Atlas.download(url, function (got, total) {
        if (total > 0) { bar.value = Math.min(100, Math.round(got / total * 100)); } else if (got) { bar.removeAttribute('value'); }
        progressText.textContent = Atlas.t('exportReceiving', {size: Atlas.formatBytes(got)}) +
          (total > 0 ? ' / ' + Atlas.formatBytes(total) + '（' + Math.min(100, Math.round(got / total * 100)) + '%）' : '');
      }, fallback).then(function (saved) {
        progressBox.hidden = true;
        say(Atlas.t('exportDone', {name: saved.name, size: Atlas.formatBytes(saved.size)}), 'done');
        panel.setAttribute('data-export-state', 'done');
      }).catch(function (err) {
        progressBox.hidden = true;
        say(Atlas.t('exportFailed', {detail: err.message}), 'error');
        panel.setAttribute('data-export-state', 'error');
      }).then(function () {
        running = false;
        go.disabled = goHtml.disabled = false;
      });
    }

    go.addEventListener('click', function () {
      var req = Atlas.exportRequest(state(), false);
      if (req.error) { say(req.error, 'error'); panel.setAttribute('data-export-state', 'error'); return; }
      run(Atlas.apiUrl('/export', req.params), 'weihai-atlas-export');
    });
    goHtml.addEventListener('click', function () {
      var req = Atlas.exportRequest(state(), true);
      if (req.error) { say(req.error, 'error'); panel.setAttribute('data-export-state', 'error'); return; }
      run(Atlas.config.standalone + '?' + query(req.params), 'weihai-atlas.html');
    });

    function open() {
      var visible = Atlas.visibleLayers();
      Object.keys(boxes).forEach(function (id) { boxes[id].checked = visible.indexOf(id) >= 0; });
      update();
      panel.hidden = false;
      L.DomUtil.addClass(Atlas._exportButton, 'atlas-on');
      if (Atlas.onPrintPanelOpen) { Atlas.onPrintPanelOpen(); }
      if (!options) {
        panel.setAttribute('data-export-state', 'loading');
        Atlas.fetchJson(Atlas.apiUrl('/export/options')).then(function (body) {
          options = body;
          fillOptions();
          panel.setAttribute('data-export-state', 'ready');
        }).catch(function (err) {
          say(Atlas.t('exportOptionsFailed', {detail: err.message}), 'error');
          panel.setAttribute('data-export-state', 'error');
        });
      }
    }
    function hide() {
      panel.hidden = true;
      L.DomUtil.removeClass(Atlas._exportButton, 'atlas-on');
    }
    close.addEventListener('click', hide);
    Atlas.exportPanel = {open: open, close: hide, element: panel, isOpen: function () { return !panel.hidden; }};
    return panel;
  }

  Atlas.tools = Atlas.tools || [];
  Atlas.tools.push(function (bar, map, button) {
    Atlas._exportButton = button(bar, 'atlas-tool-export', Atlas.t('exportOpen'), function () {
      if (!Atlas.exportPanel) { buildPanel(map); }
      if (Atlas.exportPanel.isOpen()) { Atlas.exportPanel.close(); } else { Atlas.exportPanel.open(); }
    });
    return null;
  });
}());
