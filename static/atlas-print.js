/* 精致威海规划图 — the print layout.
 *
 * A sheet of the chosen paper (A4/A3, landscape/portrait, in mm) with the title, the filters in
 * words, the map (moved into the sheet), a north arrow and scale bar, the legend of the visible
 * layers (atlas-ui.js's, as on the page), the sources the visible features cite, the accuracy
 * classes and the date. @page takes the paper size, so the browser's "Save as PDF" gives the PDF;
 * the PNG of the same sheet is atlas-print-canvas.js's. Its controls are a section of the export
 * panel (Atlas.exportSections). Data becomes text only. */
(function () {
  'use strict';
  var Atlas = window.Atlas;
  var el = Atlas.el;
  var PAPER = {A4: [210, 297], A3: [297, 420]};  // mm, portrait
  var settings = {paper: 'A4', orientation: 'landscape', title: null};
  var parts = {}, home = null, pageStyle = null;
  // what the PNG draws again: the sheet (null until first shown), its parts, the settings
  Atlas.printLayout = {sheet: null, parts: parts, settings: settings};

  Atlas.today = function () {
    var d = new Date(), pad = function (n) { return (n < 10 ? '0' : '') + n; };
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate());
  };

  Atlas.defaultPrintTitle = function () {
    var words = Atlas.filterWords();
    return Atlas.t('title') + (words.length ? ' · ' + words.join(' · ') : '');
  };
  Atlas.printTitle = function () { return settings.title || Atlas.defaultPrintTitle(); };

  // -- what the sheet shows: legend, sources, accuracy ----------------------------------------------
  // The sources the visible features cite, and how many of them are of each accuracy class.
  Atlas.sourcesModel = function () {
    var files = {}, counts = {};
    Atlas.visibleConfigs().forEach(function (cfg) {
      Atlas.eachLeaf(Atlas.layers[cfg.id], function (lay) {
        var p = (lay.feature && lay.feature.properties) || {};
        var src = Array.isArray(p.source) ? p.source : (Array.isArray(p.sources) ? p.sources : []);
        src.forEach(function (s) { if (s && s.file) { files[s.file] = (files[s.file] || 0) + 1; } });
        if (p.accuracy) { counts[p.accuracy] = (counts[p.accuracy] || 0) + 1; }
      });
    });
    return {
      files: Object.keys(files).sort(),
      counts: counts,
      accuracy: Atlas.accuracyClasses().map(function (a) { return L.extend({count: counts[a.key] || 0}, a); })
    };
  };

  // The sheet's legend (and the PNG's): the page's, with how many features of each accuracy class.
  Atlas.printLegendModel = function (sources) {
    var layers = Atlas.legendModel();
    return {layers: layers, keys: Atlas.legendKeys(layers, {counts: (sources || Atlas.sourcesModel()).counts,
                                                            accuracyTitle: Atlas.t('printAccuracy'),
                                                            accuracyClass: 'atlas-print-accuracy'})};
  };

  // A round length of at most ``maxPx`` pixels at the map's centre: {px, label}.
  Atlas.scaleBar = function (maxPx) {
    var map = Atlas.map, size = map.getSize(), y = size.y / 2;
    var metres = map.distance(map.containerPointToLatLng([0, y]), map.containerPointToLatLng([maxPx, y]));
    var pow = Math.pow(10, Math.floor(Math.log(metres) / Math.LN10)), d = metres / pow;
    var nice = (d >= 5 ? 5 : d >= 2 ? 2 : 1) * pow;
    return {px: Math.round(maxPx * nice / metres), label: nice >= 1000 ? (nice / 1000) + ' km' : nice + ' m'};
  };

  // -- the sheet --------------------------------------------------------------------------------------
  function buildSheet() {
    var sheet = Atlas.printLayout.sheet = el('div', 'atlas-print-sheet', null, document.body);
    var head = el('header', 'atlas-print-head', null, sheet);
    parts.title = el('h1', 'atlas-print-title', null, head);
    parts.subtitle = el('div', 'atlas-print-subtitle', null, head);
    var body = el('div', 'atlas-print-body', null, sheet);
    parts.slot = el('div', 'atlas-print-map', null, body);
    parts.north = el('div', 'atlas-print-north', null, parts.slot);
    el('span', 'atlas-print-north-arrow', null, parts.north);
    el('span', 'atlas-print-north-label', Atlas.t('north'), parts.north);
    parts.scale = el('div', 'atlas-print-scale', null, parts.slot);
    parts.scaleBar = el('span', 'atlas-print-scale-bar', null, parts.scale);
    parts.scaleLabel = el('span', 'atlas-print-scale-label', null, parts.scale);
    parts.legend = el('aside', 'atlas-print-legend', null, body);
    el('div', 'atlas-print-legend-head', Atlas.t('legend'), parts.legend);
    parts.legendBody = el('div', 'atlas-print-legend-body', null, parts.legend);
    var foot = el('footer', 'atlas-print-foot', null, sheet);
    parts.sources = el('div', 'atlas-print-sources', null, foot);
    parts.date = el('div', 'atlas-print-date', null, foot);
    var bar = parts.bar = el('div', 'atlas-print-bar', null, document.body);
    [['printNow', function () { Atlas.print(); }], ['savePng', function () { Atlas.printPng(); }],
     ['exitPrint', function () { Atlas.exitPrint(); }]].forEach(function (pair) {
      Atlas.button('atlas-print-' + pair[0], Atlas.t(pair[0]), bar).addEventListener('click', pair[1]);
    });
    Atlas.on(function (what) { if (Atlas.printing && (what === 'layers' || what === 'busy')) { fillSheet(); } });
    Atlas.map.on('moveend zoomend', function () { if (Atlas.printing) { fillScale(); } });
    return sheet;
  }

  function fillScale() {
    var s = Atlas.scaleBar(140);
    parts.scaleBar.style.width = s.px + 'px';
    parts.scaleLabel.textContent = s.label;
  }

  function fillSheet() {
    parts.title.textContent = Atlas.printTitle();
    var words = Atlas.filterWords();
    parts.subtitle.textContent = words.length ? Atlas.t('filters') + '：' + words.join(' · ') : Atlas.t('wholeCity');
    var model = Atlas.sourcesModel();
    Atlas.renderLegend(parts.legendBody, Atlas.printLegendModel(model));
    parts.sources.textContent = '';
    el('strong', null, Atlas.t('printSources') + '：', parts.sources);
    el('span', null, model.files.length ? model.files.join('；') : Atlas.t('printNoSources'), parts.sources);
    parts.date.textContent = Atlas.t('printDate') + '：' + Atlas.today() + ' · ' + Atlas.t('printCrs');
    fillScale();
  }

  function paperSize() {
    var p = PAPER[settings.paper] || PAPER.A4;
    return settings.orientation === 'portrait' ? [p[0], p[1]] : [p[1], p[0]];
  }

  Atlas.enterPrint = function (opts) {
    L.extend(settings, opts || {});
    if (!PAPER[settings.paper]) { settings.paper = 'A4'; }
    if (settings.orientation !== 'portrait') { settings.orientation = 'landscape'; }
    var map = Atlas.map, center = map.getCenter(), zoom = map.getZoom();
    var sheet = Atlas.printLayout.sheet || buildSheet();
    var size = paperSize();
    sheet.style.width = size[0] + 'mm';
    sheet.style.height = size[1] + 'mm';
    sheet.setAttribute('data-paper', settings.paper + '-' + settings.orientation);
    if (!pageStyle) { pageStyle = el('style', null, null, document.head); }
    pageStyle.textContent = '@page { size: ' + settings.paper + ' ' + settings.orientation + '; margin: 0; }';
    var box = map.getContainer();
    if (!Atlas.printing) {
      home = {parent: box.parentNode, next: box.nextSibling};
      parts.slot.insertBefore(box, parts.slot.firstChild);
      if (Atlas.exportPanel) { Atlas.exportPanel.close(); }
      map.closePopup();
    }
    Atlas.printing = true;
    document.body.classList.add('atlas-print-mode');
    map.invalidateSize({pan: false});
    map.setView(center, zoom, {animate: false});
    fillSheet();
    return sheet;
  };

  Atlas.exitPrint = function () {
    if (!Atlas.printing) { return; }
    var map = Atlas.map, center = map.getCenter(), zoom = map.getZoom(), box = map.getContainer();
    home.parent.insertBefore(box, home.next);
    Atlas.printing = false;
    document.body.classList.remove('atlas-print-mode');
    map.invalidateSize({pan: false});
    map.setView(center, zoom, {animate: false});
  };

  // Resolves once every layer is drawn (the map reloads what the new frame shows).
  Atlas.whenIdle = function (timeout) {
    var box = Atlas.map.getContainer(), start = Date.now();
    return new Promise(function (resolve) {
      (function check() {
        if ((box.getAttribute('data-atlas-state') === 'idle' && Date.now() - start > 300) || Date.now() - start > (timeout || 15000)) {
          fillSheet();
          resolve();
        } else { setTimeout(check, 60); }
      }());
    });
  };

  Atlas.print = function (opts) {
    Atlas.enterPrint(opts);
    return Atlas.whenIdle().then(function () { window.print(); });
  };

  // -- the export panel's section ---------------------------------------------------------------------------
  function buildSection(box) {
    el('h3', null, Atlas.t('printSection'), box);
    var titleBox = el('label', 'atlas-export-field', null, box);
    el('span', 'atlas-export-label', Atlas.t('printTitle'), titleBox);
    var title = el('input', 'atlas-print-title-input', null, titleBox);
    title.type = 'text';
    title.name = 'print-title';
    title.maxLength = 120;
    title.addEventListener('input', function () { settings.title = title.value.trim() || null; });
    var row = el('div', 'atlas-export-row', null, box);
    var paper = el('select', 'atlas-print-paper', null, el('label', 'atlas-export-field', null, row));
    paper.parentNode.insertBefore(el('span', 'atlas-export-label', Atlas.t('paper')), paper);
    paper.name = 'paper';
    Object.keys(PAPER).forEach(function (k) { Atlas.option(paper, k, k); });
    var orient = el('select', 'atlas-print-orientation', null, el('label', 'atlas-export-field', null, row));
    orient.parentNode.insertBefore(el('span', 'atlas-export-label', Atlas.t('orientation')), orient);
    orient.name = 'orientation';
    ['landscape', 'portrait'].forEach(function (k) { Atlas.option(orient, k, Atlas.t(k)); });
    var actions = el('div', 'atlas-export-actions', null, box);
    var chosen = function () { return {paper: paper.value, orientation: orient.value}; };
    [['printLayout', function () { Atlas.enterPrint(chosen()); }], ['printNow', function () { Atlas.print(chosen()); }],
     ['savePng', function () { Atlas.printPng(chosen()); }]].forEach(function (pair) {
      Atlas.button('atlas-print-action-' + pair[0], Atlas.t(pair[0]), actions).addEventListener('click', pair[1]);
    });
    section.open = function () {
      title.value = Atlas.printTitle();
      paper.value = settings.paper;
      orient.value = settings.orientation;
    };
  }

  var section = {
    className: 'atlas-export-print',
    build: buildSection,
    open: null,  // set once built
    state: function () { return {title: Atlas.printTitle()}; }  // the offline map takes the print title
  };
  Atlas.exportSections.push(section);
}());
