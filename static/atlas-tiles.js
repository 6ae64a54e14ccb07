/* 精致威海规划图 — a layer too large to draw as GeoJSON (config mode 'tiles', over ATLAS_TILES_ABOVE
 * features) drawn from the server's tiles (Atlas.config.tiles + '<layer>/{z}/{x}/{y}.png', under the
 * same filters and time as the API), and a click on it answered by the server (api layers/<id>/at),
 * in the usual popup. Raster PNG tiles were chosen by measuring (bench/tiles.py, bench/RESULTS.md);
 * vector tiles (atlas-mvt.js) draw the same layer when window.ATLAS_TILE_FORMAT is 'mvt'. */
(function () {
  'use strict';
  var Atlas = window.Atlas;

  function tileUrl(layer, params, format) {
    var query = Atlas.query(params);
    return Atlas.config.tiles + encodeURIComponent(layer.cfg.id) + '/{z}/{x}/{y}.' + format + (query ? '?' + query : '');
  }

  // Follow a tile layer's loading in the page's busy state (tests and the status wait for idle).
  function watch(tiles) {
    var loading = false;
    tiles.on('loading', function () { if (!loading) { loading = true; Atlas.busy(+1); } });
    tiles.on('load remove', function () { if (loading) { loading = false; Atlas.busy(-1); } });
    tiles.on('tileerror', function () { console.error('tile failed to load: ' + tiles._url); });
    return tiles;
  }

  /* What DataLayer.refresh does for a tiled layer: the tiles of its filters and time, drawn again
   * when ``force`` (after an edit: the server's ETag changed, so the browser fetches them anew). */
  Atlas.refreshTiles = function (layer, force) {
    var filters = layer._filterParams();
    layer.drawn = layer.matched = filters === null ? 0 : layer.cfg.count;
    layer.more = false;
    if (filters === null) {
      if (layer._tiles) { layer.removeLayer(layer._tiles); layer._tiles = null; }
      Atlas.changed('layers');
      return;
    }
    var format = window.ATLAS_TILE_FORMAT === 'mvt' ? 'mvt' : 'png';
    // Tiles named by the store's revision the page was made for are kept by the browser (the server
    // says immutable); after an edit (force) they are asked for unnamed, revalidated by their ETag.
    if (force) { layer._tilesEdited = true; }
    var version = layer._tilesEdited ? null : (Atlas.config.tilesVersion || null);
    var url = tileUrl(layer, L.extend({}, filters, {as_of: Atlas.asOf || null, v: version}), format);
    if (layer._tiles && layer._tiles._atlasUrl === url) {
      if (force) { layer._tiles.redraw(); }
      return;
    }
    if (layer._tiles) { layer.removeLayer(layer._tiles); }
    var options = {maxZoom: Atlas.config.zoom.max, zIndex: 10 + (layer.cfg.style.z || 0), className: 'atlas-tiles'};
    var tiles = format === 'mvt' ? Atlas.mvtLayer(url, layer.cfg, options) : L.tileLayer(url, options);
    tiles._atlasUrl = url;
    layer._tiles = watch(tiles);
    layer.addLayer(tiles);
    Atlas.changed('layers');
  };

  // -- a click on a tiled layer: the server finds the feature (topmost layer first) ------------------
  function tiledLayers() {
    return Atlas.byZ(Atlas.config.layers).reverse().map(function (cfg) { return Atlas.layers[cfg.id]; })
      .filter(function (layer) { return layer && layer._map && layer._tiles && layer.cfg.mode === 'tiles'; });
  }

  Atlas.pickTiled = function (latlng) {
    var layers = tiledLayers(), zoom = Atlas.map.getZoom();
    var next = function (i) {
      if (i >= layers.length) { return Promise.resolve(null); }
      var layer = layers[i], filters = layer._filterParams();
      if (filters === null) { return next(i + 1); }
      var url = Atlas.apiUrl('layers/' + encodeURIComponent(layer.cfg.id) + '/at', L.extend({}, filters, {
        lon: latlng.lng.toFixed(7), lat: latlng.lat.toFixed(7), zoom: zoom, as_of: Atlas.asOf || null}));
      return Atlas.fetchJson(url).then(function (fc) {
        var found = (fc.features || [])[0];
        return found ? {feature: found, layer: layer} : next(i + 1);
      });
    };
    return next(0);
  };

  // a tool without a button: the map's clicks (a click on a drawn feature stops before the map's)
  Atlas.tools.push({rank: 99, build: function (bar, map) {
    map.on('click', function (e) {
      if (Atlas.measuring || !tiledLayers().length) { return; }
      Atlas.busy(+1);
      Atlas.pickTiled(e.latlng).then(function (hit) {
        if (hit) { Atlas.openPopup(hit.feature, e.latlng, hit.layer.cfg); }
      }).catch(function (err) {
        Atlas.notify(err.message, 'error');
        console.error(err.message);
      }).then(function () { Atlas.busy(-1); });
    });
  }});
}());
