/* 精致威海规划图 — our own small editing control on Leaflet (no plugin): draw a new point, line or
 * polygon; edit a shape: drag a vertex, click a segment's middle mark to add one, right-click or
 * long-press a vertex (or "delete vertex") to remove it, drag a point; undo step by step; cancel.
 * Length and area update while drawing, computed by the measuring module (Atlas.measure: ellipsoidal
 * lengths, equal-area areas, m²/ha/亩). A polygon whose boundary crosses itself is refused here with
 * the crossing marked; a place the server refuses (its ``location``) is marked the same way.
 *
 * Atlas.draw.start({kind: point|line|polygon, type: the GeoJSON type to give, geometry?: GeoJSON,
 * title?, onChange?(editor)}) -> the editor: geometry(), valid(), undo(), finish(), cancel(),
 * markProblem([lon, lat], text). One editor at a time; Atlas.draw.state() tells the tests. */
(function () {
  'use strict';
  var Atlas = window.Atlas;
  var el = Atlas.el;

  Atlas.strings({
    drawPoint: ['绘制点', 'Drawing a point'],
    drawLine: ['绘制线', 'Drawing a line'],
    drawPolygon: ['绘制面', 'Drawing a polygon'],
    editShape: ['编辑形状', 'Editing the shape'],
    drawHintPoint: ['单击地图放置点', 'Click the map to place the point'],
    drawHintLine: ['单击地图添加点，双击、回车或点“完成”结束', 'Click the map to add points; double-click, Enter or Finish to end'],
    drawHintPolygon: ['单击地图添加顶点，单击第一个顶点、双击或点“完成”闭合', 'Click the map to add corners; click the first corner, double-click or Finish to close'],
    drawHintEdit: ['拖动顶点移动；单击边中点添加顶点；右键或长按顶点删除', 'Drag a vertex to move it; click a middle mark to add one; right-click or long-press a vertex to remove it'],
    drawFinish: ['完成', 'Finish'],
    drawUndo: ['撤销', 'Undo'],
    drawDeleteVertex: ['删除顶点', 'Delete vertex'],
    drawCancel: ['取消', 'Cancel'],
    drawTooFew: ['至少需要 {n} 个顶点', 'At least {n} vertices are needed'],
    drawIncomplete: ['图形尚未完成', 'The shape is not finished'],
    drawSelfCross: ['边界自相交（已在地图上标出），请移动顶点后再保存', 'The boundary crosses itself (marked on the map); move a vertex before saving'],
    drawRefused: ['服务器拒绝此图形：{detail}', 'The server refused the shape: {detail}'],
    drawPerimeter: ['周长', 'Perimeter']
  });

  var MIN = {point: 1, line: 2, polygon: 3};
  var measure = function () { return Atlas.measure; };

  function copyParts(parts) {
    return parts.map(function (p) {
      return {pts: p.pts.map(function (ll) { return L.latLng(ll.lat, ll.lng); }), poly: p.poly, hole: p.hole};
    });
  }

  // -- GeoJSON <-> parts: a list of {pts: [LatLng], poly: polygon index, hole} ------------------------
  function toParts(geometry) {
    if (!geometry) { return []; }
    var ll = function (c) { return L.latLng(c[1], c[0]); };
    var ring = function (r) {
      var pts = r.map(ll);
      if (pts.length > 1 && pts[0].equals(pts[pts.length - 1])) { pts.pop(); }
      return pts;
    };
    var polys = {Polygon: [geometry.coordinates], MultiPolygon: geometry.coordinates}[geometry.type];
    if (polys) {
      var out = [];
      polys.forEach(function (rings, p) {
        rings.forEach(function (r, i) { out.push({pts: ring(r), poly: p, hole: i > 0}); });
      });
      return out;
    }
    var lines = {Point: [[geometry.coordinates]], MultiPoint: geometry.coordinates.map(function (c) { return [c]; }),
                 LineString: [geometry.coordinates], MultiLineString: geometry.coordinates}[geometry.type] || [];
    return lines.map(function (line) { return {pts: line.map(ll), poly: 0, hole: false}; });
  }

  function coord(ll) { return [Math.round(ll.lng * 1e7) / 1e7, Math.round(ll.lat * 1e7) / 1e7]; }

  function toGeometry(parts, type) {
    var lines = parts.map(function (p) { return p.pts.map(coord); });
    if (type === 'Point') { return {type: type, coordinates: lines[0][0]}; }
    if (type === 'MultiPoint') { return {type: type, coordinates: lines.map(function (l) { return l[0]; })}; }
    if (type === 'LineString') { return {type: type, coordinates: lines[0]}; }
    if (type === 'MultiLineString') { return {type: type, coordinates: lines}; }
    var polys = [];
    parts.forEach(function (p, i) {
      var r = lines[i].concat([lines[i][0]]);
      (polys[p.poly] = polys[p.poly] || []).push(r);
    });
    polys = polys.filter(Boolean);
    return type === 'MultiPolygon' ? {type: type, coordinates: polys} : {type: 'Polygon', coordinates: polys[0]};
  }

  // -- a crossing of a polygon's rings (planar, in degrees scaled by the cosine of the latitude) -------
  function crossing(a, b, c, d) {
    var r = [b[0] - a[0], b[1] - a[1]], s = [d[0] - c[0], d[1] - c[1]];
    var den = r[0] * s[1] - r[1] * s[0];
    if (Math.abs(den) < 1e-18) { return null; }  // parallel (overlaps are left to the server)
    var t = ((c[0] - a[0]) * s[1] - (c[1] - a[1]) * s[0]) / den;
    var u = ((c[0] - a[0]) * r[1] - (c[1] - a[1]) * r[0]) / den;
    var eps = 1e-9;
    return t >= -eps && t <= 1 + eps && u >= -eps && u <= 1 + eps ? [a[0] + t * r[0], a[1] + t * r[1]] : null;
  }

  /** The first place where the rings of one polygon of ``parts`` cross or touch, as a LatLng, or null. */
  Atlas.selfCrossing = function (parts) {
    if (!parts.length) { return null; }
    var k = Math.cos(parts[0].pts[0].lat * Math.PI / 180);
    var segs = [];
    parts.forEach(function (p, ri) {
      var n = p.pts.length;
      for (var i = 0; i < n && n >= 3; i++) {
        var a = p.pts[i], b = p.pts[(i + 1) % n];
        segs.push({poly: p.poly, ring: ri, i: i, n: n, a: [a.lng * k, a.lat], b: [b.lng * k, b.lat]});
      }
    });
    for (var x = 0; x < segs.length; x++) {
      for (var y = x + 1; y < segs.length; y++) {
        var s = segs[x], t = segs[y];
        if (s.poly !== t.poly) { continue; }
        if (s.ring === t.ring && ((s.i + 1) % s.n === t.i || (t.i + 1) % t.n === s.i)) { continue; }  // neighbours
        var hit = crossing(s.a, s.b, t.a, t.b);
        if (hit) { return L.latLng(hit[1], hit[0] / k); }
      }
    }
    return null;
  };

  // -- the editor ----------------------------------------------------------------------------------
  function Editor(map, opts, ui) {
    this.map = map;
    this.kind = opts.kind;
    this.type = opts.type || {point: 'Point', line: 'LineString', polygon: 'Polygon'}[opts.kind];
    this.opts = opts;
    this.ui = ui;
    this.parts = toParts(opts.geometry);
    this.drawing = !this.parts.length;
    this.stack = [];
    this.selected = null;  // {part, index}
    this.problem = null;   // {latlng, text}
    this.hover = null;
    this.shapes = L.layerGroup().addTo(map);
    this.handles = L.layerGroup().addTo(map);
    this.marks = L.layerGroup().addTo(map);
    this.redraw();
  }

  Editor.prototype = {
    snapshot: function () { this.stack.push({parts: copyParts(this.parts), drawing: this.drawing}); },
    undo: function () {
      var last = this.stack.pop();
      if (!last) { return; }
      this.parts = last.parts;
      this.drawing = last.drawing;
      this.selected = null;
      this.hover = this.added = null;
      this.redraw();
    },
    add: function (latlng) {
      if (!this.drawing) { return; }
      var part = this.parts[this.parts.length - 1];
      var last = part && part.pts[part.pts.length - 1];
      var map = this.map;
      if (last && map.latLngToContainerPoint(last).distanceTo(map.latLngToContainerPoint(latlng)) < 4) { return; }
      this.snapshot();
      if (!part) { part = {pts: [], poly: 0, hole: false}; this.parts.push(part); }
      part.pts.push(latlng);
      this.hover = null;  // until the pointer moves again: the numbers are those of the clicks
      this.added = Date.now();  // a click on this vertex within 500 ms is a double-click's second: done
      if (this.kind === 'point') { this.drawing = false; }
      this.redraw();
    },
    finish: function () {
      if (!this.drawing) { return true; }
      var n = this.parts.length ? this.parts[this.parts.length - 1].pts.length : 0;
      if (n < MIN[this.kind]) { this.ui.say(Atlas.t('drawTooFew', {n: MIN[this.kind]})); return false; }
      this.snapshot();
      this.drawing = false;
      this.hover = null;
      this.redraw();
      return true;
    },
    removeVertex: function (pi, i) {
      var part = this.parts[pi];
      if (!part || this.kind === 'point') { return; }
      var min = this.drawing ? 1 : MIN[this.kind];
      if (part.pts.length <= min) { this.ui.say(Atlas.t('drawTooFew', {n: MIN[this.kind]})); return; }
      this.snapshot();
      part.pts.splice(i, 1);
      this.selected = null;
      this.redraw();
    },
    removeSelected: function () {
      var sel = this.selected, part = this.parts[this.parts.length - 1];
      if (sel) { this.removeVertex(sel.part, sel.index); } else if (this.drawing && part) { this.removeVertex(this.parts.length - 1, part.pts.length - 1); }
    },
    insert: function (pi, i, latlng) {
      this.snapshot();
      this.parts[pi].pts.splice(i, 0, latlng);
      this.selected = {part: pi, index: i};
      this.redraw();
    },
    geometry: function () { return this.complete() ? toGeometry(this.parts, this.type) : null; },
    complete: function () {
      var kind = this.kind;
      return !this.drawing && this.parts.length > 0 && this.parts.every(function (p) { return p.pts.length >= MIN[kind]; });
    },
    valid: function () { return this.complete() && !(this.problem && !this.problem.server); },
    markProblem: function (location, text) {
      this.problem = {latlng: L.latLng(location[1], location[0]), text: Atlas.t('drawRefused', {detail: text}), server: true};
      this.drawMarks();
      this.report();
    },
    cancel: function () { Atlas.draw.stop(); },
    remove: function () { [this.shapes, this.handles, this.marks].forEach(function (g) { g.remove(); }); },

    // -- drawing it -----------------------------------------------------------------------------------
    redraw: function () {
      this.problem = null;
      if (this.kind === 'polygon') {
        var at = Atlas.selfCrossing(this.parts.filter(function (p) { return p.pts.length >= 3; }));
        if (at) { this.problem = {latlng: at, text: Atlas.t('drawSelfCross')}; }
      }
      this.drawShapes();
      this.drawHandles();
      this.drawMarks();
      this.report();
    },
    drawShapes: function () {
      var self = this, style = {color: '#e65100', weight: 3, fillColor: '#ff9800', fillOpacity: 0.2,
                                pane: 'atlas-draw', renderer: Atlas.drawRenderer, interactive: false};
      this.shapes.clearLayers();
      if (this.kind === 'line') {
        this.parts.forEach(function (p) { L.polyline(p.pts, style).addTo(self.shapes); });
      } else if (this.kind === 'polygon') {
        var polys = [];
        this.parts.forEach(function (p) { (polys[p.poly] = polys[p.poly] || []).push(p.pts); });
        polys.filter(Boolean).forEach(function (rings) {
          (rings[0].length >= 3 && !self.drawing ? L.polygon(rings, style) : L.polyline(rings, style)).addTo(self.shapes);
        });
      }
      var part = this.parts[this.parts.length - 1];
      if (this.drawing && part && part.pts.length && this.hover && this.kind !== 'point') {
        var last = part.pts[part.pts.length - 1];
        var rubber = this.kind === 'polygon' && part.pts.length > 1 ? [last, this.hover, part.pts[0]] : [last, this.hover];
        L.polyline(rubber, L.extend({}, style, {weight: 2, dashArray: '4 6'})).addTo(this.shapes);
      }
    },
    drawHandles: function () {
      var self = this;
      this.handles.clearLayers();
      this.parts.forEach(function (part, pi) {
        part.pts.forEach(function (ll, i) { self.vertex(pi, i, ll); });
        if (self.drawing || self.kind === 'point') { return; }
        var n = part.pts.length, closed = self.kind === 'polygon';
        for (var i = 0; i < (closed ? n : n - 1); i++) {
          self.middle(pi, i + 1, part.pts[i], part.pts[(i + 1) % n]);
        }
      });
    },
    vertex: function (pi, i, ll) {
      var self = this, sel = this.selected && this.selected.part === pi && this.selected.index === i;
      var first = this.drawing && this.kind === 'polygon' && i === 0;
      var icon = L.divIcon({className: 'atlas-draw-vertex' + (sel ? ' atlas-selected' : '') + (first ? ' atlas-draw-first' : ''),
                            iconSize: [14, 14]});
      var m = L.marker(ll, {icon: icon, draggable: true, keyboard: false, zIndexOffset: 1000}).addTo(this.handles);
      m.on('dragstart', function () { self.snapshot(); self.selected = {part: pi, index: i}; });
      m.on('drag', function () {
        self.parts[pi].pts[i] = m.getLatLng();
        self.drawShapes();
        self.report();
      });
      m.on('dragend', function () { self.parts[pi].pts[i] = m.getLatLng(); self.redraw(); });
      m.on('click', function () {
        var n = self.parts[pi].pts.length, second = self.drawing && i === n - 1 && Date.now() - self.added < 500;
        if ((first && n >= 3) || (second && n >= MIN[self.kind])) { self.finish(); return; }
        self.selected = {part: pi, index: i};
        self.drawHandles();
      });
      m.on('contextmenu', function (e) {
        if (e.originalEvent) { L.DomEvent.preventDefault(e.originalEvent); }
        self.removeVertex(pi, i);
      });
    },
    middle: function (pi, i, a, b) {
      var self = this, ll = L.latLng((a.lat + b.lat) / 2, (a.lng + b.lng) / 2);
      var m = L.marker(ll, {icon: L.divIcon({className: 'atlas-draw-mid', iconSize: [10, 10]}), keyboard: false})
        .addTo(this.handles);
      m.on('click', function () { self.insert(pi, i, ll); });
    },
    drawMarks: function () {
      this.marks.clearLayers();
      if (!this.problem) { return; }
      L.marker(this.problem.latlng, {icon: L.divIcon({className: 'atlas-draw-cross', iconSize: [22, 22]}),
                                     interactive: false, keyboard: false, zIndexOffset: 2000}).addTo(this.marks);
    },

    // -- the numbers ---------------------------------------------------------------------------------
    measures: function () {
      var hover = this.drawing && this.hover, parts = this.parts, out = {length_m: 0, area_m2: 0};
      var last = parts.length - 1;
      parts.forEach(function (p, i) {
        var pts = hover && i === last ? p.pts.concat([hover]) : p.pts;
        if (this.kind === 'polygon') {
          var a = measure().area(pts);
          out.area_m2 += p.hole ? -a : a;
          out.length_m += measure().length(pts.length > 2 ? pts.concat([pts[0]]) : pts);
        } else {
          out.length_m += measure().length(pts);
        }
      }, this);
      out.area_m2 = Math.max(0, out.area_m2);
      return out;
    },
    report: function () {
      var m = this.measures(), lines = [];
      if (this.kind === 'line') { lines.push(Atlas.t('length') + '：' + measure().formatLength(m.length_m)); }
      if (this.kind === 'polygon') {
        lines.push(Atlas.t('area') + '：' + measure().formatArea(m.area_m2).join(' · '));
        lines.push(Atlas.t('drawPerimeter') + '：' + measure().formatLength(m.length_m));
      }
      this.ui.show(this, lines);
      if (this.opts.onChange) { this.opts.onChange(this); }
    },
    state: function () {
      var m = this.measures();
      return {kind: this.kind, drawing: this.drawing, parts: this.parts.length, undo: this.stack.length,
              vertices: this.parts.reduce(function (n, p) { return n + p.pts.length; }, 0),
              area_m2: m.area_m2, length_m: m.length_m, valid: this.valid(), complete: this.complete(),
              problem: this.problem ? [this.problem.latlng.lat, this.problem.latlng.lng] : null,
              geometry: this.geometry()};
    }
  };

  // -- the box: what is drawn, its measures, the buttons -------------------------------------------
  function drawBox(box) {
    box.hidden = true;
    var title = el('div', 'atlas-draw-title', null, box);
    var hint = el('div', 'atlas-draw-hint', null, box);
    var value = el('div', 'atlas-draw-value', null, box);
    var problem = el('div', 'atlas-draw-problem', null, box);
    problem.setAttribute('role', 'alert');
    var actions = el('div', 'atlas-draw-actions', null, box);
    var b = {
      finish: Atlas.button('atlas-draw-finish', Atlas.t('drawFinish'), actions),
      undo: Atlas.button('atlas-draw-undo', Atlas.t('drawUndo'), actions),
      vertex: Atlas.button('atlas-draw-delete', Atlas.t('drawDeleteVertex'), actions),
      cancel: Atlas.button('atlas-draw-cancel', Atlas.t('drawCancel'), actions)
    };
    var note = null;
    return {
      buttons: b,
      say: function (text) { note = text; problem.textContent = text; problem.hidden = false; },
      show: function (ed, lines) {
        box.hidden = false;
        title.textContent = ed.opts.title || Atlas.t(ed.drawing || !ed.opts.geometry
          ? {point: 'drawPoint', line: 'drawLine', polygon: 'drawPolygon'}[ed.kind] : 'editShape');
        var key = ed.drawing ? {point: 'drawHintPoint', line: 'drawHintLine', polygon: 'drawHintPolygon'}[ed.kind] : 'drawHintEdit';
        hint.textContent = ed.kind === 'point' && !ed.drawing ? '' : Atlas.t(key);
        value.textContent = '';
        lines.forEach(function (line) { el('div', null, line, value); });
        var text = ed.problem ? ed.problem.text : note;
        note = null;
        problem.textContent = text || '';
        problem.hidden = !text;
        b.finish.hidden = !ed.drawing || ed.kind === 'point';
        b.undo.disabled = !ed.stack.length;
        b.vertex.hidden = ed.kind === 'point';
      },
      hide: function () { box.hidden = true; }
    };
  }

  var ui = null, active = null;

  Atlas.draw = {
    start: function (opts) {
      Atlas.draw.stop();
      var map = Atlas.map;
      map.closePopup();
      map.doubleClickZoom.disable();
      Atlas.drawing = true;
      L.DomUtil.addClass(map.getContainer(), 'atlas-drawing');
      active = new Editor(map, opts, ui);
      return active;
    },
    stop: function () {
      if (!active) { return; }
      var ed = active;
      active = null;
      ed.remove();
      ui.hide();
      Atlas.drawing = false;
      Atlas.map.doubleClickZoom.enable();
      L.DomUtil.removeClass(Atlas.map.getContainer(), 'atlas-drawing');
      if (ed.opts.onCancel) { ed.opts.onCancel(ed); }
    },
    editor: function () { return active; },
    state: function () { return active ? active.state() : null; }
  };

  // while drawing, a click on a feature adds a vertex (the map's click), not a popup
  Atlas.popupClicks.push(function () { return !!active; });

  Atlas.tools.push({rank: 12, build: function (bar, map) {
    if (!map.getPane('atlas-draw')) { map.createPane('atlas-draw').style.zIndex = 440; }
    Atlas.drawRenderer = L.svg({pane: 'atlas-draw', padding: 0.5});
    map.on('click', function (e) { if (active && !Atlas.measuring) { active.add(e.latlng); } });
    map.on('mousemove', function (e) {
      var over = e.originalEvent && e.originalEvent.target;  // over a control or a card: not the map
      if (!active || !active.drawing || (over && over.closest && over.closest('.leaflet-control, .atlas-card'))) { return; }
      active.hover = e.latlng;
      active.drawShapes();
      active.report();
    });
    map.on('dblclick', function () { if (active && active.drawing) { active.finish(); } });
    document.addEventListener('keydown', function (e) {
      if (!active || /^(INPUT|TEXTAREA|SELECT)$/.test((e.target && e.target.tagName) || '')) { return; }
      if ((e.ctrlKey || e.metaKey) && e.key === 'z') { e.preventDefault(); active.undo(); }
      if (e.key === 'Enter' && active.drawing) { active.finish(); }
    });
    return Atlas.control('bottomleft', 'atlas-draw-box', function (box) {
      ui = drawBox(box);
      ui.buttons.finish.addEventListener('click', function () { if (active) { active.finish(); } });
      ui.buttons.undo.addEventListener('click', function () { if (active) { active.undo(); } });
      ui.buttons.vertex.addEventListener('click', function () { if (active) { active.removeSelected(); } });
      ui.buttons.cancel.addEventListener('click', function () { Atlas.draw.stop(); });
    });
  }});
}());
