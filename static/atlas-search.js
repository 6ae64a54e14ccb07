/* 精致威海规划图 — the search over all layers (the API's search, Atlas.config.api): a box in the
 * panel with a list of hits; a chosen hit flies there, shows its layer and opens its popup. Text only. */
(function () {
  'use strict';
  var Atlas = window.Atlas;
  var el = Atlas.el;

  // -- search over all layers ------------------------------------------------------------------------
  Atlas.searchBox = function (box) {
    var input = el('input', 'atlas-search-input', null, box);
    input.type = 'search';
    input.placeholder = Atlas.t('search');
    input.setAttribute('aria-label', Atlas.t('search'));
    input.autocomplete = 'off';
    var list = el('ul', 'atlas-results', null, box);
    list.hidden = true;
    list.setAttribute('role', 'listbox');
    var timer = null, hits = [], active = -1, seq = 0;

    function render(message) {
      list.textContent = '';
      list.hidden = !message && !hits.length;
      if (message) { el('li', 'atlas-result-empty', message, list); return; }
      hits.forEach(function (hit, i) {
        var props = hit.properties || {};
        var item = el('li', 'atlas-result' + (i === active ? ' atlas-active' : ''), null, list);
        item.setAttribute('role', 'option');
        item.setAttribute('data-feature-id', String(hit.id));
        el('div', 'atlas-result-name', Atlas.featureName(props), item);
        var cfg = Atlas.layerConfig(props.layer);
        var cat = cfg ? Atlas.categoryOf(cfg, props) : null;
        var district = Atlas.config.vocab.districts[props.district];
        el('div', 'atlas-result-sub', [cfg ? Atlas.label(cfg.title) : props.layer, cat ? Atlas.label(cat.label) : null,
                                       district ? Atlas.label(district) : null].filter(Boolean).join(' · '), item);
        item.addEventListener('mousedown', function (e) { e.preventDefault(); choose(i); });
      });
    }

    function choose(i) {
      var hit = hits[i];
      if (!hit) { return; }
      hits = [];
      render();
      input.blur();
      Atlas.showFeature(hit);
    }

    function run() {
      var q = input.value.trim(), mine = ++seq;
      if (!q) { hits = []; render(); return; }
      Atlas.fetchJson(Atlas.apiUrl('search', {q: q, limit: 10, as_of: Atlas.asOf || null})).then(function (body) {
        if (mine !== seq) { return; }
        hits = body.features || [];
        active = hits.length ? 0 : -1;
        render(hits.length ? null : Atlas.t('searchNone'));
      }).catch(function (err) {
        if (mine !== seq) { return; }
        hits = [];
        render(Atlas.t('searchError') + '：' + err.message);
      });
    }

    input.addEventListener('input', function () { clearTimeout(timer); timer = setTimeout(run, 250); });
    input.addEventListener('keydown', function (e) {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        if (!hits.length) { return; }
        e.preventDefault();
        active = (active + (e.key === 'ArrowDown' ? 1 : hits.length - 1)) % hits.length;
        render();
      } else if (e.key === 'Enter') {
        e.preventDefault();
        if (hits.length) { choose(Math.max(0, active)); } else { clearTimeout(timer); run(); }
      } else if (e.key === 'Escape') {
        hits = [];
        render();
      }
    });
    input.addEventListener('blur', function () { setTimeout(function () { list.hidden = true; }, 150); });
    input.addEventListener('focus', function () { if (hits.length) { list.hidden = false; } });
  };

  // Fly to a search hit, show its layer, open its popup.
  Atlas.showFeature = function (hit) {
    var map = Atlas.map, props = hit.properties || {};
    var layer = Atlas.layers[props.layer];
    if (layer && !map.hasLayer(layer)) { map.addLayer(layer); }
    Atlas.busy(+1);
    return Atlas.fetchJson(Atlas.apiUrl('features/' + encodeURIComponent(hit.id), {as_of: Atlas.asOf || null})).then(function (feature) {
      var c = hit.geometry.coordinates, target = L.latLng(c[1], c[0]), bb = hit.bbox, done = false;
      var finish = function () {
        if (done) { return; }
        done = true;
        Atlas.openPopup(feature, target, Atlas.layerConfig(props.layer));
        Atlas.busy(-1);
      };
      map.once('moveend', finish);
      setTimeout(finish, 2500);
      if (!bb || (bb[2] - bb[0] < 0.003 && bb[3] - bb[1] < 0.003)) {
        map.flyTo(target, Math.max(map.getZoom(), 15), {duration: 0.8});
      } else {
        map.flyToBounds([[bb[1], bb[0]], [bb[3], bb[2]]], {maxZoom: 15, duration: 0.8, padding: [40, 40]});
      }
    }).catch(function (err) {
      Atlas.busy(-1);
      Atlas.notify(Atlas.t('searchError') + '：' + err.message, 'error');
      console.error(err.message);
    });
  };
}());
