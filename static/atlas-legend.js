/* 精致威海规划图 — the legend: one section per visible layer (its categories drawn now, how many
 * features, whether only part is shown), and the keys for status and accuracy. Text only. */
(function () {
  'use strict';
  var Atlas = window.Atlas;
  var el = function (tag, cls, text, parent) { return Atlas.el(tag, cls, text, parent); };

  // -- legend: one section per visible layer, plus the keys for status and accuracy -----------------
  function symbol(kind, parent, color, pattern, fill) {
    var sym = el('span', 'atlas-sym atlas-sym-' + kind + (pattern ? ' atlas-pat-' + pattern : '') +
                 (fill ? ' atlas-fill-' + fill : ''), null, parent);
    sym.setAttribute('aria-hidden', 'true');
    if (color) { sym.style.setProperty('--sym', color); }
    return sym;
  }

  Atlas.legend = function () {
    return Atlas.control('bottomright', 'atlas-legend', function (box) {
      var head = el('div', 'atlas-legend-head', null, box);
      el('strong', null, Atlas.t('legend'), head);
      var toggle = el('button', 'atlas-legend-toggle', '−', head);
      toggle.type = 'button';
      var body = Atlas._legendBody = el('div', 'atlas-legend-body', null, box);
      function setOpen(open) {
        L.DomUtil[open ? 'removeClass' : 'addClass'](box, 'atlas-collapsed');
        toggle.textContent = open ? '−' : '+';
        toggle.title = Atlas.t(open ? 'hideLegend' : 'showLegend');
        toggle.setAttribute('aria-label', toggle.title);
        toggle.setAttribute('aria-expanded', String(open));
      }
      toggle.addEventListener('click', function () { setOpen(box.classList.contains('atlas-collapsed')); });
      setOpen(true);
      body.setAttribute('data-legend', '');
    });
  };

  // The legend grows up from the bottom right to just under the layer control, then scrolls.
  Atlas.fitLegend = function () {
    var body = Atlas._legendBody, lc = Atlas.layerControl && Atlas.layerControl.getContainer();
    if (!body || !lc) { return; }
    var legend = body.parentNode.getBoundingClientRect(), top = lc.getBoundingClientRect().bottom + 10;
    var panelBox = document.querySelector('.atlas-panel');
    if (panelBox && panelBox.getBoundingClientRect().right > legend.left) {  // a phone: the panel spans the top
      top = Math.max(top, panelBox.getBoundingClientRect().bottom + 10);
    }
    var chrome = legend.height - body.getBoundingClientRect().height;
    var room = legend.bottom - top - chrome;
    if (Atlas.isNarrow()) { room = Math.min(room, window.innerHeight * 0.34); }
    body.style.maxHeight = Math.max(60, Math.floor(room)) + 'px';
  };

  Atlas.updateLegend = function () {
    var body = Atlas._legendBody;
    if (!body) { return; }
    body.textContent = '';
    var kinds = {};
    Atlas.config.layers.forEach(function (cfg) {
      var layer = Atlas.layers[cfg.id];
      if (!layer || !Atlas.map.hasLayer(layer)) { return; }
      var kind = Atlas.kind(cfg.geometry);
      kinds[kind] = true;
      var sec = el('section', 'atlas-legend-layer', null, body);
      sec.setAttribute('data-layer', cfg.id);
      var title = el('div', 'atlas-legend-title', null, sec);
      el('span', null, Atlas.label(cfg.title), title);
      el('span', 'atlas-legend-count', layer.matched > layer.drawn ? layer.drawn + '/' + layer.matched : String(layer.drawn), title);
      var items = el('div', 'atlas-legend-items', null, sec);
      var cats = cfg.style.categories || {};
      var keys = Object.keys(cats).filter(function (k) { return layer.categories[k]; });
      if (cfg.style.by !== 'category') {
        var item = el('span', 'atlas-key', null, items);
        symbol(kind, item, cfg.style.color);
        el('span', null, Atlas.label(cfg.title), item);
      }
      keys.forEach(function (k) {
        var key = el('span', 'atlas-key', null, items);
        key.setAttribute('data-category', k);
        symbol(kind, key, cats[k].color);
        el('span', null, Atlas.label(cats[k].label), key);
      });
      var note = null;
      if (layer.error) { note = layer.error; } else if (layer.matched > layer.drawn) {
        note = Atlas.t('partial', {n: Atlas.number(layer.drawn), m: Atlas.number(layer.matched)});
      } else if (!layer.drawn && layer._have) { note = Atlas.t('none'); }
      if (note) { el('div', 'atlas-legend-note', note, sec); }
    });
    if (!Object.keys(kinds).length) { return; }
    var keysBox = el('section', 'atlas-legend-keys', null, body);
    var st = el('div', 'atlas-legend-row', null, keysBox);
    el('span', 'atlas-legend-label', Atlas.t('statusKey'), st);
    [['solid', 'solid'], ['half', 'half'], ['hollow', 'hollow']].forEach(function (pair) {
      var key = el('span', 'atlas-key', null, st);
      if (pair[0] === 'solid') { key.title = Atlas.t('solidNote'); }
      symbol('point', key, '#555555', null, pair[0]);
      el('span', null, Atlas.t(pair[1]), key);
    });
    var acc = el('div', 'atlas-legend-row', null, keysBox);
    el('span', 'atlas-legend-label', Atlas.t('accuracyKey'), acc);
    var pattern = {surveyed: 'solid', approximate: 'dashed', schematic: 'dotted'};
    Object.keys(Atlas.config.vocab.accuracy).forEach(function (k) {
      var key = el('span', 'atlas-key', null, acc);
      key.setAttribute('data-accuracy', k);
      symbol(kinds.polygon || kinds.line ? 'line' : 'point', key, '#555555', pattern[k] || 'solid');
      el('span', null, Atlas.label(Atlas.config.vocab.accuracy[k]), key);
    });
  };

}());
