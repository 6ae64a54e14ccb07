/* 精致威海规划图 — the page's map before any layer is added (Atlas.setup, called by the page's
 * script): the basemaps, the land under the "no basemap" view, and the filters that apply to all
 * layers at once. (The offline map sets itself up in atlas-standalone.js.) */
(function () {
  'use strict';
  var Atlas = window.Atlas;

  // -- basemaps: a group of tile layers, or none; unreachable tiles only bring a notice -----------
  Atlas.basemap = function (spec) {
    var group = L.layerGroup();
    group.atlasId = spec.id;
    (spec.tiles || []).forEach(function (t) {
      var tiles = L.tileLayer(t.url, {maxZoom: t.maxZoom || 19, maxNativeZoom: t.maxZoom || 19,
                                      subdomains: t.subdomains || 'abc', attribution: t.attribution || ''});
      tiles.on('tileerror', function () {
        if (!group._warned) {
          group._warned = true;
          Atlas.notify(Atlas.t('tilesOffline'), 'warning');
        }
      });
      group.addLayer(tiles);
    });
    Atlas.basemaps[spec.id] = group;
    return group;
  };

  // -- setup: before any layer is added -------------------------------------------------------------
  Atlas.setup = function (map, config) {
    Atlas.prepareMap(map, config);
    Atlas.filters = L.extend({district: null, category: null, status: null}, config.filters || {});
    Atlas.busy(+1);  // until Atlas.start has run
    if (config.land) {
      Atlas.land = new Atlas.DataLayer('land', {
        layer: config.land.layer, from: config.land.layer, params: {category: config.land.category}, pane: 'atlas-land',
        renderer: Atlas.landRenderer, interactive: false, style: Atlas.LAND_STYLE
      });
      Atlas.land.cfg = L.extend({}, Atlas.land.cfg, {mode: 'whole'});
    }
    Atlas.setBasemapClass(config.basemap);
  };

  Atlas.setBasemapClass = function (id) {
    var box = Atlas.map.getContainer();
    Atlas.currentBasemap = id;
    L.DomUtil[id === 'none' ? 'addClass' : 'removeClass'](box, 'atlas-offline');
    if (Atlas.land) {
      if (id === 'none' && !Atlas.map.hasLayer(Atlas.land)) { Atlas.land.addTo(Atlas.map); }
      if (id !== 'none' && Atlas.map.hasLayer(Atlas.land)) { Atlas.map.removeLayer(Atlas.land); }
    }
  };

  // -- filters apply to every layer at once; hidden layers pick them up when shown ----------------
  Atlas.FILTERS = ['district', 'category', 'status'];

  Atlas.setFilter = function (name, value) {
    Atlas.filters[name] = value || null;
    Object.keys(Atlas.layers).forEach(function (id) { Atlas.layers[id].refresh(); });
    Atlas.changed('filters');
  };

  // The filters set now, in words: 环翠区 · 运营中
  Atlas.filterWords = function () {
    var vocab = Atlas.config.vocab;
    return Atlas.FILTERS.filter(function (k) { return Atlas.filters[k]; }).map(function (k) {
      var v = Atlas.filters[k];
      return Atlas.label(vocab[k][v]) || v;
    });
  };

  // -- what is shown ----------------------------------------------------------------------------------
  Atlas.visibleConfigs = function () {
    return Atlas.config.layers.filter(function (cfg) {
      var layer = Atlas.layers[cfg.id];
      return layer && Atlas.map.hasLayer(layer);
    });
  };
  Atlas.visibleLayers = function () {
    return Atlas.visibleConfigs().map(function (cfg) { return cfg.id; });
  };
}());
