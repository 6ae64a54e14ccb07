/* 精致威海规划图 — the admin's panel, continued (through Atlas.adminHooks of atlas-admin.js): each
 * layer restored to a chosen time (POST layers/<id>/restore {as_of, message}) or dropped (DELETE
 * layers/<id> {message}; its history is kept), each after a confirmation naming the layer; the
 * dropped layers listed with "bring back" (POST layers/<id>/undelete); and the security log
 * (GET /api/audit), filtered by user, action and dates, newest first, in a small table.
 *
 * The page's layers are made by the server (one shell per layer in the page): a layer dropped here
 * leaves the map, the layer control and Atlas.config.layers, and is kept aside, so bringing it back
 * puts the same shell back and draws it again from the server. A layer the page never had (dropped
 * before it was loaded) has no shell: bringing it back reloads the page with that layer shown.
 * Every value from the server becomes text. */
(function () {
  'use strict';
  var Atlas = window.Atlas;
  var el = Atlas.el;
  if (!Atlas.adminHooks) { return; }  // no admin panel in this page

  Atlas.strings({
    adminRestoreLayer: ['恢复到某一时间', 'Restore to a time'],
    adminRestoreTime: ['恢复到该时间的状态', 'Restore to how it was at'],
    adminRestoreGo: ['恢复…', 'Restore…'],
    adminRestoreConfirm: ['将图层“{layer}”恢复到 {time} 时的状态？这会记为一次新的修改，之后的修改仍保留在历史中。',
      'Restore the layer “{layer}” to how it was at {time}? This is recorded as a new change; the later ones stay in the history.'],
    adminRestoreYes: ['确认恢复', 'Restore'],
    adminRestored: ['图层“{layer}”已恢复到 {time} 时的状态', '“{layer}” restored to how it was at {time}'],
    adminDrop: ['删除图层', 'Drop layer'],
    adminDropConfirm: ['删除图层“{layer}”？它的历史会保留，可以在“已删除的图层”中恢复。',
      'Drop the layer “{layer}”? Its history is kept; it can be brought back from “Dropped layers”.'],
    adminDropYes: ['确认删除', 'Drop'],
    adminDroppedDone: ['图层“{layer}”已删除', '“{layer}” dropped'],
    adminDroppedList: ['已删除的图层', 'Dropped layers'],
    adminNoDropped: ['没有已删除的图层', 'No dropped layers'],
    adminUndelete: ['恢复图层', 'Bring back'],
    adminUndeleted: ['图层“{layer}”已恢复', '“{layer}” is back'],
    adminReloading: ['图层“{layer}”已恢复，正在重新载入页面以显示它', '“{layer}” is back; reloading the page to show it'],
    adminReason: ['原因（可选）', 'Reason (optional)'],
    adminCancel: ['取消', 'Cancel'],
    adminTimeNeeded: ['请选择时间', 'Choose a time'],
    audit: ['安全日志', 'Security log'],
    auditUser: ['用户', 'User'],
    auditAction: ['操作', 'Action'],
    auditAllActions: ['全部操作', 'Every action'],
    auditSince: ['起始日期', 'Since'],
    auditUntil: ['截止日期', 'Until'],
    auditShow: ['查询', 'Show'],
    auditTime: ['时间', 'Time'],
    auditAddress: ['地址', 'Address'],
    auditOutcome: ['结果', 'Outcome'],
    auditDetail: ['详情', 'Detail'],
    auditNone: ['没有符合条件的记录', 'No events match'],
    auditCapped: ['只显示最新的 {n} 条，请缩小查询范围', 'Only the newest {n} are shown; narrow the filters'],
    auditOk: ['成功', 'ok']
  });

  /* The security log's actions (layers/accounts, layers/web), in words; another shows as it is. */
  var ACTIONS = {
    login: ['登录', 'log in'], login_failed: ['登录失败', 'failed login'], logout: ['退出登录', 'log out'],
    session_expired: ['会话过期', 'session expired'], locked: ['账户锁定', 'account locked'],
    user_added: ['添加用户', 'user added'], grant: ['权限变更', 'permission change'],
    token_created: ['创建令牌', 'token made'], token_revoked: ['撤销令牌', 'token revoked'],
    layer_settings: ['图层设置', 'layer settings'], edit: ['编辑', 'edit'], export: ['导出', 'export'],
    backup: ['备份', 'backup'], import: ['导入', 'import']
  };
  var LIMIT = 200;
  var actionWord = function (a) { return ACTIONS[a] ? ACTIONS[a][Atlas.lang === 'en' ? 1 : 0] : String(a || ''); };
  var layerUrl = function (id, tail) { return Atlas.apiUrl('layers/' + encodeURIComponent(id) + (tail || '')); };
  var failed = function (err) { return Atlas.t('adminFailed', {detail: err.detail || err.message}); };

  function field(parent, label, type, name) {
    var box = el('label', 'atlas-field', null, parent);
    el('span', null, label, box);
    var node = el(type === 'select' ? 'select' : 'input', null, null, box);
    if (type !== 'select') { node.type = type; }
    node.name = name;
    return node;
  }
  function reasonField(parent) {
    var reason = field(parent, Atlas.t('adminReason'), 'text', 'message');
    reason.maxLength = 500;
    return reason;
  }

  // -- the page's own layers: taken out when dropped, put back when brought back --------------------
  var gone = {};  // id -> {layer, cfg, index, name, on}: the shells of layers dropped from this page

  function controlName(layer) {  // the layer's name in the layer control, as the page made it
    var found = null;
    ((Atlas.layerControl && Atlas.layerControl._layers) || []).forEach(function (o) { if (o.layer === layer) { found = o.name; } });
    return found;
  }

  Atlas.dropFromPage = function (id) {
    var layer = Atlas.layers[id], cfg = Atlas.layerConfig(id);
    if (!layer || !cfg) { return; }
    Atlas.map.closePopup();
    gone[id] = {layer: layer, cfg: cfg, index: Atlas.config.layers.indexOf(cfg), name: controlName(layer),
                on: Atlas.map.hasLayer(layer)};
    if (Atlas.layerControl) { Atlas.layerControl.removeLayer(layer); }
    Atlas.map.removeLayer(layer);
    Atlas.config.layers.splice(gone[id].index, 1);
    delete Atlas.layers[id];
    Atlas.changed('layers');
    Atlas.syncUrl();  // a link to this view no longer names it
  };

  /* Puts a layer dropped from this page back and draws it again; false when the page never had it. */
  Atlas.returnToPage = function (id) {
    var was = gone[id];
    if (!was) { return false; }
    delete gone[id];
    Atlas.config.layers.splice(Math.min(was.index, Atlas.config.layers.length), 0, was.cfg);
    Atlas.layers[id] = was.layer;
    if (Atlas.layerControl) { Atlas.layerControl.addOverlay(was.layer, was.name || Atlas.label(was.cfg.title)); }
    if (was.on) { Atlas.map.addLayer(was.layer); }  // onAdd fetches it afresh
    Atlas.order();
    Atlas.changed('layers');
    Atlas.syncUrl();
    return true;
  };

  function bringBackInPage(id, title, ctx) {
    if (Atlas.returnToPage(id)) { ctx.say(Atlas.t('adminUndeleted', {layer: title})); return; }
    ctx.say(Atlas.t('adminReloading', {layer: title}));
    location.href = Atlas.viewUrl({layers: Atlas.visibleLayers().concat([id]).join(',')});
  }

  // -- a layer's row: restore to a time, drop -------------------------------------------------------
  /* The question, what ``extra`` adds below it (a reason), yes and cancel; yes runs ``onYes`` (a promise). */
  function confirmRow(box, question, yesClass, yesText, onYes, extra) {
    el('div', 'atlas-admin-confirm-text', question, box);
    if (extra) { extra(box); }
    var row = el('div', 'atlas-history-actions', null, box);
    var yes = Atlas.button('atlas-danger ' + yesClass, yesText, row);
    Atlas.button('atlas-admin-cancel', Atlas.t('adminCancel'), row).addEventListener('click', function () { box.textContent = ''; });
    var problem = el('div', 'atlas-field-problem', null, box);
    yes.addEventListener('click', function () {
      yes.disabled = true;
      problem.textContent = '';
      onYes().catch(function (err) { yes.disabled = false; problem.textContent = failed(err); });
    });
  }

  function restoreBox(box, id, title, ctx) {
    box.textContent = '';
    var when = field(box, Atlas.t('adminRestoreTime'), 'datetime-local', 'restore_as_of');
    when.step = '1';  // to the second
    var reason = reasonField(box);
    var go = Atlas.button('atlas-admin-restore-go', Atlas.t('adminRestoreGo'), el('div', 'atlas-history-actions', null, box));
    var ask = el('div', 'atlas-admin-ask', null, box);  // the question, under the button that asks it
    go.addEventListener('click', function () {
      var iso = Atlas.inputTime(when.value);
      ask.textContent = '';
      if (!iso) { el('div', 'atlas-field-problem', Atlas.t('adminTimeNeeded'), ask); return; }
      var time = Atlas.timeText(iso);
      confirmRow(ask, Atlas.t('adminRestoreConfirm', {layer: title, time: time}), 'atlas-admin-restore-yes',
                 Atlas.t('adminRestoreYes'), function () {
        return Atlas.send('POST', layerUrl(id, '/restore'), {as_of: iso, message: reason.value.trim()}).then(function () {
          box.textContent = '';
          ctx.say(Atlas.t('adminRestored', {layer: title, time: time}));
          Atlas.map.closePopup();
          if (Atlas.layers[id]) { Atlas.layers[id].refresh(true); }  // the layers redraw: as restored
          Atlas.changed('edited');
        });
      });
    });
  }

  function dropBox(box, id, title, ctx) {
    box.textContent = '';
    var reason = null;
    confirmRow(box, Atlas.t('adminDropConfirm', {layer: title}), 'atlas-admin-drop-yes', Atlas.t('adminDropYes'), function () {
      return Atlas.send('DELETE', layerUrl(id), {message: reason.value.trim()}).then(function () {
        Atlas.dropFromPage(id);
        Atlas.changed('edited');
        return ctx.reload().then(function () { ctx.say(Atlas.t('adminDroppedDone', {layer: title})); });
      });
    }, function (parent) { reason = reasonField(parent); });
  }

  Atlas.adminHooks.layer.push(function (item, id, ctx) {
    var title = ctx.layers.title[id] || id;
    var row = el('div', 'atlas-admin-layer-actions', null, item);
    var box = el('div', 'atlas-admin-layer-box', null, item);
    Atlas.button('atlas-admin-restore-layer', Atlas.t('adminRestoreLayer'), row).addEventListener('click', function () {
      restoreBox(box, id, title, ctx);
    });
    Atlas.button('atlas-danger atlas-admin-drop', Atlas.t('adminDrop'), row).addEventListener('click', function () {
      dropBox(box, id, title, ctx);
    });
  });

  // -- the dropped layers: bring one back -----------------------------------------------------------
  Atlas.adminHooks.dropped.push(function (parent, names, ctx) {
    el('h4', 'atlas-admin-subhead', Atlas.t('adminDroppedList'), parent);
    var list = el('ul', 'atlas-admin-list atlas-admin-dropped-list', null, parent);
    if (!names.length) { el('li', 'atlas-muted', Atlas.t('adminNoDropped'), list); }
    names.forEach(function (name) {
      var was = gone[name], title = was ? Atlas.label(was.cfg.title) || name : name;
      var item = el('li', 'atlas-admin-dropped', null, list);
      item.setAttribute('data-layer', name);
      var head = el('div', 'atlas-admin-head', null, item);
      el('strong', 'atlas-admin-dropped-name', title, head);
      if (title !== name) { el('span', 'atlas-muted', name, head); }
      var reason = reasonField(item);
      var back = Atlas.button('atlas-primary atlas-admin-undelete', Atlas.t('adminUndelete'), item);
      var problem = el('div', 'atlas-field-problem', null, item);
      back.addEventListener('click', function () {
        back.disabled = true;
        problem.textContent = '';
        Atlas.send('POST', layerUrl(name, '/undelete'), {message: reason.value.trim()}).then(function () {
          Atlas.changed('edited');
          return ctx.reload().then(function () { bringBackInPage(name, title, ctx); });
        }).catch(function (err) { back.disabled = false; problem.textContent = failed(err); });
      });
    });
  });

  // -- the security log -----------------------------------------------------------------------------
  function auditTable(parent, events) {
    parent.textContent = '';
    if (!events.length) { el('div', 'atlas-muted', Atlas.t('auditNone'), parent); return; }
    var table = el('table', 'atlas-audit-table', null, parent);
    var head = el('tr', null, null, el('thead', null, null, table));
    ['auditTime', 'auditUser', 'auditAddress', 'auditAction', 'auditOutcome', 'auditDetail'].forEach(function (k) {
      el('th', null, Atlas.t(k), head);
    });
    var body = el('tbody', null, null, table);
    events.slice().sort(function (a, b) {  // newest first (the server's order; equal times by id)
      return String(b.time).localeCompare(String(a.time)) || (b.id || 0) - (a.id || 0);
    }).forEach(function (ev) {
      var row = el('tr', 'atlas-audit-event' + (ev.outcome && ev.outcome !== 'ok' ? ' atlas-audit-bad' : ''), null, body);
      row.setAttribute('data-action', String(ev.action || ''));
      el('td', 'atlas-audit-time', Atlas.timeText(ev.time), row).title = String(ev.time || '');
      el('td', 'atlas-audit-user', ev.user === null || ev.user === undefined ? '—' : ev.user, row);
      el('td', 'atlas-audit-address', ev.address || '—', row);
      el('td', 'atlas-audit-action', actionWord(ev.action), row).title = String(ev.action || '');
      el('td', 'atlas-audit-outcome', ev.outcome === 'ok' ? Atlas.t('auditOk') : (ev.outcome || '—'), row);
      el('td', 'atlas-audit-detail', ev.detail || '', row);
    });
    if (events.length >= LIMIT) { el('div', 'atlas-muted', Atlas.t('auditCapped', {n: LIMIT}), parent); }
  }

  Atlas.adminHooks.sections.push(function (box) {
    var section = el('section', 'atlas-admin-audit', null, box);
    el('h3', null, Atlas.t('audit'), section);
    var filters = el('form', 'atlas-audit-filters', null, section);
    var user = field(filters, Atlas.t('auditUser'), 'text', 'audit_user');
    user.autocomplete = 'off';
    var action = field(filters, Atlas.t('auditAction'), 'select', 'audit_action');
    Atlas.option(action, '', Atlas.t('auditAllActions'), true);
    Object.keys(ACTIONS).forEach(function (a) { Atlas.option(action, a, actionWord(a)); });
    var since = field(filters, Atlas.t('auditSince'), 'date', 'audit_since');
    var until = field(filters, Atlas.t('auditUntil'), 'date', 'audit_until');
    var show = el('button', 'atlas-primary atlas-audit-show', Atlas.t('auditShow'), filters);
    show.type = 'submit';
    var out = el('div', 'atlas-audit-out', null, section);
    function load() {
      var params = {user: user.value.trim() || null, action: action.value || null, limit: LIMIT,
                    since: since.value ? Atlas.inputTime(since.value + 'T00:00') : null,     // local days, sent as UTC
                    until: until.value ? Atlas.inputTime(until.value + 'T23:59:59') : null};
      show.disabled = true;
      return Atlas.send('GET', Atlas.apiUrl('audit', params)).then(function (body) {
        auditTable(out, body.events || []);
      }).catch(function (err) {
        out.textContent = '';
        el('div', 'atlas-field-problem', Atlas.t('adminLoadFailed', {detail: err.detail || err.message}), out);
      }).then(function () { show.disabled = false; });
    }
    filters.addEventListener('submit', function (e) { e.preventDefault(); load(); });
    return load;
  });
}());
