/* 精致威海规划图 — measure distance and area on the map.
 *
 * Lengths: each segment on the CGCS2000/GRS80 ellipsoid with the radii of curvature at its middle
 * latitude (well under 0.1 % off for segments of city scale). Areas: the vertices projected to the
 * ellipsoidal Lambert cylindrical equal-area projection, which keeps areas exactly, then the shoelace
 * formula. Shown in m², hectares and 亩 (1 亩 = 10000/15 m²). */
(function () {
  'use strict';
  var Atlas = window.Atlas;
  var A = 6378137.0, F = 1 / 298.257222101, E2 = F * (2 - F), E = Math.sqrt(E2), RAD = Math.PI / 180;
  var MU = 10000 / 15;

  function q(phi) {
    var s = Math.sin(phi), es = E * s;
    return (1 - E2) * (s / (1 - E2 * s * s) - Math.log((1 - es) / (1 + es)) / (2 * E));
  }

  function segment(a, b) {
    var phi = (a.lat + b.lat) / 2 * RAD, s2 = Math.sin(phi) * Math.sin(phi);
    var w = Math.sqrt(1 - E2 * s2), m = A * (1 - E2) / (w * w * w), n = A / w;
    var dx = n * Math.cos(phi) * (b.lng - a.lng) * RAD, dy = m * (b.lat - a.lat) * RAD;
    return Math.sqrt(dx * dx + dy * dy);
  }

  var measure = Atlas.measure = {
    /** Length in metres of a line through ``latlngs``. */
    length: function (latlngs) {
      var total = 0;
      for (var i = 1; i < latlngs.length; i++) { total += segment(L.latLng(latlngs[i - 1]), L.latLng(latlngs[i])); }
      return total;
    },
    /** Area in square metres of the polygon ``latlngs`` (one ring, closed or not). */
    area: function (latlngs) {
      if (latlngs.length < 3) { return 0; }
      var lon0 = L.latLng(latlngs[0]).lng, sum = 0;
      var pts = latlngs.map(function (p) {
        var ll = L.latLng(p);
        return [A * (ll.lng - lon0) * RAD, A * q(ll.lat * RAD) / 2];
      });
      for (var i = 0; i < pts.length; i++) {
        var j = (i + 1) % pts.length;
        sum += pts[i][0] * pts[j][1] - pts[j][0] * pts[i][1];
      }
      return Math.abs(sum) / 2;
    },
    formatLength: function (m) {
      return m < 1000 ? Atlas.number(m, 0) + ' m' : Atlas.number(m / 1000, 3) + ' km';
    },
    formatArea: function (m2) {
      return [Atlas.number(m2, 0) + ' m²', Atlas.number(m2 / 10000, 2) + ' ' + Atlas.t('ha'),
              Atlas.number(m2 / MU, 1) + ' ' + Atlas.t('mu')];
    },
    state: null
  };

  function Session(map, mode, ui) {
    this.map = map;
    this.mode = mode;
    this.ui = ui;
    this.points = [];
    this.done = false;
    var renderer = Atlas.measureRenderer = Atlas.measureRenderer || L.svg({pane: 'atlas-measure'});
    var style = {color: '#d7191c', weight: 3, pane: 'atlas-measure', renderer: renderer, interactive: false};
    this.shape = (mode === 'area' ? L.polygon([], L.extend({fillOpacity: 0.15}, style)) : L.polyline([], style)).addTo(map);
    this.rubber = L.polyline([], L.extend({}, style, {className: 'atlas-measure-rubber', weight: 2})).addTo(map);  // dashed: atlas.css
    this.vertices = L.layerGroup().addTo(map);
  }

  Session.prototype = {
    add: function (latlng) {
      if (this.done) { return; }
      var last = this.points[this.points.length - 1];
      if (last && this.map.latLngToContainerPoint(last).distanceTo(this.map.latLngToContainerPoint(latlng)) < 4) { return; }
      this.points.push(latlng);
      L.circleMarker(latlng, {radius: 4, color: '#d7191c', weight: 2, fillColor: '#ffffff', fillOpacity: 1,
                              pane: 'atlas-measure', renderer: Atlas.measureRenderer, interactive: false}).addTo(this.vertices);
      this.shape.setLatLngs(this.points);
      this.update();
    },
    move: function (latlng) {
      if (this.done || !this.points.length) { return; }
      var last = this.points[this.points.length - 1];
      this.rubber.setLatLngs(this.mode === 'area' && this.points.length > 1 ? [last, latlng, this.points[0]] : [last, latlng]);
      this.update(latlng);
    },
    finish: function () {
      this.done = true;
      this.rubber.setLatLngs([]);
      this.update();
    },
    remove: function () {
      this.map.removeLayer(this.shape);
      this.map.removeLayer(this.rubber);
      this.map.removeLayer(this.vertices);
    },
    update: function (hover) {
      var pts = hover ? this.points.concat([hover]) : this.points;
      var result = {mode: this.mode, points: this.points.length, done: this.done};
      if (this.mode === 'line') {
        result.length_m = measure.length(pts);
        result.lines = [Atlas.t('measureDistance') + '：' + measure.formatLength(result.length_m)];
      } else {
        result.area_m2 = measure.area(pts);
        result.length_m = measure.length(pts.length > 2 ? pts.concat([pts[0]]) : pts);
        result.lines = [Atlas.t('measureAreaLabel') + '：'].concat(measure.formatArea(result.area_m2));
      }
      measure.state = result;
      this.ui.show(result);
    }
  };

  // The result box, filled into ``box`` (its control's).
  function resultBox(box) {
    box.hidden = true;
    var hint = Atlas.el('div', 'atlas-measure-hint', null, box);
    var value = Atlas.el('div', 'atlas-measure-value', null, box);
    var actions = Atlas.el('div', 'atlas-measure-actions', null, box);
    var finish = Atlas.button(null, Atlas.t('measureFinish'), actions);
    var clear = Atlas.button(null, Atlas.t('measureClear'), actions);
    return {
      box: box, finish: finish, clear: clear,
      show: function (result) {
        box.hidden = false;
        hint.textContent = result.done ? '' : Atlas.t(result.mode === 'area' ? 'measureHintArea' : 'measureHintLine');
        hint.hidden = result.done;
        value.textContent = '';
        result.lines.forEach(function (line) { Atlas.el('div', null, line, value); });
        finish.hidden = result.done;
      },
      hide: function () { box.hidden = true; }
    };
  }

  Atlas.tools.push({rank: 10, build: function (bar, map, button) {
    var ui = null, session = null, buttons = {};

    function stop(keepShape) {
      Atlas.measuring = false;
      L.DomUtil.removeClass(map.getContainer(), 'atlas-measuring');
      map.doubleClickZoom.enable();
      Object.keys(buttons).forEach(function (k) { L.DomUtil.removeClass(buttons[k], 'atlas-on'); });
      if (session && !keepShape) { session.remove(); session = null; ui.hide(); measure.state = null; }
    }

    function start(mode) {
      var same = session && session.mode === mode && !session.done;
      stop(false);
      if (same) { return; }
      Atlas.measuring = true;
      L.DomUtil.addClass(map.getContainer(), 'atlas-measuring');
      L.DomUtil.addClass(buttons[mode], 'atlas-on');
      map.doubleClickZoom.disable();
      map.closePopup();
      session = new Session(map, mode, ui);
      session.update();
    }

    function finish() {
      if (!session || session.done) { return; }
      session.finish();
      stop(true);
    }

    buttons.line = button(bar, 'atlas-tool-line', Atlas.t('measureLine'), function () { start('line'); });
    buttons.area = button(bar, 'atlas-tool-area', Atlas.t('measureArea'), function () { start('area'); });
    map.on('click', function (e) { if (Atlas.measuring && session) { session.add(e.latlng); } });
    map.on('mousemove', function (e) { if (Atlas.measuring && session) { session.move(e.latlng); } });
    map.on('dblclick', function (e) {
      if (!Atlas.measuring || !session) { return; }
      session.add(e.latlng);
      finish();
    });
    document.addEventListener('keydown', function (e) { if (e.key === 'Escape' && Atlas.measuring) { stop(false); } });
    // the result box is its own control, placed under the toolbar
    return Atlas.control('bottomleft', 'atlas-measure-box', function (box) {
      ui = resultBox(box);
      ui.finish.addEventListener('click', finish);
      ui.clear.addEventListener('click', function () { stop(false); });
    });
  }});
}());
