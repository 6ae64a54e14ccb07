/* 精致威海规划图 — the admin's panel, behind a toolbar button shown to admins only (the server
 * refuses everyone else anyway): the users (add one with a name, role, password and grants; change
 * a role, the layers an editor may edit, a password; disable and enable), API tokens (made for
 * oneself and shown once; anyone's revoked) and the layers hidden from viewers. Each change is one
 * request to the accounts API (Atlas.send: JSON and the CSRF token) and its answer is shown; every
 * value from the server becomes text. Logging out empties the panel. Other modules add to it through
 * Atlas.adminHooks (atlas-admin-layers.js: restore and drop a layer, bring one back, the security log). */
(function () {
  'use strict';
  var Atlas = window.Atlas;
  var el = Atlas.el;
  var ROLES = ['viewer', 'editor', 'admin'];

  Atlas.strings({
    admin: ['系统管理', 'Administration'],
    adminUsers: ['用户', 'Users'],
    adminAddUser: ['添加用户', 'Add a user'],
    adminAdd: ['添加', 'Add'],
    adminRole: ['角色', 'Role'],
    adminGrants: ['可编辑图层', 'May edit'],
    adminGrantsAll: ['全部图层（含以后新增）', 'Every layer (new ones too)'],
    adminGrantsSave: ['保存授权', 'Save the grants'],
    adminGrantsNote: ['授权只对编辑者有效', 'Grants count for editors only'],
    adminDisable: ['停用', 'Disable'],
    adminEnable: ['启用', 'Enable'],
    adminDisabled: ['已停用', 'disabled'],
    adminLocked: ['锁定至 {time}', 'locked until {time}'],
    adminLastLogin: ['上次登录 {time}', 'last login {time}'],
    adminNever: ['从未登录', 'never logged in'],
    adminPassword: ['初始密码', 'Password'],
    adminNewPassword: ['新密码', 'New password'],
    adminSetPassword: ['重设密码', 'Set a new password'],
    adminPasswordRule: ['至少10个字符，包含字母、数字、其他字符中的至少两类，不含用户名',
      'At least 10 characters of two kinds or more (letters, digits, others), without the user name'],
    adminTokens: ['API 令牌', 'API tokens'],
    adminTokenName: ['令牌名称（用途）', 'Token name (what uses it)'],
    adminTokenCreate: ['创建令牌', 'Create a token'],
    adminTokenOnce: ['请立即复制此令牌，它只显示这一次：', 'Copy this token now; it is shown only this once:'],
    adminTokenOwner: ['{owner} 的令牌', 'of {owner}'],
    adminRevoke: ['撤销', 'Revoke'],
    adminRevoked: ['已撤销', 'revoked'],
    adminTokenUsed: ['上次使用 {time}', 'last used {time}'],
    adminNoTokens: ['没有令牌', 'No tokens'],
    adminLayers: ['图层可见性', 'Layer visibility'],
    adminHidden: ['对访客和查看者隐藏', 'Hidden from visitors and viewers'],
    adminDone: ['已保存', 'Saved'],
    adminFailed: ['操作失败：{detail}', 'Failed: {detail}'],
    adminLoadFailed: ['无法读取：{detail}', 'Could not be read: {detail}']
  });

  /* What other modules add to the panel: ``layer(item, id, ctx)`` to each live layer's row,
   * ``dropped(section, names, ctx)`` after the layers (the dropped ones), ``sections(body)`` a
   * section of its own, returning its loader. ctx: {layers, reload (the layers section, read again), say}. */
  Atlas.adminHooks = {layer: [], dropped: [], sections: []};

  var isAdmin = function () { return !!(Atlas.user && Atlas.user.role === 'admin'); };
  var roleWord = function (r) { return Atlas.t({viewer: 'roleViewer', editor: 'roleEditor', admin: 'roleAdmin'}[r] || r); };

  function input(parent, label, type, name) {
    var box = el('label', 'atlas-field', null, parent);
    el('span', null, label, box);
    var node = el(type === 'select' ? 'select' : 'input', null, null, box);
    if (type !== 'select') { node.type = type; }
    node.name = name;
    if (type === 'password') { node.autocomplete = 'new-password'; }
    return node;
  }

  function roleSelect(parent, value, name) {
    var select = input(parent, Atlas.t('adminRole'), 'select', name || 'role');
    ROLES.forEach(function (r) { Atlas.option(select, r, roleWord(r), r === value); });
    return select;
  }

  function say(node, text, bad) {
    node.textContent = text || '';
    node.className = 'atlas-admin-msg' + (bad ? ' atlas-field-problem' : ' atlas-muted');
    node.hidden = !text;
  }
  var failed = function (err) { return Atlas.t('adminFailed', {detail: err.detail || err.message}); };

  // -- the layers an editor may edit: '*' or some of them -------------------------------------------
  function grantText(grants, layers) {
    if (!grants || !grants.length) { return Atlas.t('grantsNone'); }
    if (grants.indexOf('*') >= 0) { return Atlas.t('grantsAll'); }
    return grants.map(function (g) { return layers.title[g] || g; }).join('、');
  }

  /* Checkboxes for '*' and each layer in ``parent``; returns a function giving the ones ticked. */
  function grantPicks(parent, layers, grants) {
    var box = el('div', 'atlas-admin-picks', null, parent), boxes = [];
    ['*'].concat(layers.ids).forEach(function (id) {
      var label = el('label', 'atlas-admin-pick', null, box);
      var tick = el('input', null, null, label);
      tick.type = 'checkbox';
      tick.name = 'grant';
      tick.value = id;
      tick.checked = (grants || []).indexOf(id) >= 0;
      el('span', null, id === '*' ? Atlas.t('adminGrantsAll') : layers.title[id], label);
      boxes.push(tick);
    });
    return function () { return boxes.filter(function (b) { return b.checked; }).map(function (b) { return b.value; }); };
  }

  // -- users ---------------------------------------------------------------------------------------
  function userUrl(name) { return Atlas.apiUrl('users/' + encodeURIComponent(name)); }

  function fillUser(item, user, layers, note) {
    item.textContent = '';
    var head = el('div', 'atlas-admin-head', null, item);
    el('strong', 'atlas-admin-user-name', user.name, head);
    if (user.disabled) { el('span', 'atlas-chip atlas-admin-state', Atlas.t('adminDisabled'), head); }
    if (user.locked_until) {
      el('span', 'atlas-chip atlas-admin-state', Atlas.t('adminLocked', {time: Atlas.timeText(user.locked_until)}), head);
    }
    el('span', 'atlas-muted', user.last_login ? Atlas.t('adminLastLogin', {time: Atlas.timeText(user.last_login)})
                                              : Atlas.t('adminNever'), head);
    var row = el('div', 'atlas-admin-row', null, item);
    var role = roleSelect(row, user.role);
    var toggle = Atlas.button('atlas-admin-disable', Atlas.t(user.disabled ? 'adminEnable' : 'adminDisable'), row);
    var grants = el('details', 'atlas-admin-grants', null, item);
    el('summary', null, Atlas.t('adminGrants') + '：' + grantText(user.grants, layers), grants);
    var picks = grantPicks(grants, layers, user.grants);
    if (user.role !== 'editor') { el('div', 'atlas-muted', Atlas.t('adminGrantsNote'), grants); }
    var saveGrants = Atlas.button('atlas-admin-grants-save', Atlas.t('adminGrantsSave'), grants);
    var pwBox = el('details', 'atlas-admin-password', null, item);
    el('summary', null, Atlas.t('adminSetPassword'), pwBox);
    var pw = input(pwBox, Atlas.t('adminNewPassword'), 'password', 'new_password');
    el('div', 'atlas-muted', Atlas.t('adminPasswordRule'), pwBox);
    var setPw = Atlas.button('atlas-admin-password-set', Atlas.t('adminSetPassword'), pwBox);
    var msg = el('div', 'atlas-admin-msg', null, item);
    say(msg, note);

    function change(body, button) {
      if (button) { button.disabled = true; }
      say(msg, null);
      return Atlas.send('PATCH', userUrl(user.name), body).then(function (changed) {
        fillUser(item, changed, layers, Atlas.t('adminDone'));
        if (Atlas.user && changed.name === Atlas.user.name) { Atlas.loadSession().catch(function () { return null; }); }
      }).catch(function (err) {
        role.value = user.role;
        if (button) { button.disabled = false; }
        say(msg, failed(err), true);
      });
    }
    role.addEventListener('change', function () { change({role: role.value}, role); });
    toggle.addEventListener('click', function () { change({disabled: !user.disabled}, toggle); });
    saveGrants.addEventListener('click', function () { change({grants: picks()}, saveGrants); });
    setPw.addEventListener('click', function () { if (pw.value) { change({password: pw.value}, setPw); } });
  }

  function usersSection(box, layers) {
    var section = el('section', 'atlas-admin-users', null, box);
    el('h3', null, Atlas.t('adminUsers'), section);
    var list = el('ul', 'atlas-admin-list', null, section);
    var problem = el('div', 'atlas-field-problem', null, section);
    function load() {
      return Atlas.send('GET', Atlas.apiUrl('users')).then(function (body) {
        list.textContent = '';
        (body.users || []).forEach(function (user) {
          var item = el('li', 'atlas-admin-user', null, list);
          item.setAttribute('data-user', user.name);
          fillUser(item, user, layers);
        });
      }).catch(function (err) { problem.textContent = Atlas.t('adminLoadFailed', {detail: err.message}); });
    }

    var add = el('details', 'atlas-admin-add', null, section);
    el('summary', null, Atlas.t('adminAddUser'), add);
    var form = el('form', null, null, add);
    var name = input(form, Atlas.t('userName'), 'text', 'name');
    name.autocomplete = 'off';
    var role = roleSelect(form, 'editor');
    var pw = input(form, Atlas.t('adminPassword'), 'password', 'password');
    el('div', 'atlas-muted', Atlas.t('adminPasswordRule'), form);
    el('div', 'atlas-admin-label', Atlas.t('adminGrants'), form);
    var picks = grantPicks(form, layers, []);
    var msg = el('div', 'atlas-admin-msg', null, form);
    msg.hidden = true;
    var submit = el('button', 'atlas-primary atlas-admin-add-button', Atlas.t('adminAdd'), form);
    submit.type = 'submit';
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var body = {name: name.value.trim(), role: role.value, password: pw.value};
      if (picks().length) { body.grants = picks(); }
      submit.disabled = true;
      Atlas.send('POST', Atlas.apiUrl('users'), body).then(function (user) {
        form.reset();
        say(msg, Atlas.t('adminDone') + '：' + user.name);
        return load();
      }).catch(function (err) { say(msg, failed(err), true); }).then(function () { submit.disabled = false; });
    });
    return load;
  }

  // -- tokens --------------------------------------------------------------------------------------
  function fillToken(item, token) {
    item.textContent = '';
    var head = el('div', 'atlas-admin-head', null, item);
    el('strong', 'atlas-admin-token-name', token.name, head);
    el('span', 'atlas-chip', roleWord(token.role), head);
    el('span', 'atlas-muted', Atlas.t('adminTokenOwner', {owner: token.owner}), head);
    if (token.revoked) { el('span', 'atlas-chip atlas-admin-state', Atlas.t('adminRevoked'), head); }
    if (token.last_used) { el('span', 'atlas-muted', Atlas.t('adminTokenUsed', {time: Atlas.timeText(token.last_used)}), head); }
    if (token.revoked) { return; }
    var msg = el('div', 'atlas-admin-msg', null, item);
    msg.hidden = true;
    var revoke = Atlas.button('atlas-danger atlas-admin-revoke', Atlas.t('adminRevoke'), item);
    revoke.addEventListener('click', function () {
      revoke.disabled = true;
      Atlas.send('DELETE', Atlas.apiUrl('tokens/' + encodeURIComponent(token.id))).then(function (done) {
        fillToken(item, done);
      }).catch(function (err) { revoke.disabled = false; say(msg, failed(err), true); });
    });
  }

  function tokensSection(box) {
    var section = el('section', 'atlas-admin-tokens', null, box);
    el('h3', null, Atlas.t('adminTokens'), section);
    var list = el('ul', 'atlas-admin-list', null, section);
    var form = el('form', 'atlas-admin-token-form', null, section);
    var name = input(form, Atlas.t('adminTokenName'), 'text', 'token_name');
    name.maxLength = 64;
    var role = roleSelect(form, 'viewer', 'token_role');
    var submit = el('button', 'atlas-primary atlas-admin-token-create', Atlas.t('adminTokenCreate'), form);
    submit.type = 'submit';
    var shown = el('div', 'atlas-admin-token-new', null, section);  // the new token, this once
    shown.hidden = true;
    var msg = el('div', 'atlas-admin-msg', null, section);
    msg.hidden = true;
    function load() {
      return Atlas.send('GET', Atlas.apiUrl('tokens')).then(function (body) {
        list.textContent = '';
        (body.tokens || []).forEach(function (token) {
          var item = el('li', 'atlas-admin-token', null, list);
          item.setAttribute('data-token', String(token.id));
          fillToken(item, token);
        });
        if (!list.children.length) { el('li', 'atlas-muted', Atlas.t('adminNoTokens'), list); }
      }).catch(function (err) { say(msg, Atlas.t('adminLoadFailed', {detail: err.message}), true); });
    }
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      submit.disabled = true;
      say(msg, null);
      Atlas.send('POST', Atlas.apiUrl('tokens'), {name: name.value.trim(), role: role.value}).then(function (made) {
        form.reset();
        shown.textContent = '';
        shown.hidden = false;
        el('div', null, Atlas.t('adminTokenOnce'), shown);
        var secret = el('input', 'atlas-admin-secret', null, shown);
        secret.readOnly = true;
        secret.value = made.token;
        secret.addEventListener('focus', function () { secret.select(); });
        return load();
      }).catch(function (err) { say(msg, failed(err), true); }).then(function () { submit.disabled = false; });
    });
    return function () { shown.textContent = ''; shown.hidden = true; return load(); };
  }

  // -- the layers: hidden from viewers (and what Atlas.adminHooks add) -------------------------------
  /* The layers as the admin sees them (hidden ones too), read into ``layers`` in place: the page's
   * list may be a visitor's, and a layer dropped or brought back changes it. */
  function readLayers(layers) {
    return Atlas.send('GET', Atlas.apiUrl('layers')).then(function (got) {
      layers.ids = [];
      layers.title = {};
      (got.layers || []).forEach(function (lay) { layers.ids.push(lay.id); layers.title[lay.id] = Atlas.label(lay.title) || lay.id; });
      return layers;
    });
  }

  function layersSection(box, layers) {
    var section = el('section', 'atlas-admin-layers', null, box);
    el('h3', null, Atlas.t('adminLayers'), section);
    var list = el('ul', 'atlas-admin-list', null, section);
    var after = el('div', 'atlas-admin-after', null, section);
    var msg = el('div', 'atlas-admin-msg', null, section);
    msg.hidden = true;
    var ctx = {layers: layers, say: function (text, bad) { say(msg, text, bad); }};
    function load(fresh) {  // every layer's settings (GET /api/layer-settings, admins only)
      var settings = Atlas.send('GET', Atlas.apiUrl('layer-settings'));
      return Promise.all([fresh ? readLayers(layers) : layers, settings]).then(function (got) {
        var state = got[1].layers || {};
        list.textContent = '';
        after.textContent = '';
        layers.ids.filter(function (id) { return state[id]; }).forEach(function (id) {
          var item = el('li', 'atlas-admin-layer', null, list);
          item.setAttribute('data-layer', id);
          var label = el('label', 'atlas-admin-pick', null, item);
          var tick = el('input', null, null, label);
          tick.type = 'checkbox';
          tick.name = 'hidden';
          tick.checked = !!state[id].hidden;
          el('span', null, layers.title[id] + ' · ' + Atlas.t('adminHidden'), label);
          tick.addEventListener('change', function () {
            tick.disabled = true;
            say(msg, null);
            var url = Atlas.apiUrl('layers/' + encodeURIComponent(id) + '/settings');
            Atlas.send('PATCH', url, {hidden: tick.checked}).then(function (done) {
              tick.checked = !!done.hidden;
              say(msg, Atlas.t('adminDone') + '：' + layers.title[id]);
            }).catch(function (err) {
              tick.checked = !tick.checked;
              say(msg, failed(err), true);
            }).then(function () { tick.disabled = false; });
          });
          Atlas.adminHooks.layer.forEach(function (hook) { hook(item, id, ctx); });
        });
        Atlas.adminHooks.dropped.forEach(function (hook) { hook(after, got[1].dropped || [], ctx); });
      }).catch(function (err) { say(msg, Atlas.t('adminLoadFailed', {detail: err.message}), true); });
    }
    ctx.reload = function () { return load(true); };
    return function () { return load(false); };
  }

  // -- the card ------------------------------------------------------------------------------------
  function buildCard(map, toolButton) {
    var box = el('div', 'atlas-card atlas-admin', null, map.getContainer());
    box.hidden = true;
    box.setAttribute('role', 'dialog');
    box.setAttribute('aria-label', Atlas.t('admin'));
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.disableScrollPropagation(box);
    var head = el('div', 'atlas-card-head', null, box);
    el('h2', null, Atlas.t('admin'), head);
    var body = el('div', 'atlas-admin-body', null, box);
    var hide = function () {
      box.hidden = true;
      body.textContent = '';  // nothing of the accounts stays in the page
      L.DomUtil.removeClass(toolButton, 'atlas-on');
    };
    Atlas.button('atlas-card-close', '×', head, Atlas.t('close')).addEventListener('click', hide);

    function open() {
      box.hidden = false;
      L.DomUtil.addClass(toolButton, 'atlas-on');
      body.textContent = '';
      var problem = el('div', 'atlas-field-problem', null, body);
      // the layers as the admin sees them (hidden ones too), fresh: the page's list may be a visitor's
      return readLayers({ids: [], title: {}}).then(function (layers) {
        var loads = [usersSection(body, layers)(), tokensSection(body)(), layersSection(body, layers)()];
        Atlas.adminHooks.sections.forEach(function (section) { loads.push(section(body)()); });
        return Promise.all(loads);
      }).catch(function (err) { problem.textContent = Atlas.t('adminLoadFailed', {detail: err.message}); });
    }
    return {open: open, close: hide, isOpen: function () { return !box.hidden; }};
  }

  Atlas.tools.push({rank: 45, build: function (bar, map, button) {
    if (!Atlas.config.session) { return null; }  // a server without accounts
    var ui = null;
    var b = button(bar, 'atlas-tool-admin', Atlas.t('admin'), function () {
      if (ui.isOpen()) { ui.close(); } else { ui.open(); }
    });
    b.hidden = true;
    ui = buildCard(map, b);
    Atlas.adminPanel = ui;
    Atlas.on(function (what) {
      if (what !== 'user') { return; }
      b.hidden = !isAdmin();
      if (!isAdmin() && ui.isOpen()) { ui.close(); }
    });
    return null;
  }});
}());
