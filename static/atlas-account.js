/* 精致威海规划图 — the visitor's account: the session (GET Atlas.config.session at start), a small
 * login box behind a toolbar button (name, password; wrong password, locked, too many attempts said
 * in words), the user and role, logout. Keeps the CSRF token and sends state changes with it
 * (Atlas.send). Atlas.user is the signed-in user or null; Atlas.changed('user') tells the modules,
 * which show edit controls only where Atlas.canEdit says so. The server decides; the page only hides.
 * No session URL in the config (a server without accounts): no button, no request. Text only. */
(function () {
  'use strict';
  var Atlas = window.Atlas;
  var el = Atlas.el;

  Atlas.strings({
    account: ['账户', 'Account'],
    login: ['登录', 'Log in'],
    logout: ['退出登录', 'Log out'],
    userName: ['用户名', 'User name'],
    password: ['密码', 'Password'],
    loginWrong: ['用户名或密码错误', 'Wrong user name or password'],
    loginLocked: ['账户已被暂时锁定，请稍后再试', 'The account is locked for a while; try again later'],
    loginTooMany: ['尝试次数过多，请稍后再试', 'Too many attempts; wait a little and try again'],
    loginFailed: ['登录失败：{detail}', 'Login failed: {detail}'],
    loginNeeded: ['请输入用户名和密码', 'Enter a user name and a password'],
    signedInAs: ['当前用户', 'Signed in as'],
    roleViewer: ['查看者', 'viewer'],
    roleEditor: ['编辑者', 'editor'],
    roleAdmin: ['管理员', 'admin'],
    grantsLabel: ['可编辑图层', 'May edit'],
    grantsAll: ['全部图层', 'every layer'],
    grantsNone: ['无', 'none'],
    sessionError: ['无法读取登录状态：{detail}', 'The login state could not be read: {detail}']
  });

  Atlas.user = null;
  Atlas.session = null;  // the last body of /api/session: {user, csrf_token, anonymous}

  // -- sending: JSON, the CSRF token, the server's detail in the error -----------------------------
  /* ``method`` ``url`` with ``body`` (sent as JSON when given) and extra ``headers``; the parsed JSON
   * answer, or an Error carrying status, detail and the whole body (e.g. 412's current feature). */
  Atlas.send = function (method, url, body, headers) {
    var h = L.extend({Accept: 'application/json'}, headers || {});
    if (body !== undefined && body !== null) { h['Content-Type'] = 'application/json'; }
    if (Atlas.session && Atlas.session.csrf_token) { h['X-CSRFToken'] = Atlas.session.csrf_token; }
    return fetch(url, {method: method, headers: h, credentials: 'same-origin',
                       body: body === undefined || body === null ? undefined : JSON.stringify(body)})
      .then(function (resp) {
        return resp.text().then(function (text) {
          var data = null;
          try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
          if (!resp.ok) {
            var detail = (data && (data.detail || data.error)) || (resp.status + ' ' + resp.statusText);
            var err = new Error(detail);
            err.status = resp.status;
            err.detail = detail;
            err.body = data || {};
            throw err;
          }
          return data;
        });
      });
  };

  // -- who may edit what (the page only hides; the server enforces) ----------------------------------
  Atlas.canEdit = function (layerId) {
    var u = Atlas.user;
    if (!u || Atlas.asOf) { return false; }  // the past is not edited
    if (u.role === 'admin') { return true; }
    return u.role === 'editor' && (u.grants || []).some(function (g) { return g === '*' || g === layerId; });
  };
  Atlas.editableLayers = function () {
    return Atlas.config.layers.filter(function (cfg) { return Atlas.canEdit(cfg.id); });
  };

  function setSession(body) {
    Atlas.session = body || {};
    Atlas.user = (body && body.user) || null;
    Atlas.changed('user');
  }

  Atlas.loadSession = function () {
    return Atlas.send('GET', Atlas.config.session).then(function (body) {
      setSession(body);
      Atlas.changed('session');
      return body;
    });
  };

  function roleWord(role) {
    return Atlas.t({viewer: 'roleViewer', editor: 'roleEditor', admin: 'roleAdmin'}[role] || role || '');
  }

  function loginError(err) {
    if (err.status === 401) { return Atlas.t('loginWrong'); }
    if (err.status === 423) { return Atlas.t('loginLocked') + (err.detail ? '（' + err.detail + '）' : ''); }
    if (err.status === 429) { return Atlas.t('loginTooMany') + (err.detail ? '（' + err.detail + '）' : ''); }
    return Atlas.t('loginFailed', {detail: err.message});
  }

  // -- the box ---------------------------------------------------------------------------------------
  function buildBox(map, toolButton) {
    var box = el('div', 'atlas-card atlas-account', null, map.getContainer());
    box.hidden = true;
    box.setAttribute('role', 'dialog');
    box.setAttribute('aria-label', Atlas.t('account'));
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.disableScrollPropagation(box);
    var head = el('div', 'atlas-card-head', null, box);
    el('h2', null, Atlas.t('account'), head);
    var close = Atlas.button('atlas-card-close', '×', head, Atlas.t('close'));
    var body = el('div', 'atlas-account-body', null, box);

    function hide() { box.hidden = true; L.DomUtil.removeClass(toolButton, 'atlas-on'); }
    close.addEventListener('click', hide);

    function loginForm() {
      var form = el('form', 'atlas-account-form', null, body);
      var nameLabel = el('label', 'atlas-field', null, form);
      el('span', null, Atlas.t('userName'), nameLabel);
      var name = el('input', null, null, nameLabel);
      name.name = 'name';
      name.autocomplete = 'username';
      var pwLabel = el('label', 'atlas-field', null, form);
      el('span', null, Atlas.t('password'), pwLabel);
      var pw = el('input', null, null, pwLabel);
      pw.type = 'password';
      pw.name = 'password';
      pw.autocomplete = 'current-password';
      var message = el('div', 'atlas-message atlas-error', null, form);
      message.hidden = true;
      message.setAttribute('role', 'alert');
      var submit = el('button', 'atlas-primary atlas-account-login', Atlas.t('login'), form);
      submit.type = 'submit';
      form.addEventListener('submit', function (e) {
        e.preventDefault();
        message.hidden = true;
        if (!name.value.trim() || !pw.value) {
          message.textContent = Atlas.t('loginNeeded');
          message.hidden = false;
          return;
        }
        submit.disabled = true;
        Atlas.send('POST', Atlas.config.session, {name: name.value.trim(), password: pw.value}).then(function (s) {
          pw.value = '';
          setSession(s);
          hide();
        }).catch(function (err) {
          message.textContent = loginError(err);
          message.hidden = false;
        }).then(function () { submit.disabled = false; });
      });
      return name;
    }

    function userView(user) {
      var who = el('div', 'atlas-account-user', null, body);
      el('span', 'atlas-muted', Atlas.t('signedInAs') + '：', who);
      el('strong', 'atlas-account-name', user.name, who);
      el('span', 'atlas-chip atlas-account-role', roleWord(user.role), who);
      if (user.role === 'editor') {
        var grants = user.grants || [];
        var titles = grants.indexOf('*') >= 0 ? [Atlas.t('grantsAll')] : grants.map(function (g) {
          var cfg = Atlas.layerConfig(g);
          return cfg ? Atlas.label(cfg.title) : g;
        });
        el('div', 'atlas-account-grants', Atlas.t('grantsLabel') + '：' + (titles.join('、') || Atlas.t('grantsNone')), body);
      }
      var out = Atlas.button('atlas-account-logout', Atlas.t('logout'), body);
      out.addEventListener('click', function () {
        out.disabled = true;
        Atlas.send('DELETE', Atlas.config.session).catch(function () { return null; }).then(function () {
          setSession({user: null, csrf_token: Atlas.session && Atlas.session.csrf_token});
          return Atlas.loadSession().catch(function () { return null; });
        }).then(hide);
      });
    }

    function render() {
      body.textContent = '';
      var user = Atlas.user;
      Atlas.titled(toolButton, user ? Atlas.t('account') + '：' + user.name : Atlas.t('login'));
      L.DomUtil[user ? 'addClass' : 'removeClass'](toolButton, 'atlas-signed-in');
      if (user) { userView(user); return null; }
      return loginForm();
    }
    var first = render();
    Atlas.on(function (what) { if (what === 'user') { first = render(); } });
    return {
      open: function () {
        box.hidden = false;
        L.DomUtil.addClass(toolButton, 'atlas-on');
        if (first && !Atlas.user) { first.focus(); }
      },
      close: hide,
      isOpen: function () { return !box.hidden; }
    };
  }

  Atlas.tools.push({rank: 5, build: function (bar, map, button) {
    if (!Atlas.config.session) { return null; }  // a server without accounts
    var ui = null;
    var toolButton = button(bar, 'atlas-tool-account', Atlas.t('login'), function () {
      if (ui.isOpen()) { ui.close(); } else { ui.open(); }
    });
    toolButton.hidden = true;  // until the session is known
    ui = buildBox(map, toolButton);
    Atlas.accountBox = ui;
    setTimeout(function () {
      Atlas.loadSession().then(function () { toolButton.hidden = false; }).catch(function (err) {
        console.warn(Atlas.t('sessionError', {detail: err.message}));
      });
    }, 0);
    return null;
  }});
}());
