/* 精致威海规划图 — the page's legend: one section per visible layer (its categories drawn now, how
 * many features, whether only part is shown), and the keys for status and accuracy. The model and
 * its drawing are atlas-ui.js's, shared with the print layout and the offline map. Text only. */
(function () {
  'use strict';
  var Atlas = window.Atlas;

  // The visible layers' sections, from what each draws now.
  Atlas.legendModel = function () {
    return Atlas.visibleConfigs().map(function (cfg) {
      var layer = Atlas.layers[cfg.id];
      return Atlas.legendLayer(cfg, {categories: layer.categories, count: layer.drawn, matched: layer.matched, more: !!layer.more,
                                     error: layer.error, loaded: !!layer._have});
    });
  };

  Atlas.legend = function () { return Atlas.legendControl(true); };

  Atlas.updateLegend = function () {
    var body = Atlas._legendBody;
    if (!body) { return; }
    var layers = Atlas.legendModel();
    Atlas.renderLegend(body, {layers: layers, keys: layers.length ? Atlas.legendKeys(layers) : []});
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
}());
