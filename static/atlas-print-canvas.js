/* 精致威海规划图 — the PNG of the print layout (atlas-print.js), drawn onto a 2D canvas: the
 * features from the layers' own geometry (Leaflet's projected parts), then the sheet's title,
 * legend (the same model as the sheet's, dashes from the palette), scale bar, north arrow, sources
 * and date, each where the sheet has it. Data becomes text only. */
(function () {
  'use strict';
  var Atlas = window.Atlas;
  var parts = null;  // the sheet's parts (Atlas.printLayout), while a canvas is drawn

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
      ctx.setLineDash(Atlas.dashList(o.dashArray));
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
    Atlas.byZ(Atlas.visibleConfigs()).forEach(function (cfg) { groups.push(Atlas.layers[cfg.id]); });
    groups.forEach(function (group) { Atlas.eachLeaf(group, function (lay) { drawPath(ctx, lay, map); }); });
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

  // A legend key's symbol (an entry of the legend model: kind, color, dashArray of the palette, fill).
  function drawSymbol(ctx, x, y, key) {
    var dash = Atlas.dashList(key.dashArray), kind = key.kind;
    ctx.save();
    ctx.strokeStyle = key.color; ctx.fillStyle = key.color; ctx.lineWidth = 2;
    ctx.setLineDash(dash);
    ctx.beginPath();
    if (kind === 'point') {
      ctx.arc(x + 6, y, 5, 0, Math.PI * 2);
      ctx.globalAlpha = key.fill === 'hollow' || dash.length ? 0 : (key.fill === 'half' ? 0.45 : 1);
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
    var line = function (key) {
      if (y > bottom) { return; }
      drawSymbol(ctx, x, y - 4, key);
      ctx.fillStyle = '#1f2a33';
      ctx.font = '12px ' + family;
      wrap(ctx, Atlas.legendText(key), x + 28, y, r.w - 40, 15, 1);
      y += 17;
    };
    var title = function (text) {
      if (y > bottom) { return; }
      ctx.fillStyle = '#1f2a33';
      ctx.font = 'bold 13px ' + family;
      wrap(ctx, text, x, y, r.w - 16, 16, 1);
      y += 18;
    };
    var model = Atlas.printLegendModel();
    model.layers.forEach(function (sec) {
      title(sec.title + '（' + Atlas.legendCount(sec) + '）');
      sec.entries.forEach(function (e) { line(L.extend({kind: sec.kind}, e)); });
      y += 3;
    });
    model.keys.forEach(function (row) {
      title(row.title);
      row.entries.forEach(line);
      y += 3;
    });
  }

  /* The print layout as a canvas, ``scale`` device pixels a CSS pixel (default 2). */
  Atlas.renderPrintCanvas = function (scale) {
    scale = scale || 2;
    parts = Atlas.printLayout.parts;
    var origin = Atlas.printLayout.sheet.getBoundingClientRect();
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
          var name = Atlas.t('title') + '_' + Atlas.printLayout.settings.paper + '_' + Atlas.today() + '.png';
          Atlas.saveBlob(blob, name);
          resolve({name: name, width: canvas.width, height: canvas.height});
        }, 'image/png');
      });
    });
  };
}());
