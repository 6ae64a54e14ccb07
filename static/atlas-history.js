/* 精致威海规划图 — history on the map: a feature's revisions in its popup (who, when, why, what
 * changed field by field; a click draws that revision's shape dashed; "restore" for editors), the
 * change log of the atlas or one layer (by user, dates, layer), the atlas "as of" a chosen time
 * (every layer reloaded with as_of=, a banner, kept in the URL) and two times compared (added,
 * removed, changed in three colours). Offered once the server's session answered (it has the
 * history API then). Every value from the server becomes text. */
(function () {
  'use strict';
  var Atlas = window.Atlas;
  var el = Atlas.el;

  Atlas.strings({
    history: ['历史', 'History'],
    historyTool: ['变更记录与历史状态', 'Change log and past states'],
    historyNone: ['没有修改记录', 'No changes recorded'],
    historyFailed: ['无法读取历史：{detail}', 'The history could not be read: {detail}'],
    opAdd: ['新建', 'created'], opUpdate: ['修改', 'changed'], opDelete: ['删除', 'deleted'],
    shapeEdited: ['形状已修改', 'shape changed'],
    showShape: ['单击查看当时的形状', 'Click to see the shape it had'],
    restore: ['恢复到此版本', 'Restore this version'],
    restoreConfirm: ['将要素恢复到此版本（会记为一次新的修改）？', 'Restore the feature to this version (recorded as a new change)?'],
    restoreYes: ['确认恢复', 'Restore'],
    restored: ['已恢复', 'Restored'],
    restoreFailed: ['恢复失败：{detail}', 'Could not restore: {detail}'],
    asOfSection: ['查看历史状态', 'View the atlas as it was'],
    asOfShow: ['查看', 'Show'],
    asOfBanner: ['显示 {time} 时的状态', 'As it was at {time}'],
    asOfNow: ['回到现在', 'Back to now'],
    asOfNeeded: ['请选择时间', 'Choose a time'],
    compareSection: ['比较两个时间', 'Compare two times'],
    compareFrom: ['从', 'From'], compareTo: ['到', 'To'],
    compare: ['比较', 'Compare'],
    compareClear: ['清除比较', 'Clear'],
    compareAdded: ['新增 {n}', 'added {n}'], compareRemoved: ['删除 {n}', 'removed {n}'], compareChanged: ['修改 {n}', 'changed {n}'],
    compareFailed: ['比较失败：{detail}', 'Could not compare: {detail}'],
    logSection: ['变更记录', 'Change log'],
    logUser: ['用户', 'User'], logSince: ['起始日期', 'Since'], logUntil: ['截止日期', 'Until'],
    logShow: ['查询', 'Show'], logMore: ['更多', 'More'],
    allLayers: ['全部图层', 'All layers'],
    reason: ['修改原因（可选）', 'Reason (optional)']
  });

  var COLORS = {added: '#2e7d32', removed: '#c62828', changed: '#1565c0'};
  var OLD = {color: '#6a1b9a', weight: 3, opacity: 0.95, dashArray: '6 5', fillColor: '#6a1b9a', fillOpacity: 0.08};
  var pad = function (n) { return (n < 10 ? '0' : '') + n; };

  // -- times: the page shows local time; the API is given UTC ---------------------------------------
  function parse(iso) {  // the API's time; without a zone it is UTC (the contract)
    var s = String(iso || '');
    return new Date(/T\d\d:\d\d/.test(s) && !/(Z|[+-]\d\d:?\d\d)$/.test(s) ? s + 'Z' : s);
  }
  function local(d) { return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' + pad(d.getHours()) + ':' + pad(d.getMinutes()); }
  Atlas.timeText = function (iso) { var d = parse(iso); return isNaN(d) ? String(iso || '') : local(d); };
  // a datetime-local input's value (local time) as UTC ISO 8601, or null
  Atlas.inputTime = function (value) {
    if (!value) { return null; }
    var d = new Date(value);
    return isNaN(d) ? null : d.toISOString().replace(/\.\d{3}Z$/, 'Z');
  };
  function inputValue(iso) { var d = parse(iso); return isNaN(d) ? '' : local(d).replace(' ', 'T'); }

  function field(parent, label, type, name) {
    var box = el('label', 'atlas-field', null, parent);
    el('span', null, label, box);
    var input = el(type === 'select' ? 'select' : 'input', null, null, box);
    if (type !== 'select') { input.type = type; }
    input.name = name;
    return input;
  }

  function layerSelect(parent, name, withAll) {
    var select = field(parent, Atlas.t('layer'), 'select', name);
    if (withAll) { Atlas.option(select, '', Atlas.t('allLayers'), true); }
    Atlas.config.layers.forEach(function (cfg) { Atlas.option(select, cfg.id, Atlas.label(cfg.title)); });
    return select;
  }

  // -- what a revision changed ----------------------------------------------------------------------
  var titles = {};  // layer -> field -> title, from /api/layers (Atlas.layerMeta)
  function fieldTitle(layerId, name) {
    return Atlas.label(((titles[layerId] || {})[name])) || name;
  }
  function loadTitles() {
    return Atlas.layerMeta().then(function (m) {
      Object.keys(m).forEach(function (id) {
        titles[id] = {};
        (m[id].fields || []).forEach(function (f) { titles[id][f.name] = f.title; });
      });
    }).catch(function () { return null; });
  }
  function valueText(name, v) {
    if (v === null || v === undefined || v === '') { return '—'; }
    var vocab = Atlas.config.vocab, table = {status: vocab.status, district: vocab.districts, category: vocab.category}[name];
    if (table && table[v]) { return Atlas.label(table[v]); }
    return typeof v === 'object' ? JSON.stringify(v) : String(v);
  }
  /* A revision of a feature's history as {id, time, actor, message, op, before, after}: the server
   * gives that feature's change in ``changes`` (its only member there). */
  function featureRevision(rev) {
    var ch = (rev.changes || [])[0];
    return ch ? L.extend({}, rev, {op: ch.op, before: ch.before, after: ch.after}) : rev;
  }
  Atlas.revisionChanges = function (rev, layerId) {
    var before = (rev.before || {}).properties || {}, after = (rev.after || {}).properties || {}, out = [];
    if (!rev.before || !rev.after) { return out; }
    Object.keys(L.extend({}, before, after)).forEach(function (k) {
      if (k === 'layer' || JSON.stringify(before[k]) === JSON.stringify(after[k])) { return; }
      out.push(fieldTitle(layerId, k) + '：' + valueText(k, before[k]) + ' → ' + valueText(k, after[k]));
    });
    if (JSON.stringify(rev.before.geometry) !== JSON.stringify(rev.after.geometry)) { out.push(Atlas.t('shapeEdited')); }
    return out;
  };
  function opWord(op) { return Atlas.t({add: 'opAdd', update: 'opUpdate', delete: 'opDelete'}[op] || 'opUpdate'); }

  // -- the old shape, dashed ------------------------------------------------------------------------
  var oldShape = null;
  Atlas.showOldShape = function (feature) {
    if (oldShape) { Atlas.map.removeLayer(oldShape); oldShape = null; }
    if (feature && feature.geometry) {
      oldShape = Atlas.outline(feature, OLD, {radius: 11, color: OLD.color, weight: 3, dashArray: '4 3'});
      oldShape.eachLayer(function (l) { if (l.getElement && l.getElement()) { L.DomUtil.addClass(l.getElement(), 'atlas-old-shape'); } });
    }
    return oldShape;
  };

  // -- restore: a confirmation with a reason, in place ------------------------------------------------
  function restoreBox(parent, layerId, featureId, rev, done) {
    parent.textContent = '';
    el('div', null, Atlas.t('restoreConfirm'), parent);
    var reason = field(parent, Atlas.t('reason'), 'text', 'message');
    reason.maxLength = 500;
    var row = el('div', 'atlas-history-actions', null, parent);
    var yes = Atlas.button('atlas-danger atlas-restore-yes', Atlas.t('restoreYes'), row);
    Atlas.button(null, Atlas.t('cancel'), row).addEventListener('click', function (e) { L.DomEvent.stop(e); parent.textContent = ''; });
    L.DomEvent.disableClickPropagation(parent);
    yes.addEventListener('click', function () {
      yes.disabled = true;
      var url = Atlas.apiUrl('layers/' + encodeURIComponent(layerId) + '/features/' + encodeURIComponent(featureId) + '/restore');
      Atlas.send('POST', url, {revision: rev.id, message: reason.value.trim()}).then(function () {
        if (Atlas.layers[layerId]) { Atlas.layers[layerId].refresh(true); }
        Atlas.notify(Atlas.t('restored'), 'info');
        Atlas.changed('edited');
        done();
      }).catch(function (err) {
        yes.disabled = false;
        el('div', 'atlas-field-problem', Atlas.t('restoreFailed', {detail: err.detail || err.message}), parent);
      });
    });
  }

  // -- a feature's history in its popup -------------------------------------------------------------
  function revisionList(box, layerId, featureId) {
    box.textContent = '';
    Promise.all([Atlas.fetchJson(Atlas.apiUrl('features/' + encodeURIComponent(featureId) + '/history')),
                 loadTitles()]).then(function (got) {
      var body = got[0];
      var revs = body.revisions || [];
      if (!revs.length) { el('div', 'atlas-muted', Atlas.t('historyNone'), box); return; }
      var list = el('ul', 'atlas-revisions', null, box);
      revs.map(featureRevision).forEach(function (rev) {
        var item = el('li', 'atlas-revision', null, list);
        item.setAttribute('data-revision', String(rev.id));
        item.title = Atlas.t('showShape');
        var head = el('div', 'atlas-revision-head', null, item);
        el('span', 'atlas-revision-op', opWord(rev.op), head);
        el('span', 'atlas-revision-time', Atlas.timeText(rev.time), head);
        el('span', 'atlas-revision-actor', rev.actor, head);
        if (rev.message) { el('div', 'atlas-revision-msg', rev.message, item); }
        var changes = Atlas.revisionChanges(rev, layerId);
        if (changes.length) {
          var ul = el('ul', 'atlas-revision-changes', null, item);
          changes.forEach(function (c) { el('li', null, c, ul); });
        }
        item.addEventListener('click', function () {
          var on = !L.DomUtil.hasClass(item, 'atlas-on');
          [].forEach.call(list.children, function (li) { L.DomUtil.removeClass(li, 'atlas-on'); });
          if (on) { L.DomUtil.addClass(item, 'atlas-on'); }
          Atlas.showOldShape(on ? (rev.after || rev.before) : null);
        });
        if (Atlas.canEdit(layerId) && rev.after) {
          var actions = el('div', 'atlas-history-actions', null, item);
          var confirmBox = el('div', 'atlas-restore-box', null, item);
          Atlas.button('atlas-restore', Atlas.t('restore'), actions).addEventListener('click', function (e) {
            L.DomEvent.stop(e);
            restoreBox(confirmBox, layerId, featureId, rev, function () { revisionList(box, layerId, featureId); });
          });
        }
      });
    }).catch(function (err) { el('div', 'atlas-field-problem', Atlas.t('historyFailed', {detail: err.message}), box); });
  }

  Atlas.popupSections.push(function (box, feature, cfg) {
    if (!cfg || !Atlas.session) { return; }
    var id = feature.id || (feature.properties || {}).id;
    var det = el('details', 'atlas-history', null, box);
    el('summary', null, Atlas.t('history'), det);
    var body = el('div', 'atlas-history-body', null, det);
    det.addEventListener('toggle', function () { if (det.open) { revisionList(body, cfg.id, id); } });
  });

  // -- as of: every layer as it was then --------------------------------------------------------------
  var banner = null;
  Atlas.setAsOf = function (iso) {
    Atlas.asOf = iso || null;
    Atlas.map.closePopup();
    Atlas.showOldShape(null);
    Object.keys(Atlas.layers).forEach(function (id) { Atlas.layers[id].refresh(true); });
    if (Atlas.land && Atlas.map.hasLayer(Atlas.land)) { Atlas.land.refresh(true); }
    showBanner();
    Atlas.syncUrl();
    Atlas.changed('asof');
  };
  function showBanner() {
    if (!banner) { return; }
    banner.textContent = '';
    banner.hidden = !Atlas.asOf;
    if (!Atlas.asOf) { return; }
    el('span', 'atlas-asof-text', Atlas.t('asOfBanner', {time: Atlas.timeText(Atlas.asOf)}), banner);
    Atlas.button('atlas-asof-now', Atlas.t('asOfNow'), banner).addEventListener('click', function () { Atlas.setAsOf(null); });
  }

  // -- compare two times ------------------------------------------------------------------------------
  var compared = null;
  Atlas.clearCompare = function () { if (compared) { Atlas.map.removeLayer(compared); compared = null; } };
  Atlas.compare = function (from, to, layerIds) {
    Atlas.clearCompare();
    var group = compared = L.layerGroup().addTo(Atlas.map), counts = {added: 0, removed: 0, changed: 0};
    var on = {pane: 'atlas-highlight', interactive: false, renderer: Atlas.highlightRenderer};
    var styleOf = function (f) {
      var c = COLORS[(f.properties || {}).change] || COLORS.changed;
      return L.extend({}, on, {color: c, weight: 4, opacity: 0.95, fillColor: c, fillOpacity: 0.2});
    };
    return Promise.all(layerIds.map(function (id) {
      var url = Atlas.apiUrl('layers/' + encodeURIComponent(id) + '/compare', {from: from, to: to});
      return Atlas.fetchJson(url).then(function (fc) {
        (fc.features || []).forEach(function (f) {
          var change = (f.properties || {}).change;
          if (counts[change] !== undefined) { counts[change] += 1; }
          if (change === 'changed' && f.before) {
            L.geoJSON({type: 'Feature', geometry: f.before.geometry || f.before, properties: {}},
                      L.extend({}, on, {style: L.extend({}, on, OLD, {color: COLORS.changed})})).addTo(group);
          }
        });
        L.geoJSON(fc, L.extend({}, on, {style: styleOf, pointToLayer: function (f, ll) {
          return L.circleMarker(ll, L.extend({radius: 9}, styleOf(f)));
        }})).addTo(group);
      });
    })).then(function () { return counts; });
  };

  // -- the change log ---------------------------------------------------------------------------------
  function logEntries(list, params, more) {
    more.hidden = true;
    return Atlas.fetchJson(Atlas.apiUrl('revisions', params)).then(function (body) {
      (body.revisions || []).forEach(function (rev) {
        var item = el('li', 'atlas-revision', null, list);
        item.setAttribute('data-revision', String(rev.id));
        var head = el('div', 'atlas-revision-head', null, item);
        el('span', 'atlas-revision-time', Atlas.timeText(rev.time), head);
        el('span', 'atlas-revision-actor', rev.actor, head);
        if (rev.message) { el('div', 'atlas-revision-msg', rev.message, item); }
        var ul = el('ul', 'atlas-revision-changes', null, item);
        (rev.changes || []).forEach(function (c) {
          var cfg = Atlas.layerConfig(c.layer);
          el('li', null, opWord(c.op) + ' · ' + (cfg ? Atlas.label(cfg.title) : c.layer) + ' · ' + c.id, ul);
        });
      });
      if (!list.children.length) { el('li', 'atlas-muted', Atlas.t('historyNone'), list); }
      more.hidden = !body.next;
      more.onclick = function () { logEntries(list, L.extend({}, params, {before: body.next}), more); };
    });
  }

  function buildLog(map, toolButton) {
    var box = el('div', 'atlas-card atlas-log', null, map.getContainer());
    box.hidden = true;
    box.setAttribute('role', 'dialog');
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.disableScrollPropagation(box);
    var head = el('div', 'atlas-card-head', null, box);
    el('h2', null, Atlas.t('historyTool'), head);
    var hide = function () { box.hidden = true; L.DomUtil.removeClass(toolButton, 'atlas-on'); };
    Atlas.button('atlas-card-close', '×', head, Atlas.t('close')).addEventListener('click', hide);

    var asOf = el('section', 'atlas-log-asof', null, box);
    el('h3', null, Atlas.t('asOfSection'), asOf);
    var when = field(asOf, Atlas.t('date'), 'datetime-local', 'as_of');
    when.step = '1';  // to the second
    var asOfMsg = el('div', 'atlas-field-problem', null, asOf);
    var row = el('div', 'atlas-history-actions', null, asOf);
    Atlas.button('atlas-primary atlas-asof-show', Atlas.t('asOfShow'), row).addEventListener('click', function () {
      var iso = Atlas.inputTime(when.value);
      asOfMsg.textContent = iso ? '' : Atlas.t('asOfNeeded');
      if (iso) { Atlas.setAsOf(iso); }
    });
    Atlas.button('atlas-asof-back', Atlas.t('asOfNow'), row).addEventListener('click', function () { Atlas.setAsOf(null); });

    var cmp = el('section', 'atlas-log-compare', null, box);
    el('h3', null, Atlas.t('compareSection'), cmp);
    var from = field(cmp, Atlas.t('compareFrom'), 'datetime-local', 'from');
    var to = field(cmp, Atlas.t('compareTo'), 'datetime-local', 'to');
    var cmpLayer = layerSelect(cmp, 'compare-layer', true);
    var cmpRow = el('div', 'atlas-history-actions', null, cmp);
    var legend = el('div', 'atlas-compare-legend', null, cmp);
    Atlas.button('atlas-primary atlas-compare-run', Atlas.t('compare'), cmpRow).addEventListener('click', function () {
      var t1 = Atlas.inputTime(from.value), t2 = Atlas.inputTime(to.value) || new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      legend.textContent = '';
      if (!t1) { el('span', 'atlas-field-problem', Atlas.t('asOfNeeded'), legend); return; }
      var ids = cmpLayer.value ? [cmpLayer.value] : Atlas.visibleLayers();
      Atlas.compare(t1, t2, ids).then(function (counts) {
        Object.keys(COLORS).forEach(function (k) {
          var key = {added: 'compareAdded', removed: 'compareRemoved', changed: 'compareChanged'}[k];
          el('span', 'atlas-compare-' + k, Atlas.t(key, {n: counts[k]}), legend).style.setProperty('--c', COLORS[k]);
        });
      }).catch(function (err) { el('span', 'atlas-field-problem', Atlas.t('compareFailed', {detail: err.message}), legend); });
    });
    Atlas.button('atlas-compare-clear', Atlas.t('compareClear'), cmpRow).addEventListener('click', function () {
      Atlas.clearCompare();
      legend.textContent = '';
    });

    var log = el('section', 'atlas-log-list', null, box);
    el('h3', null, Atlas.t('logSection'), log);
    var filters = el('div', 'atlas-log-filters', null, log);
    var logLayer = layerSelect(filters, 'log-layer', true);
    var user = field(filters, Atlas.t('logUser'), 'text', 'actor');
    var since = field(filters, Atlas.t('logSince'), 'date', 'since');
    var until = field(filters, Atlas.t('logUntil'), 'date', 'until');
    var list = el('ul', 'atlas-revisions', null, log);
    var logRow = el('div', 'atlas-history-actions', null, log);
    var show = Atlas.button('atlas-primary atlas-log-show', Atlas.t('logShow'), logRow);
    var more = Atlas.button('atlas-log-more', Atlas.t('logMore'), logRow);
    more.hidden = true;
    var run = function () {
      list.textContent = '';
      logEntries(list, {layer: logLayer.value || null, actor: user.value.trim() || null, limit: 50,
                        since: since.value ? Atlas.inputTime(since.value + 'T00:00') : null,
                        until: until.value ? Atlas.inputTime(until.value + 'T23:59:59') : null}, more)
        .catch(function (err) { el('li', 'atlas-field-problem', Atlas.t('historyFailed', {detail: err.message}), list); });
    };
    show.addEventListener('click', run);
    return {
      open: function () {
        box.hidden = false;
        L.DomUtil.addClass(toolButton, 'atlas-on');
        if (Atlas.asOf) { when.value = inputValue(Atlas.asOf); }
        run();
      },
      close: hide,
      isOpen: function () { return !box.hidden; }
    };
  }

  Atlas.tools.push({rank: 40, build: function (bar, map, button) {
    Atlas.asOf = Atlas.config.asOf || null;  // from the URL: set before the layers first load
    banner = el('div', 'atlas-asof-banner', null, map.getContainer());
    banner.setAttribute('role', 'status');
    L.DomEvent.disableClickPropagation(banner);
    showBanner();
    var ui = null;
    var b = button(bar, 'atlas-tool-history', Atlas.t('historyTool'), function () {
      ui = ui || buildLog(map, b);
      if (ui.isOpen()) { ui.close(); } else { ui.open(); }
    });
    b.hidden = !Atlas.session;
    Atlas.on(function (what) { if (what === 'session') { b.hidden = false; } });
    return null;
  }});
}());
