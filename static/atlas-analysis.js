/* 精致威海规划图 — spatial analysis (分析评价), tab 1: the spatial query. A toolbar button opens a panel
 * of two tabs. 空间查询: the region is a polygon drawn on the map (Atlas.draw, the editing module's
 * drawing: clicks, double-click or 完成; its area in 亩 shown while drawing) or a feature (picked by a
 * click on the map, or the one of the open popup) grown by a distance in metres; the predicate; the
 * layers to search (the visible ones by default). 查询 sends POST /api/query (an.post: the CSRF token
 * as Atlas.send adds it, the answer left raw for files) twice — JSON for the lists and statistics, GeoJSON for the region and
 * the parts inside, drawn on the map — and lists per layer each feature found (name, 亩/km inside,
 * share; a click flies to it) with the layer's statistics. The region and results export as the
 * API's GeoJSON and CSV. 叠加分析 is atlas-analysis-overlay.js. 清除 removes every layer drawn. Text only. */
(function () {
  'use strict';
  var Atlas = window.Atlas;
  var el = Atlas.el;

  Atlas.strings({
    anOpen: ['分析评价', 'Spatial analysis'],
    anTabQuery: ['空间查询', 'Spatial query'],
    anTabOverlay: ['叠加分析', 'Overlay'],
    anRegion: ['查询区域', 'Region'],
    anByPolygon: ['绘制多边形', 'a drawn polygon'],
    anByFeature: ['要素及距离', 'a feature and a distance'],
    anDraw: ['在地图上绘制', 'Draw on the map'],
    anDrawTitle: ['绘制查询区域', 'Drawing the query region'],
    anPick: ['在地图上点选要素', 'Pick a feature on the map'],
    anPicking: ['请单击地图上的一个要素…', 'Click a feature on the map…'],
    anFromPopup: ['用弹窗中的要素', 'The popup’s feature'],
    anNoPopup: ['没有打开的要素弹窗', 'No feature popup is open'],
    anNoFeature: ['尚未选取要素', 'No feature picked yet'],
    anNoPolygon: ['尚未绘制区域', 'No region drawn yet'],
    anDistance: ['距离（米）', 'Distance (m)'],
    anPredicate: ['空间关系', 'Predicate'],
    anIntersects: ['相交（部分在内即计）', 'intersects (any part inside)'],
    anWithin: ['完全在内', 'within (wholly inside)'],
    anLayers: ['查询图层', 'Layers to search'],
    anRun: ['查询', 'Query'],
    anClear: ['清除', 'Clear'],
    anDrawnArea: ['区域面积：{mu} 亩', 'Region area: {mu} mu'],
    anLoading: ['正在查询…', 'Querying…'],
    anFailed: ['查询失败：{detail}', 'The query failed: {detail}'],
    anNoLayers: ['请至少选择一个图层', 'Choose at least one layer'],
    anSummary: ['区域 {mu} 亩 · 共 {n} 个要素', 'Region {mu} mu · {n} features'],
    anLayerStats: ['{n} 个 · 区内 {mu} 亩 · {km} 千米', '{n} · inside {mu} mu · {km} km'],
    anListed: ['仅列出前 {n} 个', 'only the first {n} listed'],
    anName: ['名称', 'Name'],
    anInMu: ['区内（亩）', 'Inside (mu)'],
    anInKm: ['区内（千米）', 'Inside (km)'],
    anShare: ['比例', 'Share'],
    anNone: ['区域内没有要素', 'No features in the region'],
    anGeojson: ['导出 GeoJSON', 'GeoJSON'],
    anCsv: ['导出 CSV', 'CSV'],
    anUnnamed: ['（无名称）', '(no name)']
  });

  var MU = 10000 / 15;
  var REGION_STYLE = {color: '#6a1b9a', weight: 3, dashArray: '8 6', fillColor: '#ab47bc', fillOpacity: 0.08};
  var FOUND_STYLE = {color: '#ff6f00', weight: 3, opacity: 0.95, fillColor: '#ffb300', fillOpacity: 0.3};
  var an = Atlas.analysis = {layers: {}};

  // -- shared pieces (the overlay tab uses them too) -------------------------------------------------
  an.field = function (parent, label, tag, name) {
    var box = el('label', 'atlas-analysis-field', null, parent);
    el('span', 'atlas-analysis-label', label, box);
    var input = el(tag || 'select', null, null, box);
    input.name = name;
    return input;
  };
  an.name = function (record) {
    var zh = record.name_zh, en = record.name_en;
    var first = Atlas.lang === 'en' ? (en || zh) : (zh || en);
    return first === null || first === undefined || first === '' ? (record.id ? String(record.id) : Atlas.t('anUnnamed')) : String(first);
  };
  an.pct = function (share) { return Atlas.number(share * 100, 1) + '%'; };
  an.cell = function (tr, text, num) { return el('td', num ? 'atlas-analysis-num' : null, text, tr); };
  an.table = function (parent, heads, texts) {  // ``texts``: how many columns are words (1 by default), the rest numbers
    var table = el('table', 'atlas-analysis-table', null, parent), tr = el('tr', null, null, el('thead', null, null, table));
    heads.forEach(function (h, i) { el('th', i >= (texts || 1) ? 'atlas-analysis-num' : null, h, tr); });
    return el('tbody', null, null, table);
  };
  /* A layer of ours on the map (``key``: its name in an.layers), replacing the one before. */
  an.show = function (key, layer, fit) {  // ``fit``: brought into view when it is not
    if (an.layers[key]) { Atlas.map.removeLayer(an.layers[key]); }
    an.layers[key] = layer;
    if (layer) { layer.addTo(Atlas.map); }
    var b = fit && layer && layer.getBounds();
    if (b && b.isValid() && !Atlas.map.getBounds().contains(b)) { Atlas.map.fitBounds(b, {padding: [40, 40], maxZoom: 16}); }
  };
  an.geo = function (data, style) {
    return L.geoJSON(data, {pane: 'atlas-highlight', interactive: false, renderer: Atlas.highlightRenderer, style: style,
                            pointToLayer: function (f, ll) { return L.circleMarker(ll, L.extend({radius: 9}, style)); }});
  };
  an.fly = function (feature, layerId) {
    var b = L.geoJSON(feature).getBounds();
    if (!b.isValid()) { return; }
    Atlas.showFeature({id: feature.id, bbox: [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()],
                       properties: {layer: layerId}, geometry: {type: 'Point', coordinates: [b.getCenter().lng, b.getCenter().lat]}});
  };
  /* POST ``body`` as JSON with the CSRF token (as Atlas.send), the raw Response; a refusal rejects with its detail. */
  an.post = function (url, body) {
    var h = {'Content-Type': 'application/json'};
    if (Atlas.session && Atlas.session.csrf_token) { h['X-CSRFToken'] = Atlas.session.csrf_token; }
    return fetch(url, {method: 'POST', headers: h, credentials: 'same-origin', body: JSON.stringify(body)}).then(function (resp) {
      if (resp.ok) { return resp; }
      return resp.json().catch(function () { return {}; }).then(function (data) {
        throw new Error(data.detail || (resp.status + ' ' + resp.statusText));
      });
    });
  };
  an.save = function (resp, fallback) {
    return resp.blob().then(function (blob) {
      Atlas.saveBlob(blob, Atlas.filenameFrom(resp.headers.get('Content-Disposition')) || fallback);
    });
  };
  an.clear = function () {
    Object.keys(an.layers).forEach(function (k) { an.show(k, null); });
    if (an.onClear) { an.onClear.forEach(function (fn) { fn(); }); }
  };

  // -- the popup's feature, and picking one on the map ---------------------------------------------------
  var popupFeature = null, picking = null;
  Atlas.popupSections.push(function (box, feature, cfg) { if (cfg) { popupFeature = {feature: feature, layer: cfg.id}; } });
  Atlas.popupClicks.push(function (feature, latlng, cfg) {
    if (!picking || !feature || !cfg) { return false; }
    var done = picking;
    picking = null;
    done({feature: feature, layer: cfg.id});
    return true;
  });

  // -- tab 1: the query ------------------------------------------------------------------------------------
  function buildQuery(section, map, panel) {
    var mode = el('div', 'atlas-analysis-modes', null, section);
    el('span', 'atlas-analysis-label', Atlas.t('anRegion'), mode);
    function radio(value, text) {
      var label = el('label', 'atlas-analysis-mode', null, mode), input = el('input', null, null, label);
      input.type = 'radio';
      input.name = 'analysis-region';
      input.value = value;
      el('span', null, text, label);
      return input;
    }
    var byPolygon = radio('polygon', Atlas.t('anByPolygon')), byFeature = radio('feature', Atlas.t('anByFeature'));
    byPolygon.checked = true;

    var polyBox = el('div', 'atlas-analysis-region atlas-analysis-by-polygon', null, section);
    var drawButton = Atlas.button('atlas-analysis-draw', Atlas.t('anDraw'), polyBox);
    var areaText = el('span', 'atlas-analysis-area', Atlas.t('anNoPolygon'), polyBox);
    var featBox = el('div', 'atlas-analysis-region atlas-analysis-by-feature', null, section);
    var pickButton = Atlas.button('atlas-analysis-pick', Atlas.t('anPick'), featBox);
    var popupButton = Atlas.button('atlas-analysis-from-popup', Atlas.t('anFromPopup'), featBox);
    var picked = el('span', 'atlas-analysis-picked', Atlas.t('anNoFeature'), featBox);
    var distance = an.field(featBox, Atlas.t('anDistance'), 'input', 'analysis-distance');
    distance.type = 'number';
    distance.min = '0';
    distance.max = '50000';
    distance.step = '10';
    distance.value = '500';

    var form = el('div', 'atlas-analysis-form', null, section);
    var predicate = an.field(form, Atlas.t('anPredicate'), 'select', 'analysis-predicate');
    Atlas.option(predicate, 'intersects', Atlas.t('anIntersects'), true);
    Atlas.option(predicate, 'within', Atlas.t('anWithin'));
    el('div', 'atlas-analysis-label', Atlas.t('anLayers'), section);
    var layerBox = el('div', 'atlas-analysis-layers', null, section);
    var actions = el('div', 'atlas-analysis-actions', null, section);
    var run = Atlas.button('atlas-analysis-run', Atlas.t('anRun'), actions);
    var geojson = Atlas.button('atlas-analysis-geojson', Atlas.t('anGeojson'), actions);
    var csv = Atlas.button('atlas-analysis-csv', Atlas.t('anCsv'), actions);
    var message = el('div', 'atlas-analysis-message', null, section);
    message.setAttribute('role', 'status');
    var results = el('div', 'atlas-analysis-results', null, section);

    var state = {polygon: null, feature: null, body: null, answer: null, touched: false};
    function setState(v) { panel.setAttribute('data-query-state', v); }
    function say(text, error) {
      message.textContent = text || '';
      message.hidden = !text;
      message.className = 'atlas-analysis-message' + (error ? ' atlas-analysis-error' : '');
    }
    function modes() {
      polyBox.hidden = !byPolygon.checked;
      featBox.hidden = !byFeature.checked;
    }
    [byPolygon, byFeature].forEach(function (r) { r.addEventListener('change', modes); });
    modes();

    function layerChoices() {  // every layer; checked: the visible ones, until the user chooses
      var shown = Atlas.visibleConfigs().map(function (c) { return c.id; }), had = {};
      Array.prototype.forEach.call(layerBox.querySelectorAll('input'), function (i) { had[i.value] = i.checked; });
      layerBox.textContent = '';
      Atlas.config.layers.forEach(function (cfg) {
        var label = el('label', 'atlas-analysis-layer-choice', null, layerBox), input = el('input', null, null, label);
        input.type = 'checkbox';
        input.name = 'analysis-layer';
        input.value = cfg.id;
        input.checked = state.touched && had[cfg.id] !== undefined ? had[cfg.id] : shown.indexOf(cfg.id) >= 0;
        input.addEventListener('change', function () { state.touched = true; });
        el('span', null, Atlas.label(cfg.title), label);
      });
    }
    function chosenLayers() {
      return Array.prototype.filter.call(layerBox.querySelectorAll('input'), function (i) { return i.checked; })
        .map(function (i) { return i.value; });
    }

    // the region: drawn, or a feature
    function drawnArea(mu) { areaText.textContent = Atlas.t('anDrawnArea', {mu: Atlas.number(mu, 2)}); }
    drawButton.addEventListener('click', function () {
      state.polygon = null;
      an.show('preview', null);
      var finished = false;
      state.editor = Atlas.draw.start({kind: 'polygon', type: 'Polygon', title: Atlas.t('anDrawTitle'), onChange: function (ed) {
        drawnArea(ed.measures().area_m2 / MU);
        if (finished || !ed.complete() || !ed.valid()) { return; }
        finished = true;
        state.polygon = ed.geometry();
        setTimeout(function () {
          Atlas.draw.stop();
          an.show('preview', an.geo(state.polygon, REGION_STYLE));
          panel.setAttribute('data-polygon', JSON.stringify(state.polygon));
        }, 0);
      }});
    });
    function setFeature(f) {
      state.feature = {layer: f.layer, id: String(f.feature.id || (f.feature.properties || {}).id)};
      var cfg = Atlas.layerConfig(f.layer);
      picked.textContent = (cfg ? Atlas.label(cfg.title) + '：' : '') + an.name(L.extend({id: state.feature.id}, f.feature.properties));
      picked.setAttribute('data-feature', f.layer + ':' + state.feature.id);
      an.show('preview', an.geo(f.feature, REGION_STYLE));
    }
    pickButton.addEventListener('click', function () {
      picking = function (f) { L.DomUtil.removeClass(pickButton, 'atlas-on'); setFeature(f); };
      L.DomUtil.addClass(pickButton, 'atlas-on');
      map.closePopup();
      picked.textContent = Atlas.t('anPicking');
    });
    popupButton.addEventListener('click', function () {
      if (!popupFeature || !map._popup || !map.hasLayer(map._popup)) { say(Atlas.t('anNoPopup'), true); return; }
      setFeature(popupFeature);
      map.closePopup();
    });

    function request() {
      var layers = chosenLayers();
      if (!layers.length) { return {error: Atlas.t('anNoLayers')}; }
      var body = {layers: layers, predicate: predicate.value};
      if (byPolygon.checked) {
        if (!state.polygon) { return {error: Atlas.t('anNoPolygon')}; }
        body.polygon = state.polygon;
      } else {
        if (!state.feature) { return {error: Atlas.t('anNoFeature')}; }
        body.feature = state.feature;
        body.distance_m = Number(distance.value || 0);
      }
      Atlas.FILTERS.forEach(function (k) { if (Atlas.filters[k]) { body[k] = Atlas.filters[k]; } });
      if (Atlas.asOf) { body.as_of = Atlas.asOf; }
      return {body: body};
    }

    function list(answer, parts) {
      results.textContent = '';
      var total = 0;
      Object.keys(answer.layers).forEach(function (id) {
        var found = answer.layers[id], s = found.stats.inside;
        total += found.stats.count;
        var box = el('section', 'atlas-analysis-layer', null, results);
        box.setAttribute('data-layer', id);
        var cfg = Atlas.layerConfig(id);
        el('h3', null, cfg ? Atlas.label(cfg.title) : Atlas.label(found.title) || id, box);
        var stats = el('div', 'atlas-analysis-stats', Atlas.t('anLayerStats', {n: Atlas.number(s.count),
          mu: Atlas.number(s.area_mu, 2), km: Atlas.number(s.length_km, 3)}), box);
        ['count', 'area_mu', 'area_ha', 'length_km'].forEach(function (k) { stats.setAttribute('data-' + k.replace('_', '-'), String(s[k])); });
        if (found.numberListed < found.numberMatched) { el('div', 'atlas-analysis-note', Atlas.t('anListed', {n: Atlas.number(found.numberListed)}), box); }
        if (!found.features.length) { return; }
        var kind = cfg ? Atlas.kind(cfg.geometry) : 'polygon';  // the measure of the layer's kind: 亩, km, or none
        var heads = [Atlas.t('anName')].concat(kind === 'polygon' ? [Atlas.t('anInMu')] : kind === 'line' ? [Atlas.t('anInKm')] : []);
        var body = an.table(box, heads.concat([Atlas.t('anShare')]));
        found.features.forEach(function (r) {
          var tr = el('tr', 'atlas-analysis-row', null, body);
          tr.setAttribute('data-id', String(r.id));
          tr.setAttribute('data-area-mu', String(r.inside.area_mu));
          tr.setAttribute('data-length-km', String(r.inside.length_km));
          tr.setAttribute('data-share', String(r.share));
          an.cell(tr, an.name(r));
          if (kind === 'polygon') { an.cell(tr, Atlas.number(r.inside.area_mu, 2), true); }
          if (kind === 'line') { an.cell(tr, Atlas.number(r.inside.length_km, 3), true); }
          an.cell(tr, an.pct(r.share), true);
          tr.addEventListener('click', function () {
            var part = parts[id + '\u0000' + r.id];
            if (part) { an.fly(L.extend({}, part, {id: r.id}), id); }
          });
        });
      });
      var area = answer.region.properties.area_mu;
      say(total ? Atlas.t('anSummary', {mu: Atlas.number(area, 2), n: Atlas.number(total)}) : Atlas.t('anNone'));
    }

    function runQuery() {
      var req = request();
      if (req.error) { say(req.error, true); setState('error'); return; }
      var url = Atlas.apiUrl('query');
      setState('loading');
      say(Atlas.t('anLoading'));
      Atlas.busy(+1);
      // one request: the answer's features carry their part inside (geometry: true)
      an.post(url, L.extend({geometry: true}, req.body)).then(function (r) { return r.json(); })
        .then(function (answer) {
          var parts = {}, inside = [];
          state.body = req.body;
          state.answer = answer;
          an.show('preview', null);
          an.show('region', an.geo(answer.region, REGION_STYLE), true);
          Object.keys(answer.layers).forEach(function (layer) {
            answer.layers[layer].features.forEach(function (record) {
              var f = {type: 'Feature', id: record.id, geometry: record.geometry, properties: {layer: layer}};
              inside.push(f);
              parts[layer + '\u0000' + record.id] = f;
            });
          });
          an.show('found', an.geo({type: 'FeatureCollection', features: inside}, FOUND_STYLE));
          list(answer, parts);
          panel.setAttribute('data-query', JSON.stringify(req.body));
          geojson.disabled = csv.disabled = false;
          setState('ready');
        }).catch(function (err) {
          say(Atlas.t('anFailed', {detail: err.message}), true);
          setState('error');
        }).then(function () { Atlas.busy(-1); });
    }
    run.addEventListener('click', runQuery);
    function exporter(fmt) {
      return function () {
        if (!state.body) { return; }
        an.post(Atlas.apiUrl('query'), L.extend({}, state.body, {format: fmt, lang: Atlas.lang}))
          .then(function (resp) { return an.save(resp, 'weihai-atlas_query.' + fmt); })
          .catch(function (err) { say(Atlas.t('anFailed', {detail: err.message}), true); });
      };
    }
    geojson.addEventListener('click', exporter('geojson'));
    csv.addEventListener('click', exporter('csv'));
    geojson.disabled = csv.disabled = true;

    (an.onClear = an.onClear || []).push(function () {
      state.polygon = state.feature = state.body = state.answer = null;
      picking = null;
      if (state.editor && Atlas.draw.editor() === state.editor) { Atlas.draw.stop(); }  // ours only, not an edit's
      L.DomUtil.removeClass(pickButton, 'atlas-on');
      results.textContent = '';
      areaText.textContent = Atlas.t('anNoPolygon');
      picked.textContent = Atlas.t('anNoFeature');
      picked.removeAttribute('data-feature');
      panel.removeAttribute('data-polygon');
      panel.removeAttribute('data-query');
      geojson.disabled = csv.disabled = true;
      say('');
      setState('idle');
    });
    say('');
    setState('idle');
    Atlas.on(function (what) { if (what === 'layers' && !state.touched) { layerChoices(); } });
    return {open: layerChoices};
  }

  // -- the panel ---------------------------------------------------------------------------------------
  function buildPanel(map) {
    var panel = el('div', 'atlas-analysis', null, map.getContainer());
    panel.hidden = true;
    panel.setAttribute('role', 'dialog');
    panel.setAttribute('aria-label', Atlas.t('anOpen'));
    L.DomEvent.disableClickPropagation(panel);
    L.DomEvent.disableScrollPropagation(panel);
    var head = el('div', 'atlas-analysis-head', null, panel);
    el('h2', null, Atlas.t('anOpen'), head);
    var clear = Atlas.button('atlas-analysis-clear', Atlas.t('anClear'), head);
    var close = Atlas.button('atlas-analysis-close', '×', head, Atlas.t('close'));
    var tabs = el('div', 'atlas-analysis-tabs', null, panel);
    tabs.setAttribute('role', 'tablist');
    var sections = {}, buttons = {};
    [['query', 'anTabQuery'], ['overlay', 'anTabOverlay']].forEach(function (t) {
      var b = buttons[t[0]] = Atlas.button('atlas-analysis-tab', Atlas.t(t[1]), tabs);
      b.setAttribute('role', 'tab');
      b.setAttribute('data-tab', t[0]);
      b.addEventListener('click', function () { select(t[0]); });
      sections[t[0]] = el('div', 'atlas-analysis-section atlas-analysis-' + t[0], null, panel);
    });
    function select(tab) {
      Object.keys(sections).forEach(function (k) {
        sections[k].hidden = k !== tab;
        buttons[k].setAttribute('aria-selected', String(k === tab));
        L.DomUtil[k === tab ? 'addClass' : 'removeClass'](buttons[k], 'atlas-on');
      });
      panel.setAttribute('data-tab', tab);
      if (tab === 'overlay' && overlay) { overlay.open(); }
    }
    var query = buildQuery(sections.query, map, panel);
    var overlay = an.buildOverlay ? an.buildOverlay(sections.overlay, map, panel) : null;
    clear.addEventListener('click', an.clear);
    function open() {
      query.open();
      panel.hidden = false;
      L.DomUtil.addClass(an.button, 'atlas-on');
    }
    function hide() {
      panel.hidden = true;
      L.DomUtil.removeClass(an.button, 'atlas-on');
    }
    close.addEventListener('click', hide);
    select('query');
    an.panel = {open: open, close: hide, select: select, element: panel, isOpen: function () { return !panel.hidden; }};
  }

  Atlas.tools.push({rank: 26, build: function (bar, map, button) {
    an.button = button(bar, 'atlas-tool-analysis', Atlas.t('anOpen'), function () {
      if (!an.panel) { buildPanel(map); }
      if (an.panel.isOpen()) { an.panel.close(); } else { an.panel.open(); }
    });
    return null;
  }});
}());
