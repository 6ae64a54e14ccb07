/* 精致威海规划图 — the pieces of interface the page, its print layout and the offline map share:
 * a Leaflet control around a box, the legend's symbols, the legend's model (a section per layer, the
 * status and accuracy keys, from the palette in the config) and the legend drawn from it. Text only. */
(function () {
  'use strict';
  var Atlas = window.Atlas;
  var el = Atlas.el;
  var GREY = '#555555';

  // A control at ``position``: a box of ``className``, filled by ``build(box, map)`` when added;
  // clicks and scrolling inside stay off the map.
  Atlas.control = function (position, className, build) {
    var Ctl = L.Control.extend({
      options: {position: position},
      onAdd: function (map) {
        var box = L.DomUtil.create('div', 'leaflet-control ' + className);
        L.DomEvent.disableClickPropagation(box);
        L.DomEvent.disableScrollPropagation(box);
        build.call(this, box, map);
        return box;
      }
    });
    return new Ctl();
  };

  // The legend's symbol of a feature kind (point, line, polygon): colour, line pattern, fill.
  Atlas.symbol = function (kind, parent, color, pattern, fill) {
    var sym = el('span', 'atlas-sym atlas-sym-' + kind + (pattern ? ' atlas-pat-' + pattern : '') +
                 (fill ? ' atlas-fill-' + fill : ''), null, parent);
    sym.setAttribute('aria-hidden', 'true');
    if (color) { sym.style.setProperty('--sym', color); }
    return sym;
  };

  // -- the legend's model ----------------------------------------------------------------------------
  /* The accuracy classes as the palette draws them (layers/style.py, in every layer's style), in
   * its order: [{key, label, pattern, dashArray, pointDashArray}]. The label falls back to the
   * vocabulary's. */
  Atlas.accuracyClasses = function () {
    var table = {}, order = [], vocab = (Atlas.config.vocab || {}).accuracy || {};
    Atlas.config.layers.forEach(function (cfg) {
      var palette = (cfg.style && cfg.style.accuracy) || {};
      Object.keys(palette).forEach(function (k) {
        if (!table[k]) { table[k] = palette[k]; order.push(k); }
      });
    });
    return order.map(function (k) {
      var a = table[k];
      return {key: k, label: Atlas.label(a.label || vocab[k]) || k, pattern: a.pattern || 'solid',
              dashArray: a.dashArray || null, pointDashArray: a.pointDashArray || null};
    });
  };

  /* A layer's section: its categories drawn now (or the layer's one colour), how many features,
   * and a note when some are not shown. ``drawn``: {categories: {category: n}, count, matched,
   * error, loaded}; a category is the value of the style's field (``style.by``). A style with an
   * ``other`` entry (a style by a field of an imported layer) names the features of the values it
   * gives no colour "other". */
  Atlas.legendLayer = function (cfg, drawn) {
    var st = cfg.style, cats = st.categories || {}, has = Object.prototype.hasOwnProperty;
    var entries = !st.by ? [{color: st.color || GREY, label: Atlas.label(cfg.title)}] : [];
    Object.keys(cats).forEach(function (k) {
      if (drawn.categories[k]) { entries.push({color: cats[k].color, label: Atlas.label(cats[k].label), category: k}); }
    });
    var others = Object.keys(drawn.categories).filter(function (k) { return drawn.categories[k] && !has.call(cats, k); });
    if (st.by && st.other && others.length) {
      entries.push({color: st.other.color || GREY, label: Atlas.label(st.other.label), other: true});
    }
    var note = null;
    if (drawn.error) {
      note = drawn.error;
    } else if (drawn.matched > drawn.count) {  // ``more``: matched is a lower bound (counting stopped there)
      note = Atlas.t(drawn.more ? 'partialMore' : 'partial',
                     {n: Atlas.number(drawn.count), m: Atlas.number(drawn.more ? drawn.matched - 1 : drawn.matched)});
    } else if (!drawn.count && drawn.loaded) {
      note = Atlas.t('none');
    }
    return {id: cfg.id, title: Atlas.label(cfg.title), kind: Atlas.kind(cfg.geometry), count: drawn.count,
            matched: drawn.matched, more: !!drawn.more, entries: entries, note: note};
  };

  /* The keys below the layers: status (the fill of a point) and accuracy (the line pattern, on a
   * point's ring when only points are shown). ``opts``: counts {accuracy class: n} to show, the
   * accuracy row's title and extra class. */
  Atlas.legendKeys = function (sections, opts) {
    opts = opts || {};
    var lines = sections.some(function (sec) { return sec.kind !== 'point'; });
    var status = ['solid', 'half', 'hollow'].map(function (fill) {
      return {kind: 'point', color: GREY, fill: fill, label: Atlas.t(fill), hint: fill === 'solid' ? Atlas.t('solidNote') : null};
    });
    var accuracy = Atlas.accuracyClasses().map(function (a) {
      return {kind: lines ? 'line' : 'point', color: GREY, pattern: a.pattern, accuracy: a.key, label: a.label,
              dashArray: lines ? a.dashArray : a.pointDashArray, count: opts.counts ? opts.counts[a.key] || 0 : undefined};
    });
    return [{id: 'status', title: Atlas.t('statusKey'), entries: status},
            {id: 'accuracy', title: opts.accuracyTitle || Atlas.t('accuracyKey'), className: opts.accuracyClass, entries: accuracy}];
  };

  // How many features a section has: "drawn" or, when not all are drawn, "drawn/matched".
  Atlas.legendCount = function (sec) {
    if (sec.matched <= sec.count) { return String(sec.count); }
    return sec.count + '/' + (sec.more ? '>' + (sec.matched - 1) : sec.matched);
  };
  // A key's words, with its count when it has one.
  Atlas.legendText = function (entry) {
    return entry.count === undefined ? entry.label : entry.label + '（' + entry.count + '）';
  };

  // -- the legend drawn ----------------------------------------------------------------------------------
  function key(parent, entry) {
    var node = el('span', 'atlas-key', null, parent);
    if (entry.category) { node.setAttribute('data-category', entry.category); }
    if (entry.other) { node.setAttribute('data-other', ''); }
    if (entry.accuracy) { node.setAttribute('data-accuracy', entry.accuracy); }
    if (entry.hint) { node.title = entry.hint; }
    Atlas.symbol(entry.kind, node, entry.color, entry.pattern, entry.fill);
    el('span', null, Atlas.legendText(entry), node);
  }

  /* The legend ``model`` ({layers: sections, keys: rows}) into ``body``, replacing what was there. */
  Atlas.renderLegend = function (body, model) {
    body.textContent = '';
    model.layers.forEach(function (sec) {
      var box = el('section', 'atlas-legend-layer', null, body);
      box.setAttribute('data-layer', sec.id);
      var title = el('div', 'atlas-legend-title', null, box);
      el('span', null, sec.title, title);
      el('span', 'atlas-legend-count', Atlas.legendCount(sec), title);
      var items = el('div', 'atlas-legend-items', null, box);
      sec.entries.forEach(function (entry) { key(items, L.extend({kind: sec.kind}, entry)); });
      if (sec.note) { el('div', 'atlas-legend-note', sec.note, box); }
    });
    if (!model.keys.length) { return; }
    var keys = el('section', 'atlas-legend-keys', null, body);
    model.keys.forEach(function (row) {
      var box = el('div', 'atlas-legend-row' + (row.className ? ' ' + row.className : ''), null, keys);
      box.setAttribute('data-key', row.id);
      el('span', 'atlas-legend-label', row.title, box);
      row.entries.forEach(function (entry) { key(box, entry); });
    });
  };

  /* The legend's control (bottom right); its body is Atlas._legendBody. ``collapsible``: with the
   * button that folds it. */
  Atlas.legendControl = function (collapsible) {
    return Atlas.control('bottomright', 'atlas-legend', function (box) {
      var head = el('div', 'atlas-legend-head', null, box);
      el('strong', null, Atlas.t('legend'), head);
      var body = Atlas._legendBody = el('div', 'atlas-legend-body', null, box);
      body.setAttribute('data-legend', '');
      if (!collapsible) { return; }
      var toggle = Atlas.button('atlas-legend-toggle', '−', head);
      var setOpen = function (open) {
        L.DomUtil[open ? 'removeClass' : 'addClass'](box, 'atlas-collapsed');
        toggle.textContent = open ? '−' : '+';
        Atlas.titled(toggle, Atlas.t(open ? 'hideLegend' : 'showLegend'));
        toggle.setAttribute('aria-expanded', String(open));
      };
      toggle.addEventListener('click', function () { setOpen(box.classList.contains('atlas-collapsed')); });
      setOpen(true);
    });
  };
}());
