/* 精致威海规划图 — the import panel (导入), behind a toolbar button shown to editors with a grant and
 * to admins (the server enforces who may; the page only hides). A planner drops a file on the panel
 * (or picks one), it is uploaded with a progress bar (POST /api/imports?wait=0) and inspected on the
 * server in the background; the panel polls the upload (GET /api/imports/<id>) and shows what was
 * found before anything is stored: the encoding with the first rows decoded in each candidate side by
 * side (choose another), the coordinate system with its reason and the runner-up drawn on a small map
 * over the district outlines (choose another), invalid shapes as red markers with their rows and
 * reasons (repair only when ticked), the fields. Then the planner names a new layer (id, titles zh/en,
 * a field to colour it by) or chooses one of theirs to append to or update by a key, checks the plan
 * (added / updated / unchanged, a dry run) and imports: one revision, or nothing. The upload being
 * worked on is remembered in localStorage, so a reloaded page resumes it. Every value from the file or
 * the server becomes text (textContent), never HTML. */
(function () {
  'use strict';
  var Atlas = window.Atlas;
  var el = Atlas.el;
  var KEY = 'atlas-import';
  var POLL_MS = 400;

  Atlas.strings({
    importTool: ['导入数据', 'Import data'],
    importDrop: ['把文件拖到这里，或', 'Drop a file here, or'],
    importPick: ['选择文件…', 'choose a file…'],
    importFormats: ['Shapefile（zip 或 .shp/.dbf/.prj/.cpg）、GeoPackage、GeoJSON、KML/KMZ、CSV、XLSX、DXF、FlatGeobuf、GeoParquet',
      'Shapefile (zip, or .shp/.dbf/.prj/.cpg), GeoPackage, GeoJSON, KML/KMZ, CSV, XLSX, DXF, FlatGeobuf, GeoParquet'],
    importUploading: ['正在上传 {name}：{percent}%', 'Uploading {name}: {percent}%'],
    importWorking: ['服务器正在{task}：{phase} {percent}%', 'The server is {task}: {phase} {percent}%'],
    importTask_inspect: ['检查文件', 'inspecting the file'],
    importTask_plan: ['核对导入计划', 'checking the plan'],
    importTask_commit: ['写入图层', 'writing the layer'],
    importPhase_queued: ['排队', 'queued'],
    importPhase_unpack: ['解压', 'unpacking'],
    importPhase_read: ['读取', 'reading'],
    importPhase_check: ['检查', 'checking'],
    importPhase_write: ['写入', 'writing'],
    importResumed: ['继续刷新前开始的导入：{name}', 'Continuing the import started before the reload: {name}'],
    importFailed: ['导入失败：{detail}', 'Import failed: {detail}'],
    importRetrying: ['与服务器的连接中断，正在重试…', 'The server does not answer; trying again…'],
    importNothingStored: ['没有写入任何数据。', 'Nothing was stored.'],
    importSummary: ['{file}：{format}，{count} 个要素', '{file}: {format}, {count} features'],
    importSourceLayer: ['文件中的图层', 'Layer in the file'],
    importEncoding: ['文字编码', 'Text encoding'],
    importEncodingPreview: ['前几行在各候选编码下的文字：', 'The first rows in each candidate encoding:'],
    importUseEncoding: ['用这个编码', 'Use this encoding'],
    importCrs: ['坐标系', 'Coordinate system'],
    importCrsChosen: ['采用', 'chosen'],
    importCrsRunnerUp: ['次优', 'runner-up'],
    importCrsLegend: ['实线：采用的坐标系；虚线：次优候选；灰色：区县边界', 'Solid: the chosen system; dashed: the runner-up; grey: district outlines'],
    importCrsOff: ['（不在地球范围内，无法显示）', '(not on the Earth: not drawn)'],
    importGeometry: ['几何', 'Shapes'],
    importInvalid: ['{n} 个无效图形', '{n} invalid shapes'],
    importRow: ['第 {row} 行：{reason}', 'row {row}: {reason}'],
    importRepair: ['用 make_valid 修复无效图形（{n} 个）', 'Repair the invalid shapes with make_valid ({n})'],
    importFields: ['字段', 'Fields'],
    importFieldFile: ['文件中', 'In the file'],
    importFieldStore: ['存为', 'Stored as'],
    importFieldType: ['类型', 'Type'],
    importInto: ['导入到', 'Import into'],
    importNew: ['新图层', 'A new layer'],
    importExisting: ['已有图层', 'An existing layer'],
    importLayerId: ['图层标识（小写字母、数字、_）', 'Layer id (lower-case letters, digits, _)'],
    importTitleZh: ['中文名称', 'Title (Chinese)'],
    importTitleEn: ['英文名称', 'Title (English)'],
    importStyleField: ['按字段着色', 'Colour by field'],
    importNoStyle: ['（单一颜色）', '(one colour)'],
    importMode: ['方式', 'How'],
    importAppend: ['追加新要素', 'Append new features'],
    importUpsert: ['按关键字段更新', 'Update by a key field'],
    importKey: ['关键字段', 'Key field'],
    importNoKey: ['（自动编号）', '(numbered automatically)'],
    importMissingFields: ['图层没有这些字段：{fields}', 'The layer has no fields {fields}'],
    importFieldsMatch: ['字段与图层一致', 'The fields match the layer'],
    importCheck: ['核对（不写入）', 'Check (writes nothing)'],
    importGo: ['导入', 'Import'],
    importCancel: ['放弃这个文件', 'Discard this file'],
    importPlan: ['将新增 {added}，更新 {updated}，不变 {unchanged}', 'Adds {added}, updates {updated}, leaves {unchanged} unchanged'],
    importDone: ['已导入图层“{layer}”：新增 {added}，更新 {updated}（修订 {revision}）', 'Imported into “{layer}”: {added} added, {updated} updated (revision {revision})'],
    importReloading: ['正在重新载入页面以显示图层“{layer}”', 'Reloading the page to show “{layer}”'],
    importNeedLayer: ['请填写图层标识', 'Give the layer an id'],
    importUndo: ['撤销这次导入', 'Undo this import'],
    importFinish: ['完成', 'Done'],
    importUndone: ['已撤销这次导入（修订 {revision}）', 'The import was undone (revision {revision})'],
    importUndoFailed: ['无法撤销：{detail}', 'Could not undo: {detail}']
  });

  var may = function () {
    var u = Atlas.user;
    return !!u && (u.role === 'admin' || (u.role === 'editor' && (u.grants || []).length > 0));
  };
  var mayCreate = function () {
    var u = Atlas.user;
    return !!u && (u.role === 'admin' || (u.grants || []).indexOf('*') >= 0);
  };
  var remembered = function () {
    try { return JSON.parse(window.localStorage.getItem(KEY) || 'null'); } catch (err) { return null; }
  };
  var remember = function (rec) {
    try {
      if (rec) { window.localStorage.setItem(KEY, JSON.stringify(rec)); } else { window.localStorage.removeItem(KEY); }
    } catch (err) { /* no resume after a reload, that is all */ }
  };
  var fmt = function (n) { return Number(n || 0).toLocaleString(Atlas.lang === 'en' ? 'en' : 'zh-CN'); };

  // -- the card --------------------------------------------------------------------------------------
  function buildCard(map, toolButton) {
    var box = el('div', 'atlas-card atlas-import', null, map.getContainer());
    box.hidden = true;
    box.setAttribute('role', 'dialog');
    box.setAttribute('aria-label', Atlas.t('importTool'));
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.disableScrollPropagation(box);
    var head = el('div', 'atlas-card-head', null, box);
    el('h2', null, Atlas.t('importTool'), head);
    Atlas.button('atlas-card-close', '×', head, Atlas.t('close')).addEventListener('click', function () { hide(); });
    var drop = el('div', 'atlas-import-drop', null, box);
    el('span', null, Atlas.t('importDrop') + ' ', drop);
    var pick = el('label', 'atlas-import-pick', null, drop);
    el('span', null, Atlas.t('importPick'), pick);
    var input = el('input', null, null, pick);
    input.type = 'file';
    input.name = 'file';
    input.multiple = true;  // a Shapefile's loose parts, picked together
    el('div', 'atlas-muted atlas-import-formats', Atlas.t('importFormats'), drop);
    var status = el('div', 'atlas-import-status', null, box);
    status.setAttribute('role', 'status');
    var bar = el('progress', 'atlas-import-progress', null, box);
    bar.max = 100;
    bar.hidden = true;
    var problem = el('div', 'atlas-field-problem atlas-import-problem', null, box);
    problem.setAttribute('role', 'alert');
    var body = el('div', 'atlas-import-body', null, box);
    var current = null;  // {id, url, file}
    var polling = null;

    function hide() {
      box.hidden = true;
      L.DomUtil.removeClass(toolButton, 'atlas-on');
    }
    function say(text) { status.textContent = text || ''; }
    function fail(err) {
      problem.textContent = Atlas.t('importFailed', {detail: err.detail || err.message}) + ' ' + Atlas.t('importNothingStored');
    }
    function progress(percent) {
      bar.hidden = percent === null;
      if (percent !== null) { bar.value = percent; }
    }

    // -- upload, with the browser's progress ---------------------------------------------------------
    function upload(files) {  // one file, or the loose parts of one Shapefile
      files = Array.prototype.slice.call(files || []);
      if (!files.length) { return; }
      var file = files.filter(function (f) { return /\.shp$/i.test(f.name); })[0] || files[0];
      problem.textContent = '';
      body.textContent = '';
      discardPreview();
      var form = new FormData();
      files.forEach(function (f) { form.append('file', f, f.name); });
      var xhr = new XMLHttpRequest();
      xhr.open('POST', Atlas.apiUrl('imports', {wait: 0}));
      xhr.setRequestHeader('Accept', 'application/json');
      if (Atlas.session && Atlas.session.csrf_token) { xhr.setRequestHeader('X-CSRFToken', Atlas.session.csrf_token); }
      xhr.upload.onprogress = function (e) {
        var percent = e.lengthComputable ? Math.floor(100 * e.loaded / e.total) : 0;
        say(Atlas.t('importUploading', {name: file.name, percent: percent}));
        progress(percent);
      };
      xhr.onload = function () {
        var data = null;
        try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
        if (xhr.status >= 400 || !data) {
          progress(null);
          say('');
          fail({detail: (data && data.detail) || (xhr.status + ' ' + xhr.statusText)});
          return;
        }
        current = {id: data.id, url: data.url, file: data.file};
        remember(current);
        follow(data);
      };
      xhr.onerror = function () { progress(null); fail({detail: 'network error'}); };
      say(Atlas.t('importUploading', {name: file.name, percent: 0}));
      progress(0);
      xhr.send(form);
    }

    // -- the upload's task, polled -------------------------------------------------------------------
    function follow(state) {
      clearTimeout(polling);
      if (state.state === 'running') {
        var p = state.progress || {};
        var phase = Atlas.t('importPhase_' + p.phase);
        say(Atlas.t('importWorking', {task: Atlas.t('importTask_' + state.task), phase: phase === 'importPhase_' + p.phase ? (p.phase || '') : phase,
                                      percent: p.percent || 0}));
        progress(p.percent || 0);
        poll(POLL_MS);
        return;
      }
      progress(null);
      say('');
      if (state.state === 'failed') {
        fail(state.error || {});
        if (!state.inspection) { remember(null); current = null; }
        if (state.inspection) { show(state); }
        return;
      }
      if (state.task === 'commit' && state.result) { committed(state); return; }
      show(state);  // the same inspection as shown: the planner's entries are kept
      if (state.task === 'plan' && state.plan) { planned(state.plan); }
    }
    var misses = 0;  // polls in a row the server did not answer
    function poll(wait) {
      polling = setTimeout(function () {
        Atlas.send('GET', current.url).then(function (state) { misses = 0; follow(state); }).catch(function (err) {
          if (err.status) { gone(err); return; }  // the server said: the upload is gone
          misses += 1;  // unreachable (restarting?): the upload is on its disk, ask again
          say(Atlas.t('importRetrying'));
          poll(Math.min(10000, POLL_MS * Math.pow(2, misses)));
        });
      }, wait);
    }
    function gone(err) {
      progress(null);
      say('');
      fail(err);
      remember(null);
      current = null;
    }
    function start(path, choices) {  // a task on the current upload: inspect again, plan, commit
      problem.textContent = '';
      return Atlas.send('POST', current.url + '/' + path + '?wait=0', choices).then(follow).catch(fail);
    }

    // -- what was found ------------------------------------------------------------------------------
    var ctx = {body: body, choices: {}, start: function (path, c) { return start(path, c); }};  // choices: layer, encoding, crs
    var shown = null;  // what Atlas.importFound drew
    var shownText = null;  // the inspection drawn now, as JSON
    function show(state) {
      var found = state.inspection;
      var text = JSON.stringify(found || null);
      if (shown && text === shownText) { return; }
      body.textContent = '';
      discardPreview();
      if (!found) { return; }
      shownText = text;
      el('div', 'atlas-import-summary', Atlas.t('importSummary', {file: found.file, format: (found.source || {}).title || found.format,
                                                                 count: fmt(found.count)}), body);
      shown = Atlas.importFound(ctx, found);
      targetSection(found);
    }
    function discardPreview() {
      if (shown) { shown.discard(); shown = null; }
      shownText = null;
    }

    // -- where it goes, the plan, the commit -------------------------------------------------------------
    var planBox = null;
    function targetSection(found) {
      var target = Atlas.importTarget(shown.section(Atlas.t('importInto')), found, {
        choices: function () { return ctx.choices; },
        mayCreate: mayCreate,
        repair: function () { return !!(shown && shown.repair() && shown.repair().checked); },
        problem: function (text) { problem.textContent = text; },
        submit: function (body) {
          current.pending = {layer: body.layer, mode: body.mode};
          remember(current);
          start('commit', body);
        },
        cancel: function () {
          var url = current && current.url;
          reset();
          if (url) { Atlas.send('DELETE', url).catch(function () { return null; }); }
        }
      });
      planBox = target.planBox;
    }

    function planned(plan) {
      if (planBox) { planBox.textContent = Atlas.t('importPlan', {added: fmt(plan.added), updated: fmt(plan.updated), unchanged: fmt(plan.unchanged)}); }
    }

    /* The commit is done: the layer refreshed (an existing one) or the page loaded again with it (a
     * new one: the server makes the page's layers); then, and after that reload, what was imported,
     * with "undo this import" and "done". */
    function committed(state) {
      var result = state.result;
      var last = (state.committed || [])[(state.committed || []).length - 1] || {};
      body.textContent = '';
      discardPreview();
      say(Atlas.t('importDone', {layer: result.layer, added: fmt(result.added), updated: fmt(result.updated), revision: result.revision}));
      if (last.undone) { say(Atlas.t('importUndone', {revision: last.undone})); remember(null); current = null; return; }
      var layer = Atlas.layers[result.layer];
      if (current.seen !== result.revision) {
        current.seen = result.revision;
        remember(current);
        if (!(layer && layer.refresh)) {
          setTimeout(function () {  // a new layer: loaded with the page
            say(Atlas.t('importReloading', {layer: result.layer}));
            location.href = Atlas.viewUrl({layers: Atlas.visibleLayers().concat([result.layer]).join(',')});
          }, 600);
          return;
        }
        layer.refresh(true);
      }
      var row = el('div', 'atlas-history-actions', null, body);
      var undo = Atlas.button('atlas-import-undo atlas-danger', Atlas.t('importUndo'), row);
      Atlas.button('atlas-import-finish', Atlas.t('importFinish'), row).addEventListener('click', reset);
      undo.addEventListener('click', function () {
        undo.disabled = true;
        problem.textContent = '';
        Atlas.send('POST', current.url + '/undo', {}).then(function (done) {
          say(Atlas.t('importUndone', {revision: done.revision}));
          body.textContent = '';
          remember(null);
          current = null;
          var shownLayer = Atlas.layers[done.layer];
          if (done.mode === 'new') {  // the layer is gone: the page without it
            location.href = Atlas.viewUrl({layers: Atlas.visibleLayers().filter(function (id) { return id !== done.layer; }).join(',')});
          } else if (shownLayer && shownLayer.refresh) {
            shownLayer.refresh(true);
          }
        }).catch(function (err) {
          undo.disabled = false;
          problem.textContent = Atlas.t('importUndoFailed', {detail: err.detail || err.message});
        });
      });
    }

    function reset() {
      clearTimeout(polling);
      remember(null);
      current = null;
      ctx.choices = {};
      body.textContent = '';
      discardPreview();
      problem.textContent = '';
      say('');
      progress(null);
    }

    // -- dropping and picking ------------------------------------------------------------------------
    input.addEventListener('change', function () { upload(input.files); input.value = ''; });
    // a file dragged anywhere over the map opens the panel (for whoever may import); dropped, it is uploaded
    var target = map.getContainer();
    var carriesFiles = function (e) {
      return !!(e.dataTransfer && Array.prototype.indexOf.call(e.dataTransfer.types || [], 'Files') >= 0);
    };
    ['dragenter', 'dragover'].forEach(function (type) {
      target.addEventListener(type, function (e) {
        if (!carriesFiles(e) || toolButton.hidden) { return; }
        e.preventDefault();
        if (box.hidden) { open(); }
        L.DomUtil.addClass(drop, 'atlas-on');
      });
    });
    target.addEventListener('dragleave', function (e) {
      if (!e.relatedTarget || !target.contains(e.relatedTarget)) { L.DomUtil.removeClass(drop, 'atlas-on'); }
    });
    target.addEventListener('drop', function (e) {
      if (!carriesFiles(e) || toolButton.hidden) { return; }
      e.preventDefault();
      L.DomUtil.removeClass(drop, 'atlas-on');
      var files = e.dataTransfer.files;
      if (files && files.length) { upload(files); }
    });

    function resume() {
      var rec = remembered();
      if (!rec || !rec.url || current) { return; }
      current = rec;
      Atlas.send('GET', rec.url).then(function (state) {
        open();
        say(Atlas.t('importResumed', {name: state.file}));
        follow(state);
      }).catch(function (err) {
        if (err.status) { remember(null); }  // gone (expired, removed); unreachable: resumed next time
        current = null;
      });
    }
    function open() {
      box.hidden = false;
      L.DomUtil.addClass(toolButton, 'atlas-on');
    }
    return {open: open, close: hide, isOpen: function () { return !box.hidden; }, resume: resume, upload: upload,
            previewMap: function () { return shown && shown.map(); }};
  }

  Atlas.tools.push({rank: 42, build: function (bar, map, button) {
    if (!Atlas.config.session) { return null; }  // a server without accounts: nobody imports
    var ui = null;
    var b = button(bar, 'atlas-tool-import', Atlas.t('importTool'), function () {
      if (ui.isOpen()) { ui.close(); } else { ui.open(); }
    });
    b.hidden = true;
    ui = buildCard(map, b);
    Atlas.importPanel = ui;
    Atlas.on(function (what) {
      if (what !== 'user') { return; }
      b.hidden = !may();
      if (!may()) { ui.close(); return; }
      ui.resume();
    });
    return null;
  }});
}());
