"""Analyses of the atlas's layers, without Flask.

``stats.statistics(store, layer, args, *, group=("district", "status"), by="field")`` — statistics
that follow the filters (查询统计): count, area_m2, area_ha, area_mu (1 亩 = 10000/15 m²), area_km2 and
length_km per group of one or two of district, category, status and year (a cross table with
subtotals when two), and the totals, of exactly the features ``/api/layers/<id>`` answers for the
same filters (bbox, district, category, status, q, ids for a selection, as_of). Areas and lengths
are measured in EPSG:4550 (``geo.measure``). ``by="field"`` places a feature in the district its
``district`` field names; ``by="geometry"`` cuts it by the district polygons of the ``districts``
layer, each part counted in its own district and what lies outside every district as ``outside``
(区外); the answer's ``rule`` says which, in Chinese and English.

``answer.answer(store, args)`` is ``GET /api/stats`` and ``flask --app server stats`` (one parse of
the request's parameters); ``answer.render`` and ``tables`` write the same table as CSV (UTF-8 with
a BOM), XLSX (text stays text, never a formula) or aligned text.

``spatial.region`` / ``spatial.within`` (a drawn polygon or a feature grown by a distance in
EPSG:4550, and the features of chosen layers inside it, their parts inside measured) and
``overlay.overlay`` (pairs, the area of each right feature covered — a union —, the left features
outside) are ``POST /api/query``, ``GET /api/overlay`` and ``flask query``/``overlay`` through
``spatial_answer`` (one parse of the request, GeoJSON and CSV files).
"""
