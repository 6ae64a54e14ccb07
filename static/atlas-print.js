/* 精致威海规划图 — the print layout and the PNG of it.
 *
 * The print layout is a sheet of the chosen paper (A4/A3, landscape/portrait, in mm) with the title,
 * the filters in words, the map (moved into the sheet), a north arrow and scale bar, the legend of
 * the visible layers, the sources the visible features cite, the accuracy classes and the date.
 * @page takes the paper size, so the browser's "Save as PDF" gives the PDF. The PNG is drawn by this
 * file onto a 2D canvas: the features from the layers' own geometry (Leaflet's projected parts),
 * then the same title, legend, scale bar, north arrow, sources and date. Data becomes text only. */
(function () {
  'use strict';
  var Atlas = window.Atlas;
  var el = function (tag, cls, text, parent) { return Atlas.el(tag, cls, text, parent); };
  var PAPER = {A4: [210, 297], A3: [297, 420]};  // mm, portrait
  var PATTERN = {surveyed: 'solid', approximate: 'dashed', schematic: 'dotted'};
  var settings = {paper: 'A4', orientation: 'landscape', title: null};
  var sheet = null, parts = {}, home = null, pageStyle = null;

  function today() {
    var d = new Date(), pad = function (n) { return (n < 10 ? '0' : '') + n; };
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate());
  }

  Atlas.defaultPrintTitle = function () {
    var words = Atlas.filterWords ? Atlas.filterWords() : [];
    return Atlas.t('title') + (words.length ? ' · ' + words.join(' · ') : '');
  };
  Atlas.printTitle = function () { return settings.title || Atlas.defaultPrintTitle(); };

  // -- what the sheet shows: legend, sources, accuracy ----------------------------------------------
  function visibleConfigs() {
    return Atlas.config.layers.filter(function (cfg) { return Atlas.layers[cfg.id] && Atlas.map.hasLayer(Atlas.layers[cfg.id]); });
  }

  function eachFeature(fn) {
    visibleConfigs().forEach(function (cfg) {
      Atlas.layers[cfg.id].eachLayer(function (geo) {
        if (geo.eachLayer) { geo.eachLayer(function (lay) { if (lay.feature) { fn(lay.feature, lay, cfg); } }); }
      });
    });
  }

  Atlas.legendModel = function () {
    return visibleConfigs().map(function (cfg) {
      var layer = Atlas.layers[cfg.id], kind = Atlas.kind(cfg.geometry), cats = cfg.style.categories || {};
      var entries = cfg.style.by !== 'category' ? [{color: cfg.style.color || '#555555', label: Atlas.label(cfg.title)}] : [];
      Object.keys(cats).forEach(function (k) {
        if (layer.categories[k]) { entries.push({color: cats[k].color, label: Atlas.label(cats[k].label), category: k}); }
      });
      return {id: cfg.id, title: Atlas.label(cfg.title), kind: kind, count: layer.drawn, matched: layer.matched, entries: entries};
    });
  };

  Atlas.sourcesModel = function () {
    var files = {}, accuracy = {};
    eachFeature(function (f) {
      var p = f.properties || {}, src = Array.isArray(p.source) ? p.source : (Array.isArray(p.sources) ? p.sources : []);
      src.forEach(function (s) { if (s && s.file) { files[s.file] = (files[s.file] || 0) + 1; } });
      if (p.accuracy) { accuracy[p.accuracy] = (accuracy[p.accuracy] || 0) + 1; }
    });
    var vocab = Atlas.config.vocab.accuracy;
    return {
      files: Object.keys(files).sort(),
      accuracy: Object.keys(vocab).map(function (k) {
        return {key: k, label: Atlas.label(vocab[k]), count: accuracy[k] || 0, pattern: PATTERN[k] || 'solid'};
      })
    };
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
  function symbol(kind, parent, color, pattern, fill) {
    var sym = el('span', 'atlas-sym atlas-sym-' + kind + (pattern ? ' atlas-pat-' + pattern : '') +
                 (fill ? ' atlas-fill-' + fill : ''), null, parent);
    if (color) { sym.style.setProperty('--sym', color); }
    return sym;
  }

  function buildSheet() {
    sheet = el('div', 'atlas-print-sheet', null, document.body);
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
    var foot = el('footer', 'atlas-print-foot', null, sheet);
    parts.sources = el('div', 'atlas-print-sources', null, foot);
    parts.date = el('div', 'atlas-print-date', null, foot);
    var bar = parts.bar = el('div', 'atlas-print-bar', null, document.body);
    [['printNow', function () { Atlas.print(); }], ['savePng', function () { Atlas.printPng(); }],
     ['exitPrint', function () { Atlas.exitPrint(); }]].forEach(function (pair) {
      var b = el('button', 'atlas-print-' + pair[0], Atlas.t(pair[0]), bar);
      b.type = 'button';
      b.addEventListener('click', pair[1]);
    });
    Atlas.on(function (what) { if (Atlas.printing && (what === 'layers' || what === 'busy')) { fillSheet(); } });
    Atlas.map.on('moveend zoomend', function () { if (Atlas.printing) { fillScale(); } });
  }

  function fillScale() {
    var s = Atlas.scaleBar(140);
    parts.scaleBar.style.width = s.px + 'px';
    parts.scaleLabel.textContent = s.label;
  }

  function fillSheet() {
    parts.title.textContent = Atlas.printTitle();
    var words = Atlas.filterWords ? Atlas.filterWords() : [];
    parts.subtitle.textContent = words.length ? Atlas.t('filters') + '：' + words.join(' · ') : Atlas.t('wholeCity');
    var legend = parts.legend;
    legend.textContent = '';
    el('div', 'atlas-print-legend-head', Atlas.t('legend'), legend);
    Atlas.legendModel().forEach(function (sec) {
      var box = el('section', 'atlas-print-legend-layer', null, legend);
      box.setAttribute('data-layer', sec.id);
      el('div', 'atlas-print-legend-title', sec.title + '（' + sec.count + '）', box);
      sec.entries.forEach(function (e) {
        var key = el('div', 'atlas-key', null, box);
        symbol(sec.kind, key, e.color);
        el('span', null, e.label, key);
      });
    });
    var keys = el('section', 'atlas-print-legend-layer', null, legend);
    el('div', 'atlas-print-legend-title', Atlas.t('statusKey'), keys);
    ['solid', 'half', 'hollow'].forEach(function (k) {
      var key = el('div', 'atlas-key', null, keys);
      symbol('point', key, '#555555', null, k);
      el('span', null, Atlas.t(k), key);
    });
    var model = Atlas.sourcesModel();
    var acc = el('section', 'atlas-print-legend-layer atlas-print-accuracy', null, legend);
    el('div', 'atlas-print-legend-title', Atlas.t('printAccuracy'), acc);
    model.accuracy.forEach(function (a) {
      var key = el('div', 'atlas-key', null, acc);
      key.setAttribute('data-accuracy', a.key);
      symbol('line', key, '#555555', a.pattern);
      el('span', null, a.label + '（' + a.count + '）', key);
    });
    parts.sources.textContent = '';
    el('strong', null, Atlas.t('printSources') + '：', parts.sources);
    el('span', null, model.files.length ? model.files.join('；') : Atlas.t('printNoSources'), parts.sources);
    parts.date.textContent = Atlas.t('printDate') + '：' + today() + ' · ' + Atlas.t('printCrs');
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
    if (!sheet) { buildSheet(); }
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

  // -- the PNG ------------------------------------------------------------------------------------------
  function rectIn(node, origin) {
    var r = node.getBoundingClientRect();
    return {x: r.left - origin.left, y: r.top - origin.top, w: r.width, h: r.height};
  }

  function font(node) {
    var cs = getComputedStyle(node);
    return cs.fontWeight + ' ' + cs.fontSize + ' ' + cs.fontFamily;
  }

  // Text wrapped to ``width`` (Chinese wraps at any character, other text at spaces); returns the next y.
  function wrap(ctx, text, x, y, width, lineHeight, maxLines) {
    var lines = [], line = '';
    Array.from(String(text)).forEach(function (ch) {
      if (ctx.measureText(line + ch).width > width && line) { lines.push(line); line = ch.trim() ? ch : ''; } else { line += ch; }
    });
    if (line) { lines.push(line); }
    lines.slice(0, maxLines || lines.length).forEach(function (l, i) { ctx.fillText(l, x, y + i * lineHeight); });
    return y + Math.min(lines.length, maxLines || lines.length) * lineHeight;
  }

  function dash(pattern) {
    return pattern ? String(pattern).split(/[ ,]+/).map(Number).filter(function (n) { return n >= 0; }) : [];
  }

  function drawPath(ctx, lay, map) {
    var o = lay.options, toScreen = function (p) { return map.layerPointToContainerPoint(p); };
    ctx.beginPath();
    if (lay._point && lay._radius !== undefined && !lay._parts) {  // a circle marker
      var c = toScreen(lay._point);
      ctx.arc(c.x, c.y, lay._radius, 0, Math.PI * 2);
    } else {
      var closed = lay instanceof L.Polygon;
      (lay._parts || []).forEach(function (ring) {
        ring.forEach(function (p, i) { var s = toScreen(p); ctx[i ? 'lineTo' : 'moveTo'](s.x, s.y); });
        if (closed) { ctx.closePath(); }
      });
    }
    if (o.fill !== false && (lay instanceof L.Polygon || lay._radius !== undefined)) {
      ctx.globalAlpha = o.fillOpacity === undefined ? 0.2 : o.fillOpacity;
      ctx.fillStyle = o.fillColor || o.color;
      ctx.fill(o.fillRule || 'evenodd');
    }
    if (o.stroke !== false && o.weight !== 0) {
      ctx.globalAlpha = o.opacity === undefined ? 1 : o.opacity;
      ctx.strokeStyle = o.color;
      ctx.lineWidth = o.weight;
      ctx.lineCap = o.lineCap || 'round';
      ctx.lineJoin = o.lineJoin || 'round';
      ctx.setLineDash(dash(o.dashArray));
      ctx.stroke();
      ctx.setLineDash([]);
    }
    ctx.globalAlpha = 1;
  }

  function drawMap(ctx, r) {
    var map = Atlas.map, box = map.getContainer();
    ctx.save();
    ctx.translate(r.x, r.y);
    ctx.beginPath();
    ctx.rect(0, 0, r.w, r.h);
    ctx.clip();
    ctx.fillStyle = getComputedStyle(box).backgroundColor || '#bcd9ea';
    ctx.fillRect(0, 0, r.w, r.h);
    var groups = [];
    if (Atlas.land && map.hasLayer(Atlas.land)) { groups.push(Atlas.land); }
    Atlas.config.layers.slice().sort(function (a, b) { return (a.style.z || 0) - (b.style.z || 0); }).forEach(function (cfg) {
      if (Atlas.layers[cfg.id] && map.hasLayer(Atlas.layers[cfg.id])) { groups.push(Atlas.layers[cfg.id]); }
    });
    groups.forEach(function (group) {
      group.eachLayer(function (geo) {
        (geo.eachLayer ? geo : {eachLayer: function (fn) { fn(geo); }}).eachLayer(function (lay) { drawPath(ctx, lay, map); });
      });
    });
    ctx.restore();
    ctx.strokeStyle = '#555';
    ctx.lineWidth = 1;
    ctx.strokeRect(r.x + 0.5, r.y + 0.5, r.w - 1, r.h - 1);
  }

  function drawNorth(ctx, r) {
    var cx = r.x + r.w / 2, top = r.y + 2, h = r.h * 0.62;
    ctx.fillStyle = 'rgba(255,255,255,0.85)';
    ctx.fillRect(r.x, r.y, r.w, r.h);
    ctx.beginPath();
    ctx.moveTo(cx, top); ctx.lineTo(cx + r.w * 0.28, top + h); ctx.lineTo(cx, top + h * 0.75); ctx.closePath();
    ctx.fillStyle = '#1f2a33'; ctx.fill();
    ctx.beginPath();
    ctx.moveTo(cx, top); ctx.lineTo(cx - r.w * 0.28, top + h); ctx.lineTo(cx, top + h * 0.75); ctx.closePath();
    ctx.strokeStyle = '#1f2a33'; ctx.lineWidth = 1.2; ctx.stroke();
    ctx.font = 'bold 12px ' + getComputedStyle(parts.north).fontFamily;
    ctx.textAlign = 'center';
    ctx.fillText(Atlas.t('north'), cx, r.y + r.h - 3);
    ctx.textAlign = 'left';
  }

  function drawScale(ctx, r) {
    var s = Atlas.scaleBar(140), x = r.x + 6, y = r.y + r.h - 8;
    ctx.fillStyle = 'rgba(255,255,255,0.85)';
    ctx.fillRect(r.x, r.y, r.w, r.h);
    ctx.strokeStyle = '#1f2a33'; ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(x, y - 6); ctx.lineTo(x, y); ctx.lineTo(x + s.px, y); ctx.lineTo(x + s.px, y - 6);
    ctx.stroke();
    ctx.fillStyle = '#1f2a33';
    ctx.font = '12px ' + getComputedStyle(parts.scale).fontFamily;
    ctx.fillText(s.label, x + s.px + 6, y);
  }

  function drawSymbol(ctx, kind, x, y, color, pattern, fill) {
    ctx.save();
    ctx.strokeStyle = color; ctx.fillStyle = color; ctx.lineWidth = 2;
    ctx.setLineDash(pattern === 'dashed' ? [5, 3] : (pattern === 'dotted' ? [2, 3] : []));
    ctx.beginPath();
    if (kind === 'point') {
      ctx.arc(x + 6, y, 5, 0, Math.PI * 2);
      ctx.globalAlpha = fill === 'hollow' || pattern ? 0 : (fill === 'half' ? 0.45 : 1);
      ctx.fill();
      ctx.globalAlpha = 1;
      ctx.stroke();
    } else if (kind === 'line') {
      ctx.lineWidth = 2.5;
      ctx.moveTo(x, y); ctx.lineTo(x + 22, y); ctx.stroke();
    } else {
      ctx.rect(x, y - 5, 16, 10);
      ctx.globalAlpha = 0.25; ctx.fill(); ctx.globalAlpha = 1; ctx.stroke();
    }
    ctx.restore();
  }

  function drawLegend(ctx, r) {
    var x = r.x + 8, y = r.y + 18, family = getComputedStyle(parts.legend).fontFamily, bottom = r.y + r.h - 4;
    ctx.fillStyle = '#1f2a33';
    ctx.font = 'bold 15px ' + family;
    ctx.fillText(Atlas.t('legend'), x, y);
    y += 20;
    var line = function (kind, color, label, pattern, fill) {
      if (y > bottom) { return; }
      drawSymbol(ctx, kind, x, y - 4, color, pattern, fill);
      ctx.fillStyle = '#1f2a33';
      ctx.font = '12px ' + family;
      wrap(ctx, label, x + 28, y, r.w - 40, 15, 1);
      y += 17;
    };
    var title = function (text) {
      if (y > bottom) { return; }
      ctx.fillStyle = '#1f2a33';
      ctx.font = 'bold 13px ' + family;
      wrap(ctx, text, x, y, r.w - 16, 16, 1);
      y += 18;
    };
    Atlas.legendModel().forEach(function (sec) {
      title(sec.title + '（' + sec.count + '）');
      sec.entries.forEach(function (e) { line(sec.kind, e.color, e.label); });
      y += 3;
    });
    title(Atlas.t('statusKey'));
    ['solid', 'half', 'hollow'].forEach(function (k) { line('point', '#555555', Atlas.t(k), null, k); });
    y += 3;
    title(Atlas.t('printAccuracy'));
    Atlas.sourcesModel().accuracy.forEach(function (a) { line('line', '#555555', a.label + '（' + a.count + '）', a.pattern); });
  }

  /* The print layout as a canvas, ``scale`` device pixels a CSS pixel (default 2). */
  Atlas.renderPrintCanvas = function (scale) {
    scale = scale || 2;
    var origin = sheet.getBoundingClientRect();
    var canvas = document.createElement('canvas');
    canvas.width = Math.round(origin.width * scale);
    canvas.height = Math.round(origin.height * scale);
    var ctx = canvas.getContext('2d');
    ctx.scale(scale, scale);
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, origin.width, origin.height);
    ctx.textBaseline = 'alphabetic';
    var t = rectIn(parts.title, origin), st = rectIn(parts.subtitle, origin);
    ctx.fillStyle = '#1f2a33';
    ctx.font = font(parts.title);
    wrap(ctx, parts.title.textContent, t.x, t.y + t.h * 0.8, t.w, t.h, 1);
    ctx.font = font(parts.subtitle);
    ctx.fillStyle = '#5b6b78';
    wrap(ctx, parts.subtitle.textContent, st.x, st.y + st.h * 0.8, st.w, st.h, 1);
    drawMap(ctx, rectIn(parts.slot, origin));
    drawNorth(ctx, rectIn(parts.north, origin));
    drawScale(ctx, rectIn(parts.scale, origin));
    drawLegend(ctx, rectIn(parts.legend, origin));
    var s = rectIn(parts.sources, origin), d = rectIn(parts.date, origin);
    ctx.fillStyle = '#1f2a33';
    ctx.font = font(parts.sources);
    wrap(ctx, parts.sources.textContent, s.x, s.y + 12, s.w, 15, 4);
    ctx.font = font(parts.date);
    wrap(ctx, parts.date.textContent, d.x, d.y + 12, d.w, 15, 2);
    return canvas;
  };

  Atlas.printPng = function (opts) {
    Atlas.enterPrint(opts);
    return Atlas.whenIdle().then(function () {
      var canvas = Atlas.renderPrintCanvas(2);
      return new Promise(function (resolve) {
        canvas.toBlob(function (blob) {
          var name = Atlas.t('title') + '_' + settings.paper + '_' + today() + '.png';
          Atlas.saveBlob(blob, name);
          resolve({name: name, width: canvas.width, height: canvas.height});
        }, 'image/png');
      });
    });
  };

  // -- the panel's section (atlas-export.js builds the panel) -------------------------------------------
  Atlas.printSection = function (box) {
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
    Object.keys(PAPER).forEach(function (k) { var o = el('option', null, k, paper); o.value = k; });
    var orient = el('select', 'atlas-print-orientation', null, el('label', 'atlas-export-field', null, row));
    orient.parentNode.insertBefore(el('span', 'atlas-export-label', Atlas.t('orientation')), orient);
    orient.name = 'orientation';
    ['landscape', 'portrait'].forEach(function (k) { var o = el('option', null, Atlas.t(k), orient); o.value = k; });
    var actions = el('div', 'atlas-export-actions', null, box);
    var chosen = function () { return {paper: paper.value, orientation: orient.value}; };
    [['printLayout', function () { Atlas.enterPrint(chosen()); }], ['printNow', function () { Atlas.print(chosen()); }],
     ['savePng', function () { Atlas.printPng(chosen()); }]].forEach(function (pair) {
      var b = el('button', 'atlas-print-action-' + pair[0], Atlas.t(pair[0]), actions);
      b.type = 'button';
      b.addEventListener('click', pair[1]);
    });
    Atlas.onPrintPanelOpen = function () {
      title.value = Atlas.printTitle();
      paper.value = settings.paper;
      orient.value = settings.orientation;
    };
  };
}());
