/* 精致威海规划图 — editing features, for editors granted the layer and admins (Atlas.canEdit; the
 * server enforces, the page only hides): "编辑/Edit" and "删除/Delete" in the popup, a "新建要素/New
 * feature" tool. A form made from the layer's fields (/api/layers): pick-lists for category, status,
 * district, functional area and accuracy from the catalog's vocabularies in the config, numbers and
 * dates checked, text as text; the shape drawn or edited with atlas-draw.js. Each save takes an
 * optional reason and the version it started from (If-Match): a feature someone else changed since
 * is not overwritten (412: their values shown, reload offered). Values only ever become text. */
(function () {
  'use strict';
  var Atlas = window.Atlas;
  var el = Atlas.el;

  Atlas.strings({
    edit: ['编辑', 'Edit'],
    editTitle: ['编辑要素', 'Edit feature'],
    newFeature: ['新建要素', 'New feature'],
    editLayer: ['图层', 'Layer'],
    editKind: ['几何类型', 'Geometry'],
    kindPoint: ['点', 'point'], kindLine: ['线', 'line'], kindPolygon: ['面', 'polygon'],
    editShape: ['编辑形状', 'Edit the shape'],
    shapeUnchanged: ['形状未修改', 'Shape unchanged'],
    shapeChanged: ['形状已修改（保存后生效）', 'Shape changed (kept when saved)'],
    shapeNeeded: ['请先在地图上画出图形', 'Draw the shape on the map first'],
    reason: ['修改原因（可选）', 'Reason (optional)'],
    reasonHint: ['例如：项目已开工', 'e.g. construction has started'],
    save: ['保存', 'Save'],
    saving: ['正在保存…', 'Saving…'],
    saved: ['已保存', 'Saved'],
    deleted: ['已删除', 'Deleted'],
    cancel: ['取消', 'Cancel'],
    deleteFeature: ['删除', 'Delete'],
    deleteConfirm: ['确定删除此要素？删除会记入历史，可以恢复。', 'Delete this feature? The deletion is kept in the history and can be undone.'],
    deleteYes: ['确认删除', 'Delete it'],
    nothingChanged: ['没有修改', 'Nothing was changed'],
    invalidInt: ['请输入整数', 'Enter a whole number'],
    invalidNumber: ['请输入数字', 'Enter a number'],
    invalidDate: ['请输入日期（年-月-日）', 'Enter a date (year-month-day)'],
    invalidJson: ['格式错误（需为 JSON）', 'Not valid JSON'],
    invalidRequired: ['必填', 'Required'],
    fixFields: ['请先改正标出的字段', 'Correct the marked fields first'],
    stale: ['此要素已被他人修改，您的修改未保存。当前内容如下：', 'Someone else changed this feature; your changes were not saved. It is now:'],
    staleReload: ['载入最新版本', 'Load the current version'],
    saveFailed: ['保存失败：{detail}', 'Could not save: {detail}'],
    loadFailed: ['无法读取要素：{detail}', 'The feature could not be read: {detail}'],
    empty: ['（空）', '(empty)'],
    noEditable: ['没有可编辑的图层', 'No layer you may edit']
  });

  // fields the form leaves alone: the key, and what the geometry gives
  var SKIP = {id: 1, area_m2: 1, area_ha: 1, area_mu: 1, length_km: 1, layer: 1};
  var LONG = /^description|_note_/;
  // what a new feature of a catalog layer must have (the server says so too); a name always
  var NEEDED = {name_zh: 1, category: 1, district: 1};
  var meta = null;  // layer id -> /api/layers entry

  function layerMeta() {
    if (meta) { return Promise.resolve(meta); }
    return Atlas.fetchJson(Atlas.apiUrl('layers')).then(function (body) {
      meta = {};
      body.layers.forEach(function (lay) { meta[lay.id] = lay; });
      return meta;
    });
  }

  // -- pick-lists from the catalog's vocabularies (the config) ---------------------------------------
  function choices(name, layerId) {
    var vocab = Atlas.config.vocab, out = {};
    if (name === 'category') {
      Object.keys(vocab.category).forEach(function (k) { if (vocab.category[k].layer === layerId) { out[k] = vocab.category[k]; } });
      var st = Atlas.layerConfig(layerId).style || {}, cats = st.by === 'category' ? st.categories || {} : {};
      Object.keys(cats).forEach(function (k) { out[k] = out[k] || cats[k].label; });
      return out;
    }
    return {status: vocab.status, district: vocab.districts, functional_area: vocab.functional_areas,
            accuracy: vocab.accuracy}[name] || null;
  }

  var isDate = function (f) { return f.type === 'date' || f.name === 'date'; };
  var show = function (v) {
    if (v === null || v === undefined || v === '') { return Atlas.t('empty'); }
    return typeof v === 'object' ? JSON.stringify(v) : String(v);
  };

  // -- the form: one input a field -------------------------------------------------------------------
  function buildForm(box, fields, layerId, props, creating) {
    var inputs = {}, catalogLayer = Object.keys(choices('category', layerId)).length > 0;
    fields.filter(function (f) { return !SKIP[f.name]; }).forEach(function (f) {
      var label = el('label', 'atlas-field atlas-edit-field', null, box);
      el('span', null, Atlas.label(f.title) || f.name, label);
      var value = props[f.name], input, list = choices(f.name, layerId);
      if (list) {
        input = el('select', null, null, label);
        Atlas.option(input, '', Atlas.t('empty'), value === null || value === undefined || value === '');
        Object.keys(list).forEach(function (k) { Atlas.option(input, k, Atlas.label(list[k]) || k, value === k); });
        if (value && !list[value]) { Atlas.option(input, value, value, true); }
      } else if (f.type === 'json' || LONG.test(f.name)) {
        input = el('textarea', null, null, label);
        input.rows = f.type === 'json' ? 3 : 2;
        input.value = value === null || value === undefined ? '' : (f.type === 'json' ? JSON.stringify(value) : String(value));
      } else if (f.type === 'bool') {
        input = el('input', null, null, label);
        input.type = 'checkbox';
        input.checked = !!value;
      } else {
        input = el('input', null, null, label);
        input.type = f.type === 'int' || f.type === 'float' ? 'number' : (isDate(f) ? 'date' : 'text');
        if (f.type === 'int') { input.step = '1'; }
        if (f.type === 'float') { input.step = 'any'; }
        input.value = value === null || value === undefined ? '' : String(value);
      }
      input.name = f.name;
      var problem = el('span', 'atlas-field-problem', null, label);
      problem.hidden = true;
      var required = f.name === 'name_zh' || (creating && catalogLayer && !!NEEDED[f.name]);
      if (required) { input.required = true; L.DomUtil.addClass(label, 'atlas-required'); }
      inputs[f.name] = {field: f, input: input, problem: problem, required: required};
    });
    return inputs;
  }

  /* The values of the form as properties, or null when one is wrong (marked next to it). */
  function readForm(inputs) {
    var out = {}, ok = true;
    Object.keys(inputs).forEach(function (name) {
      var item = inputs[name], f = item.field, input = item.input, raw = input.value, value = raw.trim ? raw.trim() : raw, bad = null;
      if (f.type === 'bool') {
        value = input.checked;
      } else if (value === '') {  // empty; a number input is empty too when what was typed is no number
        value = null;
        if (input.validity && input.validity.badInput) { bad = isDate(f) ? 'invalidDate' : 'invalidNumber'; }
        else if (item.required) { bad = 'invalidRequired'; }
      } else if (f.type === 'int') {
        value = Number(value);
        if (!Number.isInteger(value)) { bad = 'invalidInt'; }
      } else if (f.type === 'float') {
        value = Number(value);
        if (!isFinite(value)) { bad = 'invalidNumber'; }
      } else if (isDate(f)) {
        var d = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value), t = d && new Date(Date.UTC(+d[1], d[2] - 1, +d[3]));
        if (!d || t.getUTCMonth() !== d[2] - 1 || t.getUTCDate() !== +d[3]) { bad = 'invalidDate'; }
      } else if (f.type === 'json') {
        try { value = JSON.parse(value); } catch (e) { bad = 'invalidJson'; }
      }
      item.problem.textContent = bad ? Atlas.t(bad) : '';
      item.problem.hidden = !bad;
      L.DomUtil[bad ? 'addClass' : 'removeClass'](input, 'atlas-invalid');
      if (bad) { ok = false; } else { out[name] = value; }
    });
    return ok ? out : null;
  }

  function same(a, b) {
    var blank = function (v) { return v === undefined || v === '' ? null : v; };
    return JSON.stringify(blank(a)) === JSON.stringify(blank(b));
  }

  // -- the panel -----------------------------------------------------------------------------------
  var panel = null;

  function close() {
    if (!panel) { return; }
    if (Atlas.draw.editor()) { Atlas.draw.stop(); }
    panel.box.remove();
    panel = null;
  }

  function featureUrl(layerId, id) {
    return Atlas.apiUrl('layers/' + encodeURIComponent(layerId) + '/features' + (id ? '/' + encodeURIComponent(id) : ''));
  }

  function afterWrite(layerId, text) {
    var layer = Atlas.layers[layerId];
    if (layer) { layer.refresh(true); }
    Atlas.map.closePopup();
    Atlas.notify(text, 'info');
    Atlas.changed('edited');
  }

  /* The panel for ``feature`` (with its version) of ``layerId``, or a new feature (feature null). */
  function openPanel(layerId, feature) {
    close();
    var box = el('div', 'atlas-card atlas-edit', null, Atlas.map.getContainer());
    box.setAttribute('role', 'dialog');
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.disableScrollPropagation(box);
    var state = panel = {box: box, layer: layerId, feature: feature, version: feature && feature.version,
                         shape: null, inputs: {}};
    var head = el('div', 'atlas-card-head', null, box);
    el('h2', null, Atlas.t(feature ? 'editTitle' : 'newFeature'), head);
    Atlas.button('atlas-card-close', '×', head, Atlas.t('close')).addEventListener('click', close);
    var top = el('div', 'atlas-edit-top', null, box);
    var shapeRow = el('div', 'atlas-edit-shape', null, box);
    var form = el('div', 'atlas-edit-form', null, box);
    var reasonLabel = el('label', 'atlas-field atlas-edit-reason', null, box);
    el('span', null, Atlas.t('reason'), reasonLabel);
    var reason = el('input', null, null, reasonLabel);
    reason.name = 'message';
    reason.maxLength = 500;
    reason.placeholder = Atlas.t('reasonHint');
    var message = el('div', 'atlas-message', null, box);
    message.hidden = true;
    message.setAttribute('role', 'status');
    var actions = el('div', 'atlas-card-actions', null, box);
    var save = Atlas.button('atlas-primary atlas-edit-save', Atlas.t('save'), actions);
    var del = feature ? Atlas.button('atlas-danger atlas-edit-delete', Atlas.t('deleteFeature'), actions) : null;
    Atlas.button('atlas-edit-cancel', Atlas.t('cancel'), actions).addEventListener('click', close);
    var confirmBox = el('div', 'atlas-edit-confirm', null, box);
    confirmBox.hidden = true;

    function say(text, kind) {
      message.textContent = '';
      message.className = 'atlas-message' + (kind ? ' atlas-' + kind : '');
      message.hidden = !text;
      if (text instanceof Node) { message.appendChild(text); } else { message.textContent = text || ''; }
      if (text && message.scrollIntoView) { message.scrollIntoView({block: 'nearest'}); }
    }
    state.say = say;

    function shapeStatus(ed) {
      shapeRow.textContent = '';
      if (feature) {
        var b = Atlas.button('atlas-edit-shape-button', Atlas.t('editShape'), shapeRow);
        b.addEventListener('click', startShape);
        b.hidden = !!ed;
      }
      var changed = ed && (!feature || ed.stack.length > 0);
      el('span', 'atlas-muted', Atlas.t(changed ? 'shapeChanged' : (feature ? 'shapeUnchanged' : 'shapeNeeded')), shapeRow);
    }

    function startShape(kind) {
      var cfg = Atlas.layerConfig(state.layer);
      var geom = feature && feature.geometry;
      var type = geom ? geom.type : (/^(Multi)?(Point|LineString|Polygon)$/.test(cfg.geometry) ? cfg.geometry : null);
      kind = geom || type ? Atlas.kind(type) : kind;
      if (!type) { type = {point: 'Point', line: 'LineString', polygon: 'Polygon'}[kind]; }
      state.shape = Atlas.draw.start({kind: kind, type: type, geometry: geom || null, onChange: shapeStatus,
                                      onCancel: function () { state.shape = null; shapeStatus(null); }});
    }

    var filled = 0;
    function fill(props) {
      var mine = ++filled;  // a later fill (another layer chosen) wins
      form.textContent = '';
      layerMeta().then(function (m) {
        if (mine !== filled) { return; }
        var fields = (m[state.layer] || {}).fields || [];
        state.inputs = buildForm(form, fields, state.layer, props || {}, !feature);
        state.original = props || {};
      }).catch(function (err) { say(Atlas.t('loadFailed', {detail: err.message}), 'error'); });
    }

    if (feature) {
      el('div', 'atlas-edit-which', Atlas.label(Atlas.layerConfig(layerId).title) + ' · ' + (feature.id || ''), top);
      shapeStatus(null);
    } else {
      var editable = Atlas.editableLayers();
      var label = el('label', 'atlas-field', null, top);
      el('span', null, Atlas.t('editLayer'), label);
      var pick = el('select', 'atlas-edit-layer', null, label);
      pick.name = 'layer';
      editable.forEach(function (cfg) { Atlas.option(pick, cfg.id, Atlas.label(cfg.title), cfg.id === layerId); });
      var kindLabel = el('label', 'atlas-field', null, top);
      el('span', null, Atlas.t('editKind'), kindLabel);
      var kindPick = el('select', 'atlas-edit-kind', null, kindLabel);
      ['point', 'line', 'polygon'].forEach(function (k) {
        Atlas.option(kindPick, k, Atlas.t('kind' + k.charAt(0).toUpperCase() + k.slice(1)), k === 'polygon');
      });
      var restart = function () {
        state.layer = pick.value;
        var typed = /^(Multi)?(Point|LineString|Polygon)$/.test(Atlas.layerConfig(state.layer).geometry);
        kindLabel.hidden = typed;
        startShape(kindPick.value);
        fill({});
      };
      pick.addEventListener('change', restart);
      kindPick.addEventListener('change', restart);
      restart();
    }
    if (feature) { fill(feature.properties); }

    function send() {
      var props = readForm(state.inputs);
      if (!props) { say(Atlas.t('fixFields'), 'error'); return; }
      var ed = state.shape, body = {message: reason.value.trim()};
      if (ed && ed.drawing) { ed.finish(); }
      if (ed && !ed.valid()) { say(ed.complete() ? Atlas.t('drawSelfCross') : Atlas.t('drawIncomplete'), 'error'); return; }
      if (!feature && !ed) { say(Atlas.t('shapeNeeded'), 'error'); return; }
      var geometryChanged = ed && (!feature || ed.stack.length > 0);
      if (feature) {
        body.properties = {};
        Object.keys(props).forEach(function (k) { if (!same(props[k], state.original[k])) { body.properties[k] = props[k]; } });
        if (geometryChanged) { body.geometry = ed.geometry(); }
        if (!Object.keys(body.properties).length && !body.geometry) { say(Atlas.t('nothingChanged'), 'error'); return; }
      } else {
        Object.keys(props).forEach(function (k) { if (props[k] === null) { delete props[k]; } });
        L.extend(body, {type: 'Feature', properties: props, geometry: ed.geometry()});
      }
      save.disabled = true;
      say(Atlas.t('saving'));
      var headers = feature ? {'If-Match': '"' + state.version + '"'} : {};
      Atlas.send(feature ? 'PATCH' : 'POST', featureUrl(state.layer, feature && feature.id), body, headers)
        .then(function () {
          var layerNow = state.layer;
          close();
          afterWrite(layerNow, Atlas.t('saved'));
        }).catch(failed).then(function () { save.disabled = false; });
    }

    function failed(err) {
      var b = err.body || {};
      if (err.status === 412 && b.current) { stale(b.current); return; }
      if (b.location && state.shape) { state.shape.markProblem(b.location, err.detail); }
      var named = b.parameter && state.inputs[b.parameter];  // the field the server refused: marked
      if (named) {
        named.problem.textContent = err.detail || err.message;
        named.problem.hidden = false;
        L.DomUtil.addClass(named.input, 'atlas-invalid');
      }
      say(Atlas.t('saveFailed', {detail: err.detail || err.message}), 'error');
    }

    function stale(current) {
      var node = el('div'), props = current.properties || {};
      el('div', null, Atlas.t('stale'), node);
      var list = el('dl', 'atlas-edit-stale', null, node);
      Object.keys(state.inputs).forEach(function (k) {
        if (same(props[k], state.original[k])) { return; }
        el('dt', null, Atlas.label(state.inputs[k].field.title) || k, list);
        el('dd', null, show(props[k]), list);
      });
      Atlas.button('atlas-edit-reload', Atlas.t('staleReload'), node).addEventListener('click', function () {
        state.version = current.version;
        feature.properties = props;
        feature.geometry = current.geometry || feature.geometry;
        if (state.shape) { Atlas.draw.stop(); }
        fill(props);
        say(null);
      });
      say(node, 'error');
    }

    save.addEventListener('click', send);
    if (del) {
      del.addEventListener('click', function () {
        confirmBox.textContent = '';
        confirmBox.hidden = false;
        el('div', null, Atlas.t('deleteConfirm'), confirmBox);
        var yes = Atlas.button('atlas-danger atlas-edit-delete-yes', Atlas.t('deleteYes'), confirmBox);
        Atlas.button(null, Atlas.t('cancel'), confirmBox).addEventListener('click', function () { confirmBox.hidden = true; });
        yes.addEventListener('click', function () {
          yes.disabled = true;
          Atlas.send('DELETE', featureUrl(layerId, feature.id), {message: reason.value.trim()},
                     {'If-Match': '"' + state.version + '"'}).then(function () {
            close();
            afterWrite(layerId, Atlas.t('deleted'));
          }).catch(function (err) { confirmBox.hidden = true; failed(err); });
        });
      });
    }
    return state;
  }

  /* Edit the feature ``id`` of ``layerId``: read it whole, with its version, then the panel. */
  Atlas.editFeature = function (layerId, id) {
    return Atlas.send('GET', Atlas.apiUrl('features/' + encodeURIComponent(id))).then(function (f) {
      return openPanel(layerId, f);
    }).catch(function (err) { Atlas.notify(Atlas.t('loadFailed', {detail: err.message}), 'error'); });
  };
  Atlas.newFeature = function (layerId) { return openPanel(layerId || (Atlas.editableLayers()[0] || {}).id, null); };
  Atlas.editPanel = function () { return panel; };
  Atlas.layerMeta = layerMeta;

  // -- the popup's buttons and the toolbar's tool ----------------------------------------------------
  Atlas.popupSections.push(function (box, feature, cfg) {
    if (!cfg || !Atlas.canEdit(cfg.id)) { return; }
    var id = feature.id || (feature.properties || {}).id;
    var row = el('div', 'atlas-popup-edit', null, box);
    Atlas.button('atlas-popup-edit-button', Atlas.t('edit'), row).addEventListener('click', function (e) {
      L.DomEvent.stop(e);
      Atlas.map.closePopup();
      Atlas.editFeature(cfg.id, id);
    });
  });

  Atlas.tools.push({rank: 30, build: function (bar, map, button) {
    var b = button(bar, 'atlas-tool-new', Atlas.t('newFeature'), function () {
      if (panel && !panel.feature) { close(); return; }
      if (Atlas.editableLayers().length) { Atlas.newFeature(); } else { Atlas.notify(Atlas.t('noEditable'), 'warning'); }
    });
    b.hidden = true;
    Atlas.on(function (what) {
      if (what !== 'user' && what !== 'asof') { return; }
      b.hidden = !Atlas.editableLayers().length;
      if (panel && !Atlas.canEdit(panel.layer)) { close(); }
    });
    return null;
  }});
}());
