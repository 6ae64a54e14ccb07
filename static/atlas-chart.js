/* 精致威海规划图 — small charts of our own, drawn as SVG with no outside request: bars, stacked
 * bars (two groups) and a donut, with axis and value labels, a legend and an accessible <title>.
 * Every label becomes text through textContent; styles are presentation attributes, so the SVG looks
 * the same saved as a file (Atlas.chart.svgText) or drawn into a PNG (Atlas.chart.png).
 *
 *   Atlas.chart.draw(type, data, opts) -> <svg>
 *     type: 'bar' | 'stacked' | 'donut'
 *     data: {title, measure (the value axis), rows: [{key, label, color}], series: [{key, label, color}],
 *            values: [[n]] (values[row][series]), totals: [n] (a row's whole; default: its sum),
 *            format: n -> text (value labels), empty: text shown when there is nothing to draw}
 *     opts: {width, height, font}
 *   A bar chart of one series colours its bars by row, of several draws them side by side by series;
 *   a stacked chart stacks the series of a row; a donut has a slice a row (its total). */
(function () {
  'use strict';
  var Atlas = window.Atlas;

  // the colours of groups that have none of their own (a layer's palette gives categories theirs)
  var PALETTE = ['#1f6fb2', '#e08a1e', '#2e9d5b', '#c63b3b', '#7b5bb6', '#8c6239', '#d45fa6', '#6b7b86',
                 '#a8b531', '#1fa3b5'];
  var FONT = '"Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif';
  var INK = '#1f2a33', MUTED = '#5b6b78', GRID = '#e3e8ec';
  var uid = 0;

  function node(name, attrs, parent, text) {
    var n = L.SVG.create(name);  // an element in the SVG namespace
    Object.keys(attrs || {}).forEach(function (k) {
      if (attrs[k] !== null && attrs[k] !== undefined) { n.setAttribute(k, String(attrs[k])); }
    });
    if (text !== undefined && text !== null) { n.textContent = String(text); }
    if (parent) { parent.appendChild(n); }
    return n;
  }
  // A tooltip (and accessible name) of a shape: its own <title>.
  function tip(shape, text) { node('title', null, shape, text); return shape; }

  // The width of a text at a font size, estimated: a CJK character 1 em, others about 0.6 em.
  function textWidth(text, size) {
    var w = 0;
    String(text).split('').forEach(function (ch) { w += /[\u2e80-\u9fff\uff00-\uffef]/.test(ch) ? 1 : 0.6; });
    return w * size;
  }
  // A text cut to ``width`` with an ellipsis (the whole text stays in the label's <title>).
  function fit(text, width, size) {
    text = String(text);
    if (textWidth(text, size) <= width) { return text; }
    while (text.length > 1 && textWidth(text + '…', size) > width) { text = text.slice(0, -1); }
    return text + '…';
  }
  function label(parent, x, y, text, attrs, width) {
    var size = (attrs && attrs['font-size']) || 11;
    var shown = width ? fit(text, width, size) : String(text);
    var t = node('text', L.extend({x: x, y: y, 'font-size': size, fill: INK}, attrs || {}), parent, shown);
    if (shown !== String(text)) { tip(t, text); }
    return t;
  }

  // A round step for about ``n`` ticks up to ``max``: 1, 2 or 5 times a power of ten.
  function niceStep(max, n) {
    var raw = max / n, mag = Math.pow(10, Math.floor(Math.log(raw) / Math.LN10)), r = raw / mag;
    return (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10) * mag;
  }

  function sum(list) { return list.reduce(function (a, b) { return a + (Number(b) || 0); }, 0); }

  function totalsOf(data) {
    return data.rows.map(function (r, i) {
      return data.totals && data.totals[i] !== undefined ? Number(data.totals[i]) || 0 : sum(data.values[i] || []);
    });
  }

  // -- the frame: background, title, legend --------------------------------------------------------
  function frame(data, opts) {
    var id = 'atlas-chart-' + (++uid);
    var svg = node('svg', {width: opts.width, height: opts.height, viewBox: '0 0 ' + opts.width + ' ' + opts.height,
                           role: 'img', 'aria-labelledby': id + '-title', 'font-family': opts.font || FONT,
                           'class': 'atlas-chart'});
    node('title', {id: id + '-title'}, svg, data.title);
    node('rect', {x: 0, y: 0, width: opts.width, height: opts.height, fill: '#ffffff', 'class': 'atlas-chart-bg'}, svg);
    label(svg, 8, 17, data.title, {'font-size': 13, 'font-weight': 700, 'class': 'atlas-chart-title'}, opts.width - 16);
    return svg;
  }

  // A legend of ``items`` ({label, color}) in rows from ``y``, wrapped at the width; its height.
  function legend(svg, items, y, width) {
    var box = node('g', {'class': 'atlas-chart-legend'}, svg), x = 8, line = 0, size = 11;
    items.forEach(function (item) {
      var w = Math.min(14 + textWidth(item.label, size) + 12, width - 16);
      if (x + w > width - 8 && x > 8) { x = 8; line += 1; }
      var g = node('g', {'class': 'atlas-chart-key'}, box);
      node('rect', {x: x, y: y + line * 16, width: 10, height: 10, rx: 2, fill: item.color}, g);
      label(g, x + 14, y + line * 16 + 9, item.label, {'font-size': size}, w - 16);
      x += w;
    });
    return items.length ? (line + 1) * 16 + 4 : 0;
  }

  function emptyNote(svg, data, opts) {
    label(svg, opts.width / 2, opts.height / 2, data.empty || '—',
          {'text-anchor': 'middle', fill: MUTED, 'font-size': 12, 'class': 'atlas-chart-empty'});
    return svg;
  }

  // -- bars: one series, several side by side, or stacked ------------------------------------------
  function bars(type, data, opts) {
    var svg = frame(data, opts), W = opts.width, H = opts.height, format = data.format || String;
    var rows = data.rows, series = data.series.length ? data.series : [{key: null, label: data.measure}];
    var stacked = type === 'stacked' && series.length > 1, several = series.length > 1;
    var totals = totalsOf(data);
    var peaks = rows.map(function (r, i) {
      return stacked ? totals[i] : Math.max.apply(null, [0].concat((data.values[i] || []).map(Number)));
    });
    var max = Math.max.apply(null, [0].concat(peaks));
    var legendH = several ? legend(svg, series, 28, W) : 0;
    if (!rows.length || !(max > 0)) { return emptyNote(svg, data, opts); }
    var step = niceStep(max, 4), top = Math.ceil(max / step - 1e-9) * step;
    var ticks = [];
    for (var v = 0; v <= top + step / 2; v += step) { ticks.push(v); }
    var left = 12 + Math.max.apply(null, ticks.map(function (t) { return textWidth(format(t), 10); }));
    var plotTop = 30 + legendH + 22, plotW = W - left - 10, band = plotW / rows.length;
    var longest = Math.max.apply(null, rows.map(function (r) { return textWidth(r.label, 11); }));
    var tilt = longest > band - 6;  // long labels: slanted, cut to what fits below the axis
    var bottom = tilt ? Math.min(90, 16 + longest * 0.6) : 22;
    var plotH = Math.max(40, H - plotTop - bottom), base = plotTop + plotH;
    var y = function (value) { return base - value / top * plotH; };

    var axis = node('g', {'class': 'atlas-chart-axis'}, svg);
    ticks.forEach(function (t) {
      node('line', {x1: left, x2: W - 10, y1: y(t), y2: y(t), stroke: t ? GRID : MUTED, 'stroke-width': 1}, axis);
      label(axis, left - 4, y(t) + 3.5, format(t), {'text-anchor': 'end', 'font-size': 10, fill: MUTED});
    });
    label(axis, 8, plotTop - 12, data.measure, {'font-size': 10, fill: MUTED, 'class': 'atlas-chart-measure'}, W - 16);

    var plot = node('g', {'class': 'atlas-chart-bars'}, svg);
    rows.forEach(function (row, i) {
      var x0 = left + i * band, inner = band * 0.72, pad = (band - inner) / 2;
      var values = data.values[i] || [], acc = 0;
      var width = stacked || !several ? inner : inner / series.length;
      series.forEach(function (ser, s) {
        var value = Number(values[s]) || 0;
        if (!(value > 0)) { return; }
        var x = stacked || !several ? x0 + pad : x0 + pad + s * width;
        var y1 = stacked ? y(acc + value) : y(value), h = (stacked ? y(acc) : base) - y1;
        var bar = node('rect', {x: x.toFixed(2), y: y1.toFixed(2), width: Math.max(1, width - (several && !stacked ? 1 : 0)).toFixed(2),
                                height: h.toFixed(2), fill: several ? ser.color : (row.color || ser.color || PALETTE[0]),
                                'class': 'atlas-chart-bar', 'data-value': value, 'data-row': i, 'data-series': s}, plot);
        tip(bar, row.label + (several ? ' · ' + ser.label : '') + '：' + format(value));
        if (stacked && h >= 14 && width >= textWidth(format(value), 10) + 4) {
          label(plot, x + width / 2, y1 + h / 2 + 3.5, format(value), {'text-anchor': 'middle', 'font-size': 10, fill: '#ffffff'});
        }
        if (!stacked && several && width >= textWidth(format(value), 9)) {
          label(plot, x + width / 2, y1 - 3, format(value), {'text-anchor': 'middle', 'font-size': 9, fill: MUTED});
        }
        acc += value;
      });
      if (stacked || !several) {  // the row's whole above its bar
        var whole = stacked ? totals[i] : Number(values[0]) || 0;
        label(plot, x0 + band / 2, y(stacked ? acc : whole) - 4, format(whole),
              {'text-anchor': 'middle', 'font-size': 10, 'class': 'atlas-chart-value'}, band);
      }
      var lx = x0 + band / 2, ly = base + 14;
      label(axis, lx, ly, row.label, tilt ? {'text-anchor': 'end', transform: 'rotate(-35 ' + lx + ' ' + (ly - 4) + ')',
                                             'class': 'atlas-chart-label'} :
                                            {'text-anchor': 'middle', 'class': 'atlas-chart-label'},
            tilt ? (bottom - 10) / 0.6 : band - 2);
    });
    return svg;
  }

  // -- donut: a slice a row ---------------------------------------------------------------------------
  function arc(cx, cy, r0, r1, a0, a1) {
    var p = function (r, a) { return (cx + r * Math.sin(a)).toFixed(2) + ' ' + (cy - r * Math.cos(a)).toFixed(2); };
    var big = a1 - a0 > Math.PI ? 1 : 0;
    return 'M' + p(r1, a0) + ' A' + r1 + ' ' + r1 + ' 0 ' + big + ' 1 ' + p(r1, a1) +
           ' L' + p(r0, a1) + ' A' + r0 + ' ' + r0 + ' 0 ' + big + ' 0 ' + p(r0, a0) + ' Z';
  }

  function donut(data, opts) {
    var svg = frame(data, opts), format = data.format || String, W = opts.width, H = opts.height;
    var totals = totalsOf(data), whole = sum(totals);
    if (!data.rows.length || !(whole > 0)) { return emptyNote(svg, data, opts); }
    var r1 = Math.max(30, Math.min((H - 44) / 2, W * 0.22)), r0 = r1 * 0.58, cx = 14 + r1, cy = 30 + 8 + r1;
    var plot = node('g', {'class': 'atlas-chart-slices'}, svg), a = 0;
    data.rows.forEach(function (row, i) {
      var value = totals[i];
      if (!(value > 0)) { return; }
      var share = value / whole, a1 = a + share * 2 * Math.PI;
      var d = share >= 0.9999 ? arc(cx, cy, r0, r1, 0, Math.PI) + ' ' + arc(cx, cy, r0, r1, Math.PI, 2 * Math.PI - 1e-6)
                              : arc(cx, cy, r0, r1, a, a1);
      var slice = node('path', {d: d, fill: row.color || PALETTE[i % PALETTE.length], stroke: '#ffffff', 'stroke-width': 1,
                                'class': 'atlas-chart-slice', 'data-value': value, 'data-row': i}, plot);
      tip(slice, row.label + '：' + format(value) + '（' + (share * 100).toFixed(1) + '%）');
      a = a1;
    });
    label(svg, cx, cy + 4, data.measure, {'text-anchor': 'middle', 'font-size': 10, fill: MUTED, 'class': 'atlas-chart-measure'}, r0 * 1.8);
    var keys = node('g', {'class': 'atlas-chart-legend'}, svg), x = cx + r1 + 16, y = 40, size = 11;
    var room = Math.max(1, Math.floor((H - 44) / 17));
    data.rows.slice(0, room).forEach(function (row, i) {
      var g = node('g', {'class': 'atlas-chart-key'}, keys);
      node('rect', {x: x, y: y + i * 17, width: 10, height: 10, rx: 2, fill: row.color || PALETTE[i % PALETTE.length]}, g);
      var pct = (totals[i] / whole * 100).toFixed(1) + '%';
      var value = format(totals[i]) + ' · ' + pct, vw = textWidth(value, size);
      label(g, x + 14, y + i * 17 + 9, row.label, {'font-size': size}, Math.max(20, W - x - 24 - vw));
      label(g, W - 8, y + i * 17 + 9, value, {'font-size': size, 'text-anchor': 'end', fill: MUTED});
    });
    if (data.rows.length > room) { label(keys, x + 14, y + room * 17 + 9, '…', {'font-size': size, fill: MUTED}); }
    return svg;
  }

  // -- files ----------------------------------------------------------------------------------------
  // The SVG as a file: its markup (XMLSerializer writes the namespace), the fonts named on the root.
  function svgText(svg) {
    var copy = svg.cloneNode(true);
    if (!copy.getAttribute('font-family')) { copy.setAttribute('font-family', FONT); }
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + new XMLSerializer().serializeToString(copy);
  }

  // The SVG drawn on a canvas (an Image of a blob URL: nothing leaves the page), as a PNG blob.
  function png(svg, scale) {
    scale = scale || 2;
    var w = Number(svg.getAttribute('width')), h = Number(svg.getAttribute('height'));
    return new Promise(function (resolve, reject) {
      var url = URL.createObjectURL(new Blob([svgText(svg)], {type: 'image/svg+xml;charset=utf-8'}));
      var img = new Image();
      img.onload = function () {
        var canvas = document.createElement('canvas');
        canvas.width = Math.round(w * scale);
        canvas.height = Math.round(h * scale);
        var ctx = canvas.getContext('2d');
        ctx.fillStyle = '#ffffff';
        ctx.fillRect(0, 0, canvas.width, canvas.height);
        ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
        URL.revokeObjectURL(url);
        canvas.toBlob(function (blob) { if (blob) { resolve(blob); } else { reject(new Error('PNG')); } }, 'image/png');
      };
      img.onerror = function () { URL.revokeObjectURL(url); reject(new Error('the chart could not be drawn as an image')); };
      img.src = url;
    });
  }

  Atlas.chart = {
    PALETTE: PALETTE,
    FONT: FONT,
    TYPES: ['bar', 'stacked', 'donut'],
    color: function (i) { return PALETTE[i % PALETTE.length]; },
    draw: function (type, data, opts) {
      opts = L.extend({width: 460, height: 280}, opts || {});
      return type === 'donut' ? donut(data, opts) : bars(type, data, opts);
    },
    svgText: svgText,
    png: png,
    textWidth: textWidth
  };
}());
