/* 精致威海规划图 — the overlays: each filled from the API's layers/<id> (Atlas.config.api); a small
 * layer whole (again only when zooming in needs finer geometry), a large one only for the view, page
 * by page, simplified to half a pixel, at most limits.maxDrawn at once. All drawn on one canvas.
 * Which filters a layer can match is decided in Python (config.layers[i].filters); this only looks it up. */
(function () {
  'use strict';
  var Atlas = window.Atlas;

  function metresPerPixel(map) {
    var lat = map.getCenter().lat;
    return 156543.03392 * Math.cos(lat * Math.PI / 180) / Math.pow(2, map.getZoom());
  }

  // The view, ``pad`` times its size larger on each side, in the world's range: [w, s, e, n]
  // rounded to ``precision`` (1e5: about a metre).
  Atlas.viewBbox = function (pad, precision) {
    var b = Atlas.map.getBounds().pad(pad || 0);
    var clamp = function (v, lo, hi) { return Math.round(Math.min(hi, Math.max(lo, v)) * precision) / precision; };
    return [clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -90, 90),
            clamp(b.getEast(), -180, 180), clamp(b.getNorth(), -90, 90)];
  };

  function contains(outer, inner) {
    return outer && outer[0] <= inner[0] && outer[1] <= inner[1] && outer[2] >= inner[2] && outer[3] >= inner[3];
  }

  // The URL of ``path`` (e.g. 'layers/parks') below Atlas.config.api: the server says where the API
  // is, so the page works under a prefix too (/atlas/api).
  Atlas.apiUrl = function (path, params) {
    var query = Atlas.query(params);
    return Atlas.config.api.replace(/\/+$/, '') + '/' + path + (query ? '?' + query : '');
  };

  Atlas.fetchJson = function (url, options) {
    return fetch(url, options).then(function (resp) {
      return resp.json().catch(function () { return {detail: resp.status + ' ' + resp.statusText}; })
        .then(function (body) {
          if (!resp.ok) { throw new Error(body.detail || (resp.status + ' ' + resp.statusText)); }
          return body;
        });
    });
  };

  var DataLayer = L.FeatureGroup.extend({
    initialize: function (id, options) {
      L.FeatureGroup.prototype.initialize.call(this, [], options);
      this.id = id;
      this.opts = options || {};
      this.cfg = Atlas.layerConfig(this.opts.layer || id);
      this.drawn = 0;
      this.matched = 0;
      this.categories = {};
      this.error = null;
      this._have = null;   // what is drawn: {filters, simplify, bbox}
      this._timer = null;
    },

    onAdd: function (map) {
      L.FeatureGroup.prototype.onAdd.call(this, map);
      map.on('moveend', this._onMove, this);
      map.on('zoomend', this._resizePoints, this);
      if (Atlas.started) { this.refresh(); }  // else Atlas.start loads it once the view is set
    },

    onRemove: function (map) {
      map.off('moveend', this._onMove, this);
      map.off('zoomend', this._resizePoints, this);
      clearTimeout(this._timer);
      this._abort();
      this.clearLayers();
      this._tiles = null;
      this._have = null;
      this.drawn = 0;
      this.matched = 0;
      this.categories = {};
      L.FeatureGroup.prototype.onRemove.call(this, map);
      Atlas.changed('layers');
    },

    _resizePoints: function () { Atlas.resizePoints(this, this.cfg); },

    _onMove: function () {
      var self = this;
      clearTimeout(this._timer);
      this._timer = setTimeout(function () { self.refresh(); }, 200);
    },

    /* The API parameters the filters give this layer, or null when they exclude all its features.
     * Only the layer's filter rule decides (api.filter_rule, in the config): per filter, null passes
     * any value on; a list holds the values the layer can match. */
    _filterParams: function () {
      if (this.opts.params) { return this.opts.params; }
      var rule = this.cfg.filters || {}, p = {};
      for (var i = 0; i < Atlas.FILTERS.length; i++) {
        var name = Atlas.FILTERS[i], value = Atlas.filters[name], values = rule[name];
        if (!value) { continue; }
        if (Array.isArray(values) && values.indexOf(value) < 0) { return null; }
        p[name] = value;
      }
      return p;
    },

    refresh: function (force) {
      var map = this._map;
      if (!map) { return; }
      if (this.cfg.mode === 'tiles') { Atlas.refreshTiles(this, force); return; }  // atlas-tiles.js
      if (this._share()) { return; }
      var filters = this._filterParams();
      var filterKey = JSON.stringify(filters) + (Atlas.asOf || '');  // another time is another layer
      var point = Atlas.kind(this.cfg.geometry) === 'point';
      var simplify = point ? 0 : Math.floor(metresPerPixel(map) / 2);
      var view = this.cfg.mode === 'view';
      var have = this._ctrl ? this._loading : this._have;  // what is drawn, or on its way
      if (!force && have && have.filters === filterKey) {
        // zooming out keeps the finer geometry; only zooming in (or leaving the fetched box) refetches
        var fineEnough = have.simplify <= Math.max(1, simplify * 2);
        if (!view && fineEnough) { return; }
        if (view && fineEnough && have.simplify * 4 >= simplify && contains(have.bbox, Atlas.viewBbox(0, 1e5))) { return; }
      }
      if (filters === null) {
        this._abort();
        this.clearLayers();
        this._have = {filters: filterKey, simplify: 0, bbox: null};
        this.drawn = 0;
        this.matched = 0;
        this.categories = {};
        Atlas.changed('layers');
        return;
      }
      var params = L.extend({}, filters, {limit: view ? Atlas.config.limits.page : Atlas.config.limits.whole,
                                          as_of: Atlas.asOf || null});  // as it was then (atlas-history.js)
      if (simplify > 0) { params.simplify = Math.min(simplify, 10000); }
      var bbox = view ? Atlas.viewBbox(0.25, 1e5) : null;
      if (bbox) { params.bbox = bbox; }
      this._load(params, {filters: filterKey, simplify: simplify, bbox: bbox});
    },

    _abort: function () {
      if (this._ctrl) {
        this._ctrl.abort();
        this._ctrl = null;
        Atlas.busy(-1);
      }
    },

    // The first page, then the rest (for a layer fetched by view, up to maxDrawn) two at a time,
    // each drawn as it arrives.
    _load: function (params, have) {
      var self = this, ctrl = new AbortController(), size = params.limit;
      // at most maxDrawn in view, fewer on a small screen (about one feature per 60 px²)
      var size0 = Atlas.map.getSize(), limits = Atlas.config.limits;
      var maxDrawn = this.cfg.mode !== 'view' ? Infinity
        : Math.max(limits.page, Math.min(limits.maxDrawn, Math.floor(size0.x * size0.y / 60)));
      this._abort();
      this._ctrl = ctrl;
      this._loading = have;
      Atlas.busy(+1);
      var get = function (offset) {
        var url = Atlas.apiUrl('layers/' + encodeURIComponent(self.cfg.id), L.extend({}, params, {offset: offset || null}));
        return Atlas.fetchJson(url, {signal: ctrl.signal}).then(function (fc) {
          if (self._ctrl !== ctrl) { var gone = new Error('superseded'); gone.name = 'AbortError'; throw gone; }
          if (!offset) {  // the old features stay until the new ones are here: no flicker
            self.clearLayers();
            self.categories = {};
            self.drawn = 0;
          }
          self._draw(fc);
          self.drawn += fc.numberReturned;
          // an exact count, or (many matches under a filter) a lower bound: "more than m"
          self.more = fc.numberMatched === undefined;
          self.matched = self.more ? fc.numberMatchedAtLeast : fc.numberMatched;
          Atlas.changed('layers');
          return fc;
        });
      };
      get(0).then(function (fc) {
        var offsets = [], next = 0;
        for (var o = fc.numberReturned; fc.numberReturned > 0 && o < self.matched && o < maxDrawn; o += size) {
          offsets.push(o);
        }
        var worker = function () {
          return next < offsets.length ? get(offsets[next++]).then(worker) : null;
        };
        return Promise.all([worker(), worker()]);
      }).then(function () {
        self._have = have;
        self._ctrl = null;
        self.error = null;
        self.fire('atlasload');
        Atlas.busy(-1);
        Atlas.order();
        Atlas.changed('layers');
      }).catch(function (err) {
        if (err.name === 'AbortError' || self._ctrl !== ctrl) { return; }
        self._ctrl = null;
        self.error = err.message;
        Atlas.busy(-1);
        var text = Atlas.t('layerError', {layer: Atlas.label(self.cfg.title), detail: err.message});
        Atlas.notify(text, 'error');
        console.error(text);
        Atlas.changed('layers');
      });
    },

    _draw: function (fc) {
      var self = this;
      var geo = Atlas.geoJson(fc, this.cfg, this.opts);
      if (!this.firstDrawnAt && (fc.features || []).length) { this.firstDrawnAt = performance.now(); }
      if (this.cfg.mode === 'whole') {  // kept for a layer drawn from this one's data (the land)
        this._features = this.drawn ? (this._features || []).concat(fc.features || []) : (fc.features || []).slice();
      }
      (fc.features || []).forEach(function (f) {
        var cat = Atlas.categoryKey(self.cfg, f.properties) || '';  // by the style's field
        self.categories[cat] = (self.categories[cat] || 0) + 1;
      });
      this.addLayer(geo);
    },

    // A layer made from another's data (opts.from, e.g. the land from the districts): while that one
    // is shown unfiltered, take the features of opts.params.category from it instead of fetching them.
    _share: function () {
      var src = this.opts.from ? Atlas.layers[this.opts.from] : null;
      var filters = src && src._map ? src._filterParams() : null;
      var shared = !!filters && !Object.keys(filters).length && src.cfg.mode === 'whole';
      if (src) { src[shared ? 'on' : 'off']('atlasload', this._copyFrom, this); }
      if (shared && src._have && !src._ctrl && this._have !== src._have) { this._copyFrom(); }
      return shared;
    },

    _copyFrom: function () {
      var src = Atlas.layers[this.opts.from], filters = src._filterParams();
      if (!this._map || !filters || Object.keys(filters).length) { return; }  // filtered since: keep what is drawn
      var wanted = this.opts.params.category;
      this._abort();
      this.clearLayers();
      this.drawn = 0;
      this._draw({type: 'FeatureCollection', features: (src._features || []).filter(function (f) {
        return wanted.indexOf((f.properties || {}).category) >= 0;
      })});
      this.drawn = this.featureIds().length;
      this._have = src._have;
    },

    // ids of the features drawn now (for tests and the search's highlight)
    featureIds: function () { return Atlas.leafIds(this); },

    findFeature: function (id) {
      var found = null;
      Atlas.eachLeaf(this, function (lay) { if (!found && lay.feature && lay.feature.id === id) { found = lay; } });
      return found;
    }
  });

  Atlas.DataLayer = DataLayer;

  Atlas.dataLayer = function (id) {
    var layer = new DataLayer(id);
    Atlas.layers[id] = layer;
    Atlas.bindFeatureEvents(layer, layer.cfg);
    return layer;
  };

  // Draw order: the layers' z from the style, whatever order they were loaded in (one canvas).
  Atlas.order = function () {
    Atlas.byZ(Atlas.config.layers).forEach(function (cfg) {
      var layer = Atlas.layers[cfg.id];
      if (layer && layer._map) { layer.bringToFront(); }
    });
  };

}());
