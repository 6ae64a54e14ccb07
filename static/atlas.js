/* 精致威海规划图 Weihai Planning Atlas — the core, shared by the page and the offline map.
 *
 * The zh/en interface strings, text and DOM helpers, the change events and the extension points
 * (lists other modules register into), the loading state, the style of a feature (from the palette
 * of layers/style.py, which the page's config carries), drawing a layer's GeoJSON, and the map's
 * panes and renderers. The page's own set-up is in atlas-setup.js, the offline map's in
 * atlas-standalone.js. Every value from the data reaches the page as text (textContent), never as HTML.
 */
(function () {
  'use strict';

  // The interface strings: key -> [Chinese, English]; {name} is filled in by Atlas.t.
  var I18N = {
    title: ['精致威海规划图', 'Weihai Planning Atlas'],
    switchLang: ['EN', '中文'],
    switchLangTitle: ['Switch to English', '切换到中文'],
    search: ['搜索地名、项目（中文或英文）', 'Search places and projects (Chinese or English)'],
    searchNone: ['没有找到', 'Nothing found'],
    searchError: ['搜索失败', 'Search failed'],
    all: ['全部', 'All'],
    district: ['行政区', 'District'],
    category: ['类别', 'Category'],
    status: ['状态', 'Status'],
    filters: ['筛选', 'Filters'],
    clearFilters: ['清除', 'Clear'],
    functionalAreas: ['功能区', 'Functional areas'],
    legend: ['图例', 'Legend'],
    layers: ['图层', 'Layers'],
    loading: ['加载中…', 'Loading…'],
    partial: ['显示 {n} / {m} 条，放大查看全部', 'showing {n} of {m}; zoom in to see all'],
    partialMore: ['显示 {n} / 超过 {m} 条，放大或筛选查看全部', 'showing {n} of more than {m}; zoom in or filter to see all'],
    none: ['无匹配要素', 'no matching features'],
    drawn: ['{n} 条', '{n}'],
    statusKey: ['状态', 'Status'],
    accuracyKey: ['精度', 'Accuracy'],
    solid: ['已建成/运营', 'completed/operating'],
    half: ['在建', 'under construction'],
    hollow: ['规划', 'planned'],
    layerError: ['图层“{layer}”加载失败：{detail}', 'Layer "{layer}" could not be loaded: {detail}'],
    tilesOffline: ['在线底图无法加载（离线或内网环境？），可改用“无底图（离线）”。', 'The online basemap cannot be reached (offline or intranet?); choose "No basemap (offline)".'],
    districtLabel: ['行政区', 'District'],
    functionalArea: ['功能区', 'Functional area'],
    year: ['年份', 'Year'],
    date: ['日期', 'Date'],
    figures: ['数据', 'Figures'],
    area: ['面积', 'Area'],
    areaSchematic: ['（示意范围，非实测）', ' (schematic area, not measured)'],
    areaVsFigure: ['对照文章', 'Against the article'],
    areaVsFigureOutline: ['本图轮廓 {mu} 亩，为文章“{label} {text}”的 {pct}%',
                          "the map's outline is {mu} mu, {pct}% of the article's {label} ({value} mu)"],
    areaVsFigureSchematic: ['文章称“{label} {text}”；本图范围只是示意，没有公开轮廓可与之比较',
                            "the article gives {label} as {value} mu; the map's area is only schematic: no public outline to compare with"],
    length: ['长度', 'Length'],
    description: ['说明', 'Description'],
    sources: ['来源', 'Sources'],
    accuracy: ['精度', 'Accuracy'],
    positionSource: ['位置来源', 'Position source'],
    layer: ['图层', 'Layer'],
    ha: ['公顷', 'ha'],
    mu: ['亩', 'mu (亩)'],
    km: ['千米', 'km'],
    fullscreen: ['全屏', 'Full screen'],
    exitFullscreen: ['退出全屏', 'Exit full screen'],
    measureLine: ['测距离', 'Measure distance'],
    measureArea: ['测面积', 'Measure area'],
    measureFinish: ['完成', 'Finish'],
    measureClear: ['清除', 'Clear'],
    measureHintLine: ['单击地图添加点，双击或点“完成”结束', 'Click the map to add points; double-click or Finish to end'],
    measureHintArea: ['单击地图添加顶点，双击或点“完成”结束', 'Click the map to add corners; double-click or Finish to end'],
    measureDistance: ['距离', 'Distance'],
    measureAreaLabel: ['面积', 'Area'],
    lat: ['纬度', 'Lat'],
    lng: ['经度', 'Lon'],
    mapCenter: ['地图中心', 'map centre'],
    close: ['关闭', 'Close'],
    dismiss: ['知道了', 'OK'],
    showLegend: ['显示图例', 'Show legend'],
    hideLegend: ['收起图例', 'Hide legend'],
    solidNote: ['含状态未注明的要素', 'also features whose status is not stated'],
    basemap: ['底图', 'Basemap'],
    zoomIn: ['放大', 'Zoom in'],
    zoomOut: ['缩小', 'Zoom out'],
    // export panel, standalone map, print layout (atlas-export.js, atlas-print.js, atlas-standalone.js)
    allFields: ['全部字段', 'All fields'],
    generated: ['生成于', 'made'],
    standaloneNote: ['离线地图：数据已在本文件中，无需网络。', 'Offline map: the data is inside this file; no network needed.'],
    exportOpen: ['导出与打印', 'Export and print'],
    exportTitle: ['导出与打印', 'Export and print'],
    exportData: ['导出数据', 'Export data'],
    exportLayers: ['图层', 'Layers'],
    exportFormat: ['格式', 'Format'],
    exportCrs: ['坐标系', 'Coordinate system'],
    exportScope: ['范围', 'Scope'],
    scopeFiltered: ['当前筛选结果', 'current filter results'],
    scopeView: ['仅当前视图范围', 'only the current view'],
    scopeSelected: ['已选要素', 'selected features'],
    selectedCount: ['已选 {n} 个要素', '{n} features selected'],
    selectHint: ['按住 Shift 单击要素可多选，或在弹窗中点“选择”', 'Shift-click features to select several, or press Select in a popup'],
    selectClear: ['清除选择', 'Clear selection'],
    select: ['选择（用于导出）', 'Select (for export)'],
    unselect: ['取消选择', 'Unselect'],
    download: ['下载数据', 'Download data'],
    downloadHtml: ['下载离线地图 HTML', 'Download offline map (HTML)'],
    ogcLink: ['在 QGIS / GDAL 中作为实时图层添加 (OGC API)', 'Add as live layers in QGIS / GDAL (OGC API)'],
    exportReceiving: ['已接收 {size}', '{size} received'],
    exportDone: ['已保存 {name}（{size}）', 'Saved {name} ({size})'],
    exportFailed: ['导出失败：{detail}', 'Export failed: {detail}'],
    exportNoLayers: ['请至少选择一个图层', 'Choose at least one layer'],
    exportNothing: ['所选图层在当前筛选下没有要素', 'The chosen layers have no features under the current filters'],
    exportNoSelection: ['还没有选中要素：按住 Shift 单击地图上的要素', 'Nothing selected yet: shift-click features on the map'],
    exportPreparing: ['正在生成…', 'Preparing…'],
    exportJobProgress: ['正在导出 {layer}：{done} / {total} 个要素（{percent}%）', 'Exporting {layer}: {done} of {total} features ({percent}%)'],
    exportJobWriting: ['正在写入文件…（{percent}%）', 'Writing the file… ({percent}%)'],
    exportResumed: ['继续刷新前开始的导出', 'Continuing the export started before the page was reloaded'],
    exportResumedJob: ['继续刷新前开始的导出（{format} · {crs}）', 'Continuing the export started before the page was reloaded ({format}, {crs})'],
    exportJobGone: ['刷新前开始的导出已不存在：{detail}', 'The export started before the reload is no longer there: {detail}'],
    exportOptionsFailed: ['无法读取导出选项：{detail}', 'The export options could not be read: {detail}'],
    htmlNote: ['离线地图含当前图层与筛选，可在无网络的电脑上打开', 'The offline map holds the current layers and filters and opens on a computer without network'],
    printSection: ['打印与图片', 'Print and image'],
    printTitle: ['标题', 'Title'],
    paper: ['纸张', 'Paper'],
    orientation: ['方向', 'Orientation'],
    landscape: ['横向', 'Landscape'],
    portrait: ['纵向', 'Portrait'],
    printLayout: ['打印版式', 'Print layout'],
    printNow: ['打印 / 存为 PDF', 'Print / save as PDF'],
    savePng: ['保存 PNG', 'Save PNG'],
    exitPrint: ['退出打印版式', 'Leave print layout'],
    north: ['北', 'N'],
    printSources: ['资料来源', 'Sources'],
    printAccuracy: ['位置精度', 'Location accuracy'],
    printDate: ['制图日期', 'Date'],
    printCrs: ['坐标系 WGS84（EPSG:4326）', 'Coordinates WGS84 (EPSG:4326)'],
    printNoSources: ['（当前没有要素）', '(no features shown)'],
    wholeCity: ['全市 · 全部要素', 'whole city · all features'],
    viewOnly: ['当前视图范围', 'current view']
  };

  var Atlas = window.Atlas = {
    lang: 'zh',
    layers: {},      // id -> DataLayer (the overlays, in the layer control)
    basemaps: {},    // id -> L.LayerGroup
    filters: {district: null, category: null, status: null},
    // -- extension points: other modules register into these lists and the module named runs them,
    // so no module replaces another's function. The toolbar orders its tools by rank; the other
    // lists run in the order registered (each has one module a page so far).
    tools: [],           // atlas-controls.js, the toolbar, by rank: {rank, build(bar, map, button) -> an L.Control to add, or null}
    popupSections: [],   // atlas-popup.js, Atlas.popupContent: fn(box, feature, cfg) adds to the popup
    popupClicks: [],     // atlas-popup.js, Atlas.openPopup: fn(feature, latlng, cfg) -> true: it took the click, no popup
    exportSections: [],  // atlas-export.js, the panel: {className, build(box, map), open(), state() -> fields}
    _pending: 0,
    _listeners: []
  };

  // -- text and DOM helpers: data only ever becomes textContent -------------------------------------
  Atlas.t = function (key, values) {
    var pair = I18N[key], text = pair ? pair[Atlas.lang === 'en' ? 1 : 0] || pair[0] : key;
    Object.keys(values || {}).forEach(function (k) { text = text.split('{' + k + '}').join(String(values[k])); });
    return text;
  };
  // More strings, from a module that brings its own (key -> [zh, en]); a key already there stays.
  Atlas.strings = function (table) {
    Object.keys(table).forEach(function (k) { if (!I18N[k]) { I18N[k] = table[k]; } });
  };
  Atlas.label = function (labels) {
    if (labels === null || labels === undefined) { return ''; }
    if (typeof labels !== 'object') { return String(labels); }
    return labels[Atlas.lang] || labels.zh || labels.en || '';
  };
  Atlas.el = function (tag, className, text, parent) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (parent) { parent.appendChild(node); }
    return node;
  };
  // A button (type=button: never a form's submit); ``title``: its tooltip and accessible name.
  Atlas.button = function (className, text, parent, title) {
    var node = Atlas.el('button', className, text, parent);
    node.type = 'button';
    if (title) { Atlas.titled(node, title); }
    return node;
  };
  Atlas.titled = function (node, title) {
    node.title = title;
    node.setAttribute('aria-label', title);
    return node;
  };
  Atlas.option = function (parent, value, text, selected) {
    var opt = Atlas.el('option', null, text, parent);
    opt.value = value;
    if (selected) { opt.selected = true; }
    return opt;
  };
  Atlas.number = function (value, digits) {
    return Number(value).toLocaleString(Atlas.lang === 'zh' ? 'zh-CN' : 'en-GB',
      {maximumFractionDigits: digits === undefined ? 0 : digits,
       minimumFractionDigits: digits === undefined ? 0 : Math.min(digits, 1)});
  };
  // A query string: null and undefined left out, a list as a,b,c, commas kept readable.
  Atlas.query = function (params) {
    return Object.keys(params || {}).filter(function (k) {
      return params[k] !== null && params[k] !== undefined;
    }).map(function (k) {
      var value = Array.isArray(params[k]) ? params[k].join(',') : params[k];
      return encodeURIComponent(k) + '=' + encodeURIComponent(value).replace(/%2C/g, ',');
    }).join('&');
  };
  Atlas.on = function (fn) { Atlas._listeners.push(fn); };
  Atlas.changed = function (what) {
    Atlas._listeners.forEach(function (fn) { fn(what || 'layers'); });
  };

  // -- loading state: data-atlas-state on the map container is 'idle' once everything is drawn ------
  Atlas.busy = function (delta) {
    Atlas._pending = Math.max(0, Atlas._pending + delta);
    if (!Atlas.map) { return; }
    var state = Atlas._pending > 0 ? 'loading' : 'idle';
    var box = Atlas.map.getContainer();
    if (box.getAttribute('data-atlas-state') !== state) {
      box.setAttribute('data-atlas-state', state);
      Atlas.changed('busy');
    }
  };

  Atlas.notify = function (text, kind) {
    Atlas._notice = {text: text, kind: kind || 'info'};
    Atlas.changed('notice');
  };

  Atlas.layerConfig = function (id) {
    return Atlas.config.layers.filter(function (lay) { return lay.id === id; })[0];
  };

  // The layers' configs in drawing order (the style's z), whatever order they are listed in.
  Atlas.byZ = function (configs) {
    return configs.slice().sort(function (a, b) { return (a.style.z || 0) - (b.style.z || 0); });
  };

  // -- style: colour by category, line pattern by accuracy (the palette), fill by status -----------
  /* The category of a feature: the value of its layer's style field (``style.by``: ``category`` in
   * the catalog's layers, a field of its own in an imported one) as text, or null (none, or a layer
   * in one colour). */
  Atlas.categoryKey = function (cfg, props) {
    var by = cfg && cfg.style ? cfg.style.by : null, value = by ? (props || {})[by] : null;
    return value === null || value === undefined || value === '' ? null : String(value);
  };
  // The style's entry {color, label} of that category, or null (a value it gives no colour: "other").
  Atlas.categoryOf = function (cfg, props) {
    var key = Atlas.categoryKey(cfg, props), cats = (cfg && cfg.style && cfg.style.categories) || {};
    return key !== null && Object.prototype.hasOwnProperty.call(cats, key) ? cats[key] : null;
  };

  var NO_ACCURACY = {dashArray: null, pointDashArray: null, fillOpacity: 0.1, opacity: 0.85};

  Atlas.featureStyle = function (cfg, props) {
    var st = cfg.style || {};
    var acc = (st.accuracy || {})[props.accuracy] || NO_ACCURACY;
    var cat = Atlas.categoryOf(cfg, props);
    var color = cat ? cat.color : (st.color || '#555555');
    var status = Atlas.config.statusStyle[props.status] || {fill: 'solid', fillOpacityScale: 1, opacityScale: 1};
    var over = st.overrides || {};
    var kind = Atlas.kind(cfg.geometry);
    if (kind === 'point') {
      return {
        radius: Atlas.pointRadius(st.radius || 6), color: color, weight: 2.5, opacity: 1,
        dashArray: acc.pointDashArray || null,
        fillColor: status.fill === 'hollow' ? '#ffffff' : color,
        fillOpacity: status.fill === 'half' ? 0.45 : 0.9
      };
    }
    var style = {
      color: color, weight: st.weight || 2, dashArray: acc.dashArray || null,
      opacity: (over.opacity !== undefined ? over.opacity : acc.opacity) * status.opacityScale
    };
    if (kind === 'polygon') {
      style.fillColor = color;
      style.fillOpacity = (over.fillOpacity !== undefined ? over.fillOpacity : acc.fillOpacity) * status.fillOpacityScale;
    } else {
      style.fill = false;
      style.lineCap = 'round';
    }
    return style;
  };
  // A dash string of the palette ('8 5') as the list a canvas takes ([8, 5]); none: [].
  Atlas.dashList = function (dashArray) {
    return dashArray ? String(dashArray).split(/[ ,]+/).map(Number).filter(function (n) { return n >= 0; }) : [];
  };
  // Points shrink a little in the overview, where many stand close together.
  Atlas.pointRadius = function (base) {
    var zoom = Atlas.map ? Atlas.map.getZoom() : 12;
    return Math.round(base * (zoom <= 9 ? 0.72 : (zoom <= 11 ? 0.86 : 1)) * 10) / 10;
  };
  Atlas.kind = function (geometry) {
    if (/Point/.test(geometry || '')) { return 'point'; }
    if (/Line/.test(geometry || '')) { return 'line'; }
    return 'polygon';
  };

  // -- drawing a layer's features -------------------------------------------------------------------
  /* ``data`` (GeoJSON) of the layer ``cfg`` as an L.GeoJSON in its style, points as circle markers.
   * ``opts``: renderer (default the shared canvas), pane, interactive, style (one style for all). */
  Atlas.geoJson = function (data, cfg, opts) {
    opts = opts || {};
    var renderer = opts.renderer || Atlas.canvas, interactive = opts.interactive !== false;
    return L.geoJSON(data, {
      renderer: renderer,
      pane: opts.pane || 'overlayPane',
      interactive: interactive,
      style: function (f) { return opts.style ? opts.style : Atlas.featureStyle(cfg, f.properties || {}); },
      pointToLayer: function (f, latlng) {
        return L.circleMarker(latlng, L.extend({renderer: renderer, interactive: interactive},
                                               Atlas.featureStyle(cfg, f.properties || {})));
      }
    });
  };

  // Every drawn shape in ``group``, however deep its groups nest.
  Atlas.eachLeaf = function (group, fn) {
    group.eachLayer(function (lay) { if (lay.eachLayer) { Atlas.eachLeaf(lay, fn); } else { fn(lay); } });
  };
  // The ids of the features drawn in ``group`` (for tests and the search's highlight).
  Atlas.leafIds = function (group) {
    var ids = [];
    Atlas.eachLeaf(group, function (lay) { ids.push(lay.feature && lay.feature.id); });
    return ids;
  };
  // After a zoom: the points of the layer ``cfg`` drawn in ``group`` take the radius of the new zoom.
  Atlas.resizePoints = function (group, cfg) {
    if (Atlas.kind(cfg.geometry) !== 'point') { return; }
    var radius = Atlas.pointRadius(cfg.style.radius || 6);
    Atlas.eachLeaf(group, function (lay) { if (lay.setRadius) { lay.setRadius(radius); } });
  };

  // -- the map: config, panes, renderers, zoom range, first view (the page and the offline map) -----
  Atlas.prepareMap = function (map, config) {
    Atlas.map = map;
    Atlas.config = config;
    Atlas.lang = config.lang === 'en' ? 'en' : 'zh';
    L.DomUtil.addClass(map.getContainer(), 'atlas-map');
    map.createPane('atlas-land').style.zIndex = 250;
    map.createPane('atlas-highlight').style.zIndex = 450;
    map.createPane('atlas-measure').style.zIndex = 620;
    map.getPane('atlas-land').style.pointerEvents = 'none';
    map.getPane('atlas-highlight').style.pointerEvents = 'none';
    Atlas.canvas = L.canvas({padding: 0.3, tolerance: L.Browser.mobile ? 10 : 4});  // fingers are wider
    Atlas.landRenderer = L.svg({pane: 'atlas-land', padding: 0.5});
    Atlas.highlightRenderer = L.svg({pane: 'atlas-highlight', padding: 0.5});
    map.setMinZoom(config.zoom.min);
    map.setMaxZoom(config.zoom.max);
    map.attributionControl.setPrefix('Leaflet');
    map.attributionControl.setPosition('bottomright');
    if (config.view) {
      map.setView(config.view.center, config.view.zoom, {animate: false});
    } else {
      map.fitBounds(config.home, {animate: false, padding: [4, 4]});  // refined once the controls are in
    }
  };
  // The land of the offline basemap: filled, under everything, not clickable.
  Atlas.LAND_STYLE = {stroke: false, fillColor: '#f3efe4', fillOpacity: 1};
}());
