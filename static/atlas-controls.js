/* 精致威海规划图 — the page's controls: title and language, filters, tools, fullscreen,
 * coordinates, scale, the layer control's dress, the URL that carries the view, and Atlas.start.
 * Data becomes text only. (The search is in atlas-search.js, the legend in atlas-legend.js; the
 * toolbar's buttons come from the modules in Atlas.tools, by rank: measuring, export.) */
(function () {
  'use strict';
  var Atlas = window.Atlas;
  var el = Atlas.el;
  var NARROW = '(max-width: 640px)';

  function isNarrow() { return window.matchMedia && window.matchMedia(NARROW).matches; }
  Atlas.isNarrow = isNarrow;

  // -- the URL carries the view (relative: the page may be served under a prefix) -------------------
  Atlas.stateParams = function (overrides) {
    var map = Atlas.map, c = map.getCenter(), z = Math.round(map.getZoom());
    var digits = Math.max(3, Math.min(6, Math.ceil(z * 0.3) + 1));
    var state = {
      lang: Atlas.lang,
      basemap: Atlas.currentBasemap,
      center: c.lat.toFixed(digits) + ',' + c.lng.toFixed(digits),
      zoom: String(z),
      layers: Atlas.visibleLayers().join(',')
    };
    Atlas.FILTERS.forEach(function (k) { if (Atlas.filters[k]) { state[k] = Atlas.filters[k]; } });
    if (Atlas.asOf) { state.as_of = Atlas.asOf; }  // the atlas as it was then (atlas-history.js)
    return Atlas.query(L.extend(state, overrides || {}));
  };
  // This page with the view now (and ``overrides``): only a query, so the page's own path stays.
  Atlas.viewUrl = function (overrides) { return '?' + Atlas.stateParams(overrides); };
  var otherLang = function () { return {lang: Atlas.lang === 'zh' ? 'en' : 'zh'}; };

  Atlas.syncUrl = function () {
    clearTimeout(Atlas._urlTimer);
    Atlas._urlTimer = setTimeout(function () {
      history.replaceState(null, '', Atlas.viewUrl());
      if (Atlas._langLink) { Atlas._langLink.href = Atlas.viewUrl(otherLang()); }
    }, 150);
  };

  // -- the panel: title, language, search, filters, notices ----------------------------------------
  function panel() {
    return Atlas.control('topleft', 'atlas-panel', function (box, map) {
      var head = el('div', 'atlas-head', null, box);
      el('h1', 'atlas-title', Atlas.t('title'), head);
      Atlas._busyMark = el('span', 'atlas-busy', Atlas.t('loading'), head);
      Atlas._busyMark.hidden = map.getContainer().getAttribute('data-atlas-state') === 'idle';
      var lang = Atlas._langLink = el('a', 'atlas-lang', Atlas.t('switchLang'), head);
      lang.href = '#';
      lang.title = Atlas.t('switchLangTitle');
      lang.setAttribute('hreflang', Atlas.lang === 'zh' ? 'en' : 'zh');
      lang.addEventListener('click', function (e) {
        e.preventDefault();
        location.href = Atlas.viewUrl(otherLang());
      });

      Atlas.searchBox(el('div', 'atlas-search', null, box), map);
      filterBox(el('div', 'atlas-filters', null, box));

      var notice = Atlas._noticeBox = el('div', 'atlas-notice', null, box);
      notice.hidden = true;
      notice.setAttribute('role', 'status');
    });
  }

  function updateNotice() {
    var box = Atlas._noticeBox, note = Atlas._notice;
    if (!box) { return; }
    box.textContent = '';
    box.hidden = !note;
    if (!note) { return; }
    box.className = 'atlas-notice atlas-notice-' + note.kind;
    el('span', null, note.text, box);
    var close = Atlas.button('atlas-notice-close', '×', box, Atlas.t('dismiss'));
    close.addEventListener('click', function () { Atlas._notice = null; updateNotice(); });
  }

  // -- filters: district, category, status, for all layers at once ---------------------------------
  function filterBox(box) {
    var vocab = Atlas.config.vocab, selects = {};
    var toggle = Atlas.button('atlas-filter-toggle', null, box);
    var body = el('div', 'atlas-filter-body', null, box);

    function field(name, fill) {
      var label = el('label', 'atlas-filter', null, body);
      el('span', null, Atlas.t(name), label);
      var select = selects[name] = el('select', null, null, label);
      select.name = name;
      Atlas.option(select, '', Atlas.t('all'), !Atlas.filters[name]);
      fill(select, Atlas.filters[name]);
      select.addEventListener('change', function () { Atlas.setFilter(name, select.value); });
    }

    field('district', function (select, current) {
      var areas = [];
      Object.keys(vocab.district).forEach(function (key) {
        var entry = vocab.district[key];
        if (entry.group === 'functional_area') { areas.push(key); return; }
        Atlas.option(select, key, Atlas.label(entry), current === key);
      });
      var group = el('optgroup', null, null, select);
      group.label = Atlas.t('functionalAreas');
      areas.forEach(function (key) { Atlas.option(group, key, Atlas.label(vocab.district[key]), current === key); });
    });
    field('category', function (select, current) {
      Atlas.config.layers.forEach(function (cfg) {
        var cats = cfg.style.by === 'category' ? Object.keys(cfg.style.categories || {}) : [];  // the category field's
        if (!cats.length) { return; }
        var group = el('optgroup', null, null, select);
        group.label = Atlas.label(cfg.title);
        cats.forEach(function (key) { Atlas.option(group, key, Atlas.label(cfg.style.categories[key].label), current === key); });
      });
    });
    field('status', function (select, current) {
      Object.keys(vocab.status).forEach(function (key) { Atlas.option(select, key, Atlas.label(vocab.status[key]), current === key); });
    });
    var clear = Atlas.button('atlas-filter-clear', Atlas.t('clearFilters'), body);
    clear.addEventListener('click', function () {
      Object.keys(selects).forEach(function (k) { selects[k].value = ''; Atlas.filters[k] = null; });
      Atlas.setFilter('district', null);
    });
    toggle.addEventListener('click', function () { L.DomUtil[box.classList.contains('atlas-open') ? 'removeClass' : 'addClass'](box, 'atlas-open'); });

    function update() {
      var n = Atlas.FILTERS.filter(function (k) { return Atlas.filters[k]; }).length;
      toggle.textContent = Atlas.t('filters') + (n ? ' (' + n + ')' : '') + ' ▾';
      clear.hidden = !n;
      L.DomUtil[n ? 'addClass' : 'removeClass'](box, 'atlas-filtered');
    }
    update();
    Atlas.on(function (what) { if (what === 'filters') { update(); } });
  }

  // -- tools: fullscreen (the Fullscreen API), then the buttons of the modules in Atlas.tools -------

  function button(parent, cls, label, onClick) {
    var b = Atlas.button('atlas-tool ' + cls, null, parent, label);
    b.addEventListener('click', function (e) { L.DomEvent.stop(e); onClick(b); });
    return b;
  }

  function toolbar() {
    return Atlas.control('topleft', 'atlas-toolbar leaflet-bar', function (box, map) {
      var root = document.documentElement;
      if (root.requestFullscreen && document.fullscreenEnabled !== false) {
        var fs = button(box, 'atlas-tool-fullscreen', Atlas.t('fullscreen'), function () {
          if (document.fullscreenElement) { document.exitFullscreen(); } else { root.requestFullscreen(); }
        });
        document.addEventListener('fullscreenchange', function () {
          var on = !!document.fullscreenElement;
          Atlas.titled(fs, Atlas.t(on ? 'exitFullscreen' : 'fullscreen'));
          L.DomUtil[on ? 'addClass' : 'removeClass'](fs, 'atlas-on');
          setTimeout(function () { map.invalidateSize(); }, 100);
        });
      }
      var tools = Atlas.tools.slice().sort(function (a, b) { return a.rank - b.rank; });
      Atlas._toolControls = tools.map(function (tool) { return tool.build(box, map, button); }).filter(Boolean);
    });
  }

  // -- mouse coordinates ------------------------------------------------------------------------------
  function coordinates() {
    return Atlas.control('bottomleft', 'atlas-coords', function (box, map) {
      var over = false;
      var prefix = el('span', 'atlas-coords-what', null, box);
      var latBox = el('span', 'atlas-coords-lat', null, box);
      el('span', null, ' ', box);
      var lngBox = el('span', 'atlas-coords-lng', null, box);
      function show(latlng, centre) {
        var lat = Math.abs(latlng.lat).toFixed(5), lng = Math.abs(latlng.lng).toFixed(5);
        prefix.textContent = centre ? Atlas.t('mapCenter') + ' ' : '';
        latBox.textContent = lat + '°' + (latlng.lat >= 0 ? 'N' : 'S');
        lngBox.textContent = lng + '°' + (latlng.lng >= 0 ? 'E' : 'W');
        box.title = (centre ? Atlas.t('mapCenter') : '') + ' ' + Atlas.t('lat') + ' ' + lat + ' ' + Atlas.t('lng') + ' ' + lng;
      }
      map.on('mousemove', function (e) { over = true; show(e.latlng, false); });
      map.on('mouseout', function () { over = false; show(map.getCenter(), true); });
      map.on('move', function () { if (!over) { show(map.getCenter(), true); } });
      show(map.getCenter(), true);
    });
  }

  // -- the layer control: headings, language, collapsed on a phone -----------------------------------
  function dressLayerControl(ctl, map) {
    var box = ctl.getContainer();
    var toggle = box.querySelector('.leaflet-control-layers-toggle');
    if (toggle) { Atlas.titled(toggle, Atlas.t('layers')); }
    var base = box.querySelector('.leaflet-control-layers-base');
    var over = box.querySelector('.leaflet-control-layers-overlays');
    if (base) { base.parentNode.insertBefore(el('div', 'atlas-lc-head', Atlas.t('basemap')), base); }
    if (over) { over.parentNode.insertBefore(el('div', 'atlas-lc-head', Atlas.t('layers')), over); }
    if (isNarrow()) {
      ctl.collapse();
      map.on('click', ctl.collapse, ctl);
    }
  }

  Atlas.start = function (map, layerControl) {
    Atlas.layerControl = layerControl;
    panel().addTo(map);
    L.control.zoom({position: 'topleft', zoomInTitle: Atlas.t('zoomIn'), zoomOutTitle: Atlas.t('zoomOut')}).addTo(map);
    toolbar().addTo(map);
    (Atlas._toolControls || []).forEach(function (ctl) { ctl.addTo(map); });
    Atlas.legend().addTo(map);
    L.control.scale({position: 'bottomleft', metric: true, imperial: false, maxWidth: 120}).addTo(map);
    coordinates().addTo(map);
    dressLayerControl(layerControl, map);

    map.on('baselayerchange', function (e) {
      Atlas.setBasemapClass(e.layer.atlasId);
      Atlas.syncUrl();
    });
    map.on('overlayadd overlayremove', function () { Atlas.changed('layers'); Atlas.syncUrl(); });
    map.on('moveend', Atlas.syncUrl);
    Atlas.on(function (what) {
      if (what === 'layers' || what === 'busy') { Atlas.updateLegend(); }
      if (what === 'notice') { updateNotice(); }
      if (what === 'filters') { Atlas.syncUrl(); }
      if (what === 'busy' && Atlas._busyMark) {
        Atlas._busyMark.hidden = map.getContainer().getAttribute('data-atlas-state') === 'idle';
      }
    });
    Atlas.updateLegend();
    Atlas.fitLegend();
    map.on('resize', Atlas.fitLegend);
    if (!Atlas.config.view) { fitHome(map); }
    Atlas.started = true;
    Object.keys(Atlas.layers).forEach(function (id) { Atlas.layers[id].refresh(); });
    if (Atlas.land && map.hasLayer(Atlas.land)) { Atlas.land.refresh(); }  // after: it may share the districts
    Atlas.syncUrl();
    Atlas.busy(-1);
  };

  // The whole city in view, clear of the panel and, on a phone, of the legend.
  function fitHome(map) {
    var box = map.getContainer().getBoundingClientRect();
    var top = 10, bottom = 10, left = 10, right = 10;
    var panelBox = document.querySelector('.atlas-panel');
    var legendBox = document.querySelector('.atlas-legend');
    if (panelBox && isNarrow()) { top = panelBox.getBoundingClientRect().bottom - box.top + 8; }
    if (legendBox && isNarrow()) { bottom = box.bottom - legendBox.getBoundingClientRect().top + 8; }
    if (panelBox && !isNarrow()) { left = Math.min(panelBox.getBoundingClientRect().right - box.left, box.width / 4); }
    if (legendBox && !isNarrow()) { right = Math.min(box.right - legendBox.getBoundingClientRect().left, box.width / 4); }
    map.fitBounds(Atlas.config.home, {animate: false, paddingTopLeft: [left, top], paddingBottomRight: [right, bottom]});
  }
}());
