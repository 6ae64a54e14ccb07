/* 精致威海规划图 — the selection of features for export: shift-click a feature, or "Select" in its
 * popup (both through the popup's extension points, Atlas.popupClicks and Atlas.popupSections);
 * the selected features are drawn highlighted. Atlas.selection: {items: id -> {feature, layer}, order}. */
(function () {
  'use strict';
  var Atlas = window.Atlas;

  // -- selection: shift-click a feature, or "Select" in its popup ----------------------------------
  var selection = Atlas.selection = {items: {}, order: []};  // id -> {feature, layer}
  var selectionLayer = null;

  Atlas.selectedIds = function () { return selection.order.slice(); };

  function drawSelection() {
    if (selectionLayer) { Atlas.map.removeLayer(selectionLayer); selectionLayer = null; }
    var features = selection.order.map(function (id) { return selection.items[id].feature; })
      .filter(function (f) { return f && f.geometry; });
    if (features.length) {
      selectionLayer = Atlas.outline({type: 'FeatureCollection', features: features},
                                     {color: '#c2185b', weight: 4, opacity: 0.95, fillColor: '#c2185b', fillOpacity: 0.12},
                                     {radius: 11, color: '#c2185b', weight: 3.5});
    }
    Atlas.changed('selection');
  }

  var idOf = function (feature) { return String(feature.id || (feature.properties || {}).id); };

  Atlas.toggleSelected = function (feature, layerId, on) {
    var id = idOf(feature);
    var has = !!selection.items[id];
    if (on === undefined) { on = !has; }
    if (on && !has) {
      selection.items[id] = {feature: feature, layer: layerId};
      selection.order.push(id);
    } else if (!on && has) {
      delete selection.items[id];
      selection.order.splice(selection.order.indexOf(id), 1);
    }
    drawSelection();
    return on;
  };

  Atlas.clearSelection = function () {
    selection.items = {};
    selection.order = [];
    drawSelection();
  };

  // Whether the click now being handled was a shift-click (seen first, in the capture phase).
  var shiftClick = false;
  document.addEventListener('click', function (e) {
    shiftClick = !!e.shiftKey;
    setTimeout(function () { shiftClick = false; }, 0);
  }, true);

  // shift-click on a feature: selected (or no longer), no popup
  Atlas.popupClicks.push(function (feature, latlng, cfg) {
    if (!shiftClick || !cfg || !feature) { return false; }
    shiftClick = false;
    Atlas.toggleSelected(feature, cfg.id);
    return true;
  });

  // the popup's Select / Unselect button
  Atlas.popupSections.push(function (box, feature, cfg) {
    if (!cfg) { return; }
    var id = idOf(feature);
    var button = Atlas.button('atlas-popup-select', null, box);
    var label = function () { button.textContent = Atlas.t(selection.items[id] ? 'unselect' : 'select'); };
    label();
    button.addEventListener('click', function (e) {
      L.DomEvent.stop(e);
      Atlas.toggleSelected(feature, cfg.id);
      label();
    });
  });
}());
