/* 精致威海规划图 — Mapbox Vector Tiles drawn on canvas tiles: a small reader of the MVT 2.1 encoding
 * (protocol buffers: Tile.layers 3; Layer name 1, features 2, keys 3, values 4, extent 5; Feature
 * id 1, tags 2, type 3, geometry 4; geometry commands MoveTo 1, LineTo 2, ClosePath 7 with
 * zig-zag parameters) and an L.GridLayer that draws each feature in the layer's style. Used when
 * window.ATLAS_TILE_FORMAT is 'mvt' (the benchmark's vector technique, bench/tiles.py). */
(function () {
  'use strict';
  var Atlas = window.Atlas;

  function Reader(bytes) { this.buf = bytes; this.pos = 0; }
  Reader.prototype.varint = function () {
    var result = 0, shift = 0, b;
    do {
      b = this.buf[this.pos++];
      result += (b & 0x7f) * Math.pow(2, shift);
      shift += 7;
    } while (b >= 0x80);
    return result;
  };
  Reader.prototype.skip = function (wire) {
    if (wire === 0) { this.varint(); } else if (wire === 1) { this.pos += 8; } else if (wire === 2) {
      var n = this.varint(); this.pos += n;
    } else if (wire === 5) { this.pos += 4; } else { throw new Error('MVT: unknown wire type ' + wire); }
  };
  Reader.prototype.sub = function () { var n = this.varint(), r = new Reader(this.buf.subarray(this.pos, this.pos + n)); this.pos += n; return r; };
  Reader.prototype.text = function () { var r = this.sub(); return new TextDecoder().decode(r.buf); };
  Reader.prototype.packed = function () {
    var r = this.sub(), out = [];
    while (r.pos < r.buf.length) { out.push(r.varint()); }
    return out;
  };

  function readValue(r) {
    var value = null;
    while (r.pos < r.buf.length) {
      var key = r.varint(), field = key >> 3, wire = key & 7;
      if (field === 1) { value = r.text(); } else if (field === 2) {
        value = new DataView(r.buf.buffer, r.buf.byteOffset + r.pos, 4).getFloat32(0, true); r.pos += 4;
      } else if (field === 3) {
        value = new DataView(r.buf.buffer, r.buf.byteOffset + r.pos, 8).getFloat64(0, true); r.pos += 8;
      } else if (field === 4 || field === 5) { value = r.varint(); } else if (field === 6) {
        var z = r.varint(); value = z % 2 ? -(z + 1) / 2 : z / 2;
      } else if (field === 7) { value = !!r.varint(); } else { r.skip(wire); }
    }
    return value;
  }

  function readFeature(r) {
    var f = {id: null, tags: [], type: 0, geometry: []};
    while (r.pos < r.buf.length) {
      var key = r.varint(), field = key >> 3, wire = key & 7;
      if (field === 1) { f.id = r.varint(); } else if (field === 2) { f.tags = r.packed(); } else if (field === 3) {
        f.type = r.varint();
      } else if (field === 4) { f.geometry = r.packed(); } else { r.skip(wire); }
    }
    return f;
  }

  function readLayer(r) {
    var layer = {name: '', extent: 4096, keys: [], values: [], features: []};
    while (r.pos < r.buf.length) {
      var key = r.varint(), field = key >> 3, wire = key & 7;
      if (field === 1) { layer.name = r.text(); } else if (field === 2) { layer.features.push(readFeature(r.sub())); } else if (field === 3) {
        layer.keys.push(r.text());
      } else if (field === 4) { layer.values.push(readValue(r.sub())); } else if (field === 5) { layer.extent = r.varint(); } else { r.skip(wire); }
    }
    return layer;
  }

  // A tile's layers: [{name, extent, features: [{id, type, properties, rings: [[x, y, x, y, …], …]}]}]
  Atlas.decodeMvt = function (bytes) {
    var r = new Reader(bytes), layers = [];
    while (r.pos < r.buf.length) {
      var key = r.varint();
      if ((key >> 3) === 3) { layers.push(readLayer(r.sub())); } else { r.skip(key & 7); }
    }
    layers.forEach(function (layer) {
      layer.features.forEach(function (f) {
        var props = {}, rings = [], ring = null, x = 0, y = 0, g = f.geometry, i = 0;
        for (var t = 0; t + 1 < f.tags.length; t += 2) { props[layer.keys[f.tags[t]]] = layer.values[f.tags[t + 1]]; }
        while (i < g.length) {
          var cmd = g[i] & 7, count = g[i] >> 3;
          i++;
          if (cmd === 7) { if (ring) { ring.closed = true; } continue; }
          for (var c = 0; c < count; c++) {
            var dx = g[i++], dy = g[i++];
            x += dx % 2 ? -(dx + 1) / 2 : dx / 2;
            y += dy % 2 ? -(dy + 1) / 2 : dy / 2;
            if (cmd === 1) { ring = [x, y]; rings.push(ring); } else { ring.push(x, y); }
          }
        }
        f.properties = props;
        f.rings = rings;
      });
    });
    return layers;
  };

  // An L.GridLayer drawing the features of the vector tiles at ``url`` in the style of ``cfg``.
  Atlas.mvtLayer = function (url, cfg, options) {
    var Layer = L.GridLayer.extend({
      createTile: function (coords, done) {
        var tile = L.DomUtil.create('canvas', 'atlas-mvt-tile'), size = this.getTileSize();
        tile.width = size.x;
        tile.height = size.y;
        var src = L.Util.template(url, {z: coords.z, x: coords.x, y: coords.y});
        fetch(src).then(function (resp) {
          if (!resp.ok) { throw new Error('tile ' + src + ': ' + resp.status); }
          return resp.arrayBuffer();
        }).then(function (buf) {
          draw(tile, Atlas.decodeMvt(new Uint8Array(buf)), cfg, size.x);
          done(null, tile);
        }).catch(function (err) { done(err, tile); });
        return tile;
      }
    });
    return new Layer(options);
  };

  function draw(canvas, layers, cfg, size) {
    var ctx = canvas.getContext('2d'), kind = Atlas.kind(cfg.geometry);
    layers.forEach(function (layer) {
      var k = size / layer.extent;
      layer.features.forEach(function (f) {
        var st = Atlas.featureStyle(cfg, f.properties);
        ctx.beginPath();
        f.rings.forEach(function (ring) {
          if (kind === 'point') {
            for (var p = 0; p < ring.length; p += 2) {
              ctx.moveTo(ring[p] * k + st.radius, ring[p + 1] * k);
              ctx.arc(ring[p] * k, ring[p + 1] * k, st.radius, 0, 2 * Math.PI);
            }
            return;
          }
          ctx.moveTo(ring[0] * k, ring[1] * k);
          for (var i = 2; i < ring.length; i += 2) { ctx.lineTo(ring[i] * k, ring[i + 1] * k); }
          if (ring.closed) { ctx.closePath(); }
        });
        if (kind !== 'line') {
          ctx.globalAlpha = st.fillOpacity;
          ctx.fillStyle = st.fillColor || st.color;
          ctx.fill('evenodd');
        }
        ctx.globalAlpha = st.opacity;
        ctx.strokeStyle = st.color;
        ctx.lineWidth = Math.min(st.weight || 1, 2);
        ctx.stroke();
      });
    });
    ctx.globalAlpha = 1;
  }
}());
