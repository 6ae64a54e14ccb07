/* 精致威海规划图 — the import panel's account of what the server found in a file (atlas-import.js
 * calls Atlas.importFound): the layers of a GeoPackage or DXF to choose from, the encoding with the
 * first rows decoded in each candidate side by side, the coordinate system with its reason, the
 * candidates ranked and a small map of the chosen system (solid) and the runner-up (dashed) over the
 * district outlines, the invalid shapes (listed, and red markers on the map; repaired only when
 * ticked), and the fields. A choice starts a new inspection (ctx.start). Every value from the file
 * becomes text (textContent; tooltips get DOM nodes, never HTML strings). */
(function () {
  'use strict';
  var Atlas = window.Atlas;
  var el = Atlas.el;
  var fmt = function (n) { return Number(n || 0).toLocaleString(Atlas.lang === 'en' ? 'en' : 'zh-CN'); };

  /* Renders ``found`` (an upload's inspection) into ctx.body; ctx: {body, choices, start(path, choices)}.
   * Returns {repair(): the repair checkbox or null, discard(): removes the small map}. */
  Atlas.importFound = function (ctx, found) {
    var body = ctx.body;
    var preview = null;  // the small Leaflet map
    var repair = null;
  function section(title) {
    var s = el('section', 'atlas-import-section', null, body);
    el('h3', null, title, s);
    return s;
  }

  function sourceLayers(layers, chosen) {
    var s = section(Atlas.t('importSourceLayer'));
    var select = el('select', 'atlas-import-source-layer', null, s);
    select.name = 'source_layer';
    layers.forEach(function (lay) { Atlas.option(select, lay.name, lay.name + '（' + fmt(lay.count) + '）', lay.name === chosen); });
    select.addEventListener('change', function () {
      ctx.choices = {layer: select.value};
      ctx.start('inspect', ctx.choices);
    });
  }

  function encodingSection(found) {
    var guess = found.encoding_guess;
    var s = section(Atlas.t('importEncoding') + '：' + (found.encoding || '?'));
    el('div', 'atlas-muted', Atlas.label({zh: guess.reason_zh, en: guess.reason_en}), s);
    el('div', 'atlas-import-label', Atlas.t('importEncodingPreview'), s);
    var row = el('div', 'atlas-import-encodings', null, s);
    (guess.previews || []).forEach(function (pv) {
      var col = el('div', 'atlas-import-encoding', null, row);
      col.setAttribute('data-encoding', pv.encoding);
      if (pv.encoding === found.encoding) { L.DomUtil.addClass(col, 'atlas-on'); }
      el('strong', null, pv.encoding, col);
      var table = el('table', 'atlas-import-rows', null, col);
      var tr = el('tr', null, null, el('thead', null, null, table));
      (pv.fields || []).forEach(function (f) { el('th', null, f, tr); });
      var tbody = el('tbody', null, null, table);
      (pv.rows || []).slice(0, 5).forEach(function (r) {
        var line = el('tr', null, null, tbody);
        r.forEach(function (v) { el('td', null, v, line); });
      });
      if (pv.encoding !== found.encoding) {
        Atlas.button('atlas-import-use-encoding', Atlas.t('importUseEncoding'), col).addEventListener('click', function () {
          ctx.choices = L.extend({}, ctx.choices, {encoding: pv.encoding});
          ctx.start('inspect', ctx.choices);
        });
      }
    });
  }

  function crsSection(found) {
    var s = section(Atlas.t('importCrs') + '：' + (found.crs || '?'));
    el('div', 'atlas-muted atlas-import-crs-reason', Atlas.label({zh: found.crs_reason_zh || found.crs_reason, en: found.crs_reason}), s);
    var select = el('select', 'atlas-import-crs', null, s);
    select.name = 'crs';
    var ranked = (found.crs_guess && found.crs_guess.ranked) || [];
    if (!found.crs) { Atlas.option(select, '', '?', true); }
    ranked.forEach(function (r) {
      var c = r.candidate;
      Atlas.option(select, c.key, Atlas.label({zh: c.zh, en: c.en}) + '（' + Math.round(100 * r.score) + '%）', c.key === found.crs);
    });
    select.addEventListener('change', function () {
      if (!select.value) { return; }
      ctx.choices = L.extend({}, ctx.choices, {crs: select.value});
      ctx.start('inspect', ctx.choices);
    });
    var pv = found.preview || {candidates: [], invalid: []};
    var list = el('ul', 'atlas-import-candidates', null, s);
    pv.candidates.forEach(function (c) {
      var item = el('li', c.chosen ? 'atlas-import-chosen' : 'atlas-import-runner-up', null, list);
      var drawable = c.features && c.features.features && c.features.features.length;
      el('span', null, (c.chosen ? Atlas.t('importCrsChosen') : Atlas.t('importCrsRunnerUp')) + '：' +
         Atlas.label({zh: c.zh, en: c.en}) + (drawable ? '' : ' ' + Atlas.t('importCrsOff')), item);
    });
    var mapBox = el('div', 'atlas-import-map', null, s);
    el('div', 'atlas-muted atlas-import-legend', Atlas.t('importCrsLegend'), s);
    setTimeout(function () { drawPreview(mapBox, pv); }, 0);  // once the box has its size
  }

  function discardPreview() {
    if (preview) { preview.remove(); preview = null; }
  }
  function drawPreview(mapBox, pv) {
    discardPreview();
    var small = preview = L.map(mapBox, {attributionControl: false, zoomControl: true, preferCanvas: false});
    var bounds = null;
    var outlines = Atlas.config.layers.some(function (c) { return c.id === 'districts'; });
    if (outlines) {
      Atlas.send('GET', Atlas.apiUrl('layers/districts', {limit: 100, simplify: 50})).then(function (fc) {
        if (small !== preview) { return; }
        L.geoJSON(fc, {interactive: false, style: {color: '#7f7f7f', weight: 1, fill: false}}).addTo(small).bringToBack();
        if (!bounds) { small.fitBounds(L.geoJSON(fc).getBounds()); }
      }).catch(function () { /* the outlines are a help */ });
    }
    pv.candidates.forEach(function (c) {
      if (!c.features || !c.features.features || !c.features.features.length) { return; }
      var shapes = L.geoJSON(c.features, {
        className: c.chosen ? 'atlas-import-shape-chosen' : 'atlas-import-shape-runner-up',
        style: c.chosen ? {color: '#0072B2', weight: 2, fillOpacity: 0.2}
                        : {color: '#D55E00', weight: 1.5, dashArray: '5 4', fillOpacity: 0.05},
        pointToLayer: function (f, ll) { return L.circleMarker(ll, {radius: 4}); }
      }).addTo(small);
      if (c.chosen) {
        var b = shapes.getBounds();
        if (b.isValid()) { bounds = b; }
      }
    });
    (pv.invalid || []).forEach(function (m) {
      var marker = L.circleMarker([m.lat, m.lon], {radius: 7, color: '#c62828', weight: 2, fillOpacity: 0.5,
                                                   className: 'atlas-import-invalid-marker'}).addTo(small);
      marker.bindTooltip(el('span', null, Atlas.t('importRow', {row: m.row, reason: m.reason})));  // text, not HTML
    });
    if (bounds) { small.fitBounds(bounds.pad(0.3), {maxZoom: 15}); } else { small.fitBounds(Atlas.config.home); }
  }

  function geometrySection(found) {
    var g = found.geometry || {};
    var s = section(Atlas.t('importGeometry'));
    var types = Object.keys(g.types || {}).map(function (k) { return k + ' ' + fmt(g.types[k]); }).join('、');
    el('div', null, types, s);
    (found.notes || []).forEach(function (n) { el('div', 'atlas-muted', n, s); });
    repair = null;
    if (g.invalid_count) {
      el('div', 'atlas-import-invalid', Atlas.t('importInvalid', {n: fmt(g.invalid_count)}), s);
      var list = el('ul', 'atlas-import-invalid-list', null, s);
      (g.invalid || []).slice(0, 20).forEach(function (p) {
        el('li', null, Atlas.t('importRow', {row: p.row + 1, reason: p.reason}), list);
      });
      var label = el('label', 'atlas-admin-pick', null, s);
      repair = el('input', null, null, label);
      repair.type = 'checkbox';
      repair.name = 'repair';
      el('span', null, Atlas.t('importRepair', {n: fmt(g.invalid_count)}), label);
    }
  }

  function fieldsSection(found) {
    var s = section(Atlas.t('importFields'));
    var table = el('table', 'atlas-import-fields', null, s);
    var tr = el('tr', null, null, el('thead', null, null, table));
    ['importFieldFile', 'importFieldStore', 'importFieldType'].forEach(function (k) { el('th', null, Atlas.t(k), tr); });
    var tbody = el('tbody', null, null, table);
    (found.fields || []).forEach(function (f) {
      var line = el('tr', null, null, tbody);
      el('td', null, f.name, line);
      el('td', null, f.store, line);
      el('td', null, f.type, line);
    });
  }

    var layers = (found.source && found.source.layers) || [];
    if (layers.length > 1) { sourceLayers(layers, found.layer); }
    if (found.encoding_guess) { encodingSection(found); }
    crsSection(found);
    geometrySection(found);
    fieldsSection(found);
    return {repair: function () { return repair; }, discard: discardPreview, section: section,
            map: function () { return preview; }};
  };

  /* Where the file goes (ctx.choices() read when it is sent): a new layer (id, titles zh/en, a text
   * field to colour it by) or an existing one the planner may edit (append; upsert by a key field),
   * the file's fields checked against that layer's; "check" (a dry run), "import", "discard". */
  Atlas.importTarget = function (s, found, ctx) {
    var editable = Atlas.config.layers.filter(function (c) { return Atlas.canEdit(c.id); });
    var kinds = el('div', 'atlas-admin-picks', null, s);
    var radio = function (value, text, on) {
      var label = el('label', 'atlas-admin-pick', null, kinds);
      var r = el('input', null, null, label);
      r.type = 'radio';
      r.name = 'import-target';
      r.value = value;
      r.checked = on;
      el('span', null, text, label);
      return r;
    };
    var mayCreate = ctx.mayCreate;
    var asNew = radio('new', Atlas.t('importNew'), mayCreate());
    var asOld = radio('existing', Atlas.t('importExisting'), !mayCreate());
    asNew.disabled = !mayCreate();
    asOld.disabled = !editable.length;
    var newBox = el('div', 'atlas-import-new', null, s);
    var field = function (parent, label, name, type) {
      var b = el('label', 'atlas-field', null, parent);
      el('span', null, label, b);
      var node = el(type === 'select' ? 'select' : 'input', null, null, b);
      if (type !== 'select') { node.type = 'text'; }
      node.name = name;
      return node;
    };
    var stem = String(found.file || 'layer').replace(/\.[^.]*$/, '').toLowerCase().replace(/[^a-z0-9_]+/g, '_')
      .replace(/^_+|_+$/g, '');
    var layerId = field(newBox, Atlas.t('importLayerId'), 'layer');
    layerId.value = /^[a-z]/.test(stem) ? stem.slice(0, 40) : '';
    var titleZh = field(newBox, Atlas.t('importTitleZh'), 'title_zh');
    titleZh.value = String(found.file || '').replace(/\.[^.]*$/, '');
    var titleEn = field(newBox, Atlas.t('importTitleEn'), 'title_en');
    var styleField = field(newBox, Atlas.t('importStyleField'), 'style_field', 'select');
    Atlas.option(styleField, '', Atlas.t('importNoStyle'), true);
    (found.fields || []).filter(function (f) { return f.type === 'str'; }).forEach(function (f) {
      Atlas.option(styleField, f.name, f.name);
    });
    var oldBox = el('div', 'atlas-import-existing', null, s);
    var target = field(oldBox, Atlas.t('importExisting'), 'target', 'select');
    editable.forEach(function (c) { Atlas.option(target, c.id, Atlas.label(c.title)); });
    var mode = field(oldBox, Atlas.t('importMode'), 'mode', 'select');
    Atlas.option(mode, 'append', Atlas.t('importAppend'), true);
    Atlas.option(mode, 'upsert', Atlas.t('importUpsert'));
    var match = el('div', 'atlas-muted atlas-import-match', null, oldBox);
    var key = field(s, Atlas.t('importKey'), 'key', 'select');
    Atlas.option(key, '', Atlas.t('importNoKey'), true);
    (found.fields || []).forEach(function (f) { Atlas.option(key, f.name, f.name); });
    var sync = function () {
      newBox.hidden = !asNew.checked;
      oldBox.hidden = !asOld.checked;
      var cfg = Atlas.layerConfig(target.value);
      if (asOld.checked && cfg) {
        var missing = (found.fields || []).map(function (f) { return f.store; })
          .filter(function (n) { return cfg.fields.indexOf(n) < 0; });
        match.textContent = missing.length ? Atlas.t('importMissingFields', {fields: missing.join('、')}) : Atlas.t('importFieldsMatch');
      }
    };
    [asNew, asOld, target].forEach(function (n) { n.addEventListener('change', sync); });
    sync();
    var row = el('div', 'atlas-history-actions', null, s);
    var check = Atlas.button('atlas-import-check', Atlas.t('importCheck'), row);
    var go = Atlas.button('atlas-import-go', Atlas.t('importGo'), row);
    var cancel = Atlas.button('atlas-import-cancel', Atlas.t('importCancel'), row);
    var planBox = el('div', 'atlas-import-plan', null, s);
    function chosen(dry) {
      var made = ctx.choices();  // what the planner chose for the inspection
      var body = L.extend({}, {encoding: made.encoding || null, crs: made.crs || null,
                               source_layer: made.layer || null, repair: ctx.repair(), dry_run: dry,
                               key: key.value || null});
      if (asNew.checked) {
        body.layer = layerId.value.trim();
        body.mode = 'new';
        body.title_zh = titleZh.value.trim() || null;
        body.title_en = titleEn.value.trim() || null;
        body.style_field = styleField.value || null;
      } else {
        body.layer = target.value;
        body.mode = mode.value;
      }
      return body;
    }
    function send(dry) {
      var body = chosen(dry);
      if (!body.layer) { ctx.problem(Atlas.t('importNeedLayer')); layerId.focus(); return; }
      ctx.submit(body);
    }
    check.addEventListener('click', function () { send(true); });
    go.addEventListener('click', function () { send(false); });
    cancel.addEventListener('click', ctx.cancel);
    return {planBox: planBox};
  };

}());
