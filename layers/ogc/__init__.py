"""OGC API – Features (Parts 1, 2 and 3) over the store, Flask-free: ``core`` (landing page,
conformance, collections, queryables, one feature), ``items`` (pages, filters, CRSs), ``crs``,
``negotiate`` (JSON or HTML, zh or en) and ``openapi``. Wired by ``layers.web.ogc`` at ``/ogc``."""
