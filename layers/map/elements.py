"""The page's Folium elements, each a small class and its template: the document, a map with local
assets, the set-up and start of our own scripts, a basemap and a data layer (an empty shell that
``static/`` fills from the API). Every value reaching ``<script>`` goes through JSON made safe for
HTML; every one reaching HTML is escaped."""
from __future__ import annotations

import folium
from branca.element import Figure, MacroElement
from folium.map import Layer, LayerControl
from folium.template import Template
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import escape

#: The first thing the page does (while its scripts load): ask for the tiles of its first view,
#: as images, which Leaflet's tile layer then finds already loaded or on their way (an image of the
#: same URL is used again within a page). ``p``: the tiled layers' URLs (``{z}/{x}/{y}``), the
#: view's centre (lat, lon) and zoom; the tiles are Leaflet's for a map the size of the window.
PREFETCH_JS = """(function (p) {
  if (window.ATLAS_TILE_FORMAT === 'mvt') { return; }
  var z = p.zoom, n = Math.pow(2, z), size = 256 * n, lat = Math.max(-85.0511287798, Math.min(85.0511287798, p.center[0])) * Math.PI / 180;
  var cx = Math.floor((p.center[1] + 180) / 360 * size), cy = Math.floor((1 - Math.log(Math.tan(lat) + 1 / Math.cos(lat)) / Math.PI) / 2 * size);
  var w = document.documentElement.clientWidth / 2, h = document.documentElement.clientHeight / 2, tiles = [];
  for (var y = Math.max(0, Math.floor((cy - h) / 256)); y <= Math.min(n - 1, Math.ceil((cy + h) / 256) - 1); y++) {
    for (var x = Math.max(0, Math.floor((cx - w) / 256)); x <= Math.min(n - 1, Math.ceil((cx + w) / 256) - 1); x++) {
      tiles.push([Math.pow(x * 256 + 128 - cx, 2) + Math.pow(y * 256 + 128 - cy, 2), x, y]);
    }
  }
  tiles.sort(function (a, b) { return a[0] - b[0]; });
  window.ATLAS_PREFETCHED = [];
  p.urls.forEach(function (url) {
    tiles.forEach(function (t) {
      var image = new Image();
      image.src = url.replace('{z}', z).replace('{x}', t[1]).replace('{y}', t[2]);
      window.ATLAS_PREFETCHED.push(image);
    });
  });
}(%s));"""


class AtlasFigure(Figure):
    """The HTML document: language, escaped title, the first view's tiles asked for (``prefetch``,
    see PREFETCH_JS), our CSS, the map."""

    _template = Template(
        "<!DOCTYPE html>\n<html lang=\"{{ this.html_lang }}\">\n<head>\n"
        "<title>{{ this.page_title|e }}</title>\n<link rel=\"icon\" href=\"data:,\">\n"
        "{% if this.prefetch_js %}<script>{{ this.prefetch_js }}</script>\n{% endif %}"
        "{{ this.header.render(**kwargs) }}\n</head>\n<body>\n{{ this.html.render(**kwargs) }}\n</body>\n"
        "<script>\n{{ this.script.render(**kwargs) }}\n</script>\n</html>\n")

    def __init__(self, lang: str, title: str, prefetch: dict | None = None):
        super().__init__(height="100%")
        self.html_lang = "zh-CN" if lang == "zh" else "en"
        self.page_title = title
        self.prefetch_js = PREFETCH_JS % htmlsafe_json_dumps(prefetch, sort_keys=False) if prefetch else None


class AtlasMap(folium.Map):
    """A folium.Map whose assets are local: the lists are set on the instance, never on the class."""

    def __init__(self, *args, js: list[tuple[str, str]], css: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.default_js = list(js)
        self.default_css = list(css)


class AtlasSetup(MacroElement):
    """Hands the page's configuration to ``Atlas.setup`` before any layer is added."""

    _template = Template("""
        {% macro script(this, kwargs) %}
            Atlas.setup({{ this._parent.get_name() }}, {{ this.config_json }});
        {% endmacro %}
    """)

    def __init__(self, config: dict):
        super().__init__()
        self._name = "AtlasSetup"
        self.config = config
        # what ``tojson`` does, keeping the catalog's order (categories, statuses) instead of sorting keys
        self.config_json = htmlsafe_json_dumps(config, sort_keys=False)


class BasemapLayer(Layer):
    """A base layer: one or more tile layers in a group, or none (the offline map)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = Atlas.basemap({{ this.spec|tojson }});
        {% endmacro %}
    """)

    def __init__(self, basemap, lang: str, show: bool):
        super().__init__(name=str(escape(basemap.title[lang])), overlay=False, control=True, show=show)
        self._name = "Basemap"
        self.spec = {"id": basemap.id, "tiles": [dict(t) for t in basemap.tiles]}


class DataLayer(Layer):
    """An overlay filled from ``/api/layers/<id>`` by ``Atlas.dataLayer``; it holds no data itself."""

    _template = Template("""
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = Atlas.dataLayer({{ this.layer_id|tojson }});
        {% endmacro %}
    """)

    def __init__(self, layer_id: str, title: str, show: bool):
        super().__init__(name=str(escape(title)), overlay=True, control=True, show=show)
        self._name = "DataLayer"
        self.layer_id = layer_id


class AtlasStart(MacroElement):
    """Adds the atlas's controls (search, filters, legend, measure, ...) once the layers exist."""

    _template = Template("""
        {% macro script(this, kwargs) %}
            Atlas.start({{ this._parent.get_name() }}, {{ this.layer_control.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, layer_control: LayerControl):
        super().__init__()
        self._name = "AtlasStart"
        self.layer_control = layer_control
