"""Exports of the atlas's layers, Flask-free: the core of ``GET /api/export`` and a command line.

    python -m layers.export --layers parks,roads --format gpkg --crs EPSG:4550 --district 371002 -o out.gpkg

Parameters: ``layers`` (ids separated by commas, or ``all``), ``format`` (see ``geo.formats``;
default GeoJSON), ``crs`` (default EPSG:4326), and the filters of ``/api/layers/<id>`` — ``bbox``,
``district``, ``category``, ``status``, ``q``, ``ids``, ``limit``, ``offset``, ``simplify`` —
parsed by ``layers.api.parse_query``, so an export holds exactly the features the API answers
(without the API's default page limit). Every parameter is checked before anything is written.

Features are read from the store in chunks, reprojected and appended to a file in a fresh temporary
folder; a failure removes the folder. The result names the file, its download name and media type,
and ``cleanup()`` removes it once it has been sent.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote

import numpy as np
import shapely

from geo import crs as crs_mod
from geo import export as writing
from geo.crs import Target
from geo.errors import InvalidParameter, TooLarge
from geo.export import About, Chunk, Column, Format, LayerSchema
from geo.store import Query, Store

from .. import catalog
from .features import ordered_layers
from . import table
from .params import filters_for_layer, parse_query, split_list

#: Parameters of an export beyond the filters of /api/layers/<id>.
EXPORT_PARAMS = ("layers", "format", "crs")
#: The parameters of /api/layers/<id> an export takes (not ``lang``: files carry both languages).
#: Listed, not derived, so that a new API parameter is a decision here; a test compares the two.
FILTER_PARAMS = ("bbox", "district", "category", "status", "q", "ids", "limit", "offset", "simplify", "fields",
                 "as_of", "sort")
PARAMS = EXPORT_PARAMS + FILTER_PARAMS
DEFAULT_FORMAT = "geojson"
CHUNK_SIZE = 5_000
#: The largest ``limit`` an export accepts (an export is not paged).
MAX_LIMIT = 10**9
Progress = Callable[[str, int, int], None]



@dataclass(frozen=True)
class Plan:
    """A checked export request: nothing is read or written yet."""

    format: Format
    target: Target
    layers: tuple[str, ...]
    all_layers: bool
    #: per layer, its store query, or None when the filters exclude the whole layer
    queries: dict[str, Query | None]
    tolerance: float
    filters: dict[str, str]

    @property
    def selection(self) -> str:
        if "ids" in self.filters:
            return "selection"
        return "filtered" if self.filters else ""

    def describe_filters(self) -> str:
        if not self.filters:
            return "无,全部要素 none: every feature"
        shown = {k: "".join(ch if ch.isprintable() else "\ufffd" for ch in v) for k, v in self.filters.items()}
        return "; ".join(f"{k}={v}" for k, v in shown.items())


@dataclass
class ExportResult:
    """A written export. ``path`` lives in ``folder``, a temporary folder that ``cleanup`` removes."""

    path: Path
    filename: str          # ASCII, for the plain filename= of Content-Disposition
    filename_utf8: str     # with the layers' Chinese titles, for filename*=
    media_type: str
    counts: dict[str, int]
    format: str
    crs: str
    folder: Path
    size: int              # bytes

    @property
    def content_disposition(self) -> str:
        return f'attachment; filename="{self.filename}"; filename*=UTF-8\'\'{quote(self.filename_utf8, safe="")}'

    def cleanup(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def detach(self):
        """The file opened for reading, with its temporary folder already removed: on POSIX the
        data lives until the returned file is closed, so nothing is left behind whatever happens to
        the response (a client that disconnects, a server that never calls ``close``)."""
        handle = open(self.path, "rb")
        self.cleanup()
        return handle

    def __enter__(self) -> ExportResult:
        return self

    def __exit__(self, *exc) -> None:
        self.cleanup()


# -- parameters ----------------------------------------------------------------------------------
def _get(args: Mapping, name: str) -> str | None:
    """A parameter; repeated ones (``layers=a&layers=b``) are joined with commas."""
    if hasattr(args, "getlist"):
        values = [v for v in args.getlist(name) if v is not None]
        return ",".join(values) if values else None
    value = args.get(name)
    return None if value is None else str(value)


def parse_layers(store: Store, value: str | None) -> tuple[tuple[str, ...], bool]:
    available = ordered_layers(store)
    form = f"a comma list of layer ids or all; the layers are: {', '.join(available)}"
    items = split_list(value)
    if not items:
        raise InvalidParameter(f"layers is required: {form} (e.g. layers=parks,roads)", parameter="layers")
    if "all" in items:
        return tuple(available), True
    unknown = [i for i in items if i not in available]
    if unknown:
        raise InvalidParameter(f"unknown layer {unknown[0]!r}; use {form}", parameter="layers")
    return tuple(dict.fromkeys(items)), False


def plan_export(store: Store, args: Mapping) -> Plan:
    """Check every parameter; InvalidParameter (HTTP 400) naming the first bad one. Beyond
    ``PARAMS``: the attribute table's per-field filters (``layers.api.table``) of the layers asked
    for; a layer without a field one of them names has nothing that matches."""
    extra = sorted(set(args) - set(PARAMS))
    known = {} if not extra else {f.name: f.type for layer in _try_layers(store, args) for f in store.fields(layer)}
    unknown = [name for name in extra if table.filter_field(name, known) is None]
    if unknown:
        raise InvalidParameter(f"unknown parameter {unknown[0]!r}; accepted: {', '.join(PARAMS)}, and the per-field "
                               "filters of /api/layers/<id>/rows (<field>=a,b, <field>_min=, <field>_max=, "
                               "<field>_contains=)", parameter=unknown[0])
    fmt = writing.get(_get(args, "format") or DEFAULT_FORMAT)
    target = fmt.target(_get(args, "crs"))
    layers, all_layers = parse_layers(store, _get(args, "layers"))
    fielded = {k: _get(args, k) for k in extra}
    table.field_filters("", known, fielded)  # every value checked once, whichever layers have the field
    filters = {k: v for k in FILTER_PARAMS if (v := _get(args, k)) not in (None, "")}
    queries: dict[str, Query | None] = {}
    tolerance = 0.0
    for layer in layers:
        types = {f.name: f.type for f in store.fields(layer)}
        # each layer takes the filter values it can match (api.filter_rule); none: it matches nothing
        layer_args = filters_for_layer(layer, list(types), {k: v for k, v in filters.items() if k != "sort"})
        if layer_args is None or any(table.filter_field(k, types) is None for k in fielded):
            queries[layer] = None
            continue
        query, tolerance = parse_query(layer_args, layer, default_limit=None, max_limit=MAX_LIMIT)
        sort = table.parse_sort(filters.get("sort"), layer, types)
        queries[layer] = table.narrow(query, table.field_filters(layer, types, fielded), sort)
    filters.update({k: v for k, v in fielded.items() if v not in (None, "")})
    return Plan(fmt, target, layers, all_layers, queries, tolerance, filters)


def _try_layers(store: Store, args: Mapping) -> tuple[str, ...]:
    """The layers asked for, or none when they are not right (said later, in its turn)."""
    try:
        return parse_layers(store, _get(args, "layers"))[0]
    except InvalidParameter:
        return ()


# -- reading -------------------------------------------------------------------------------------
def layer_schema(store: Store, layer: str, query: Query | None = None) -> LayerSchema:
    """Column names, types and titles of a layer (those of ``query.columns`` when it names some):
    types from the store, titles from the catalog where it knows the field."""
    info = store.info(layer)
    titles = {f.name: f for f in catalog.FIELDS}
    wanted = set(query.columns) if query is not None and query.columns is not None else None
    columns = tuple(Column(f.name, f.type, titles[f.name].zh if f.name in titles else f.name,
                           titles[f.name].en if f.name in titles else f.name)
                    for f in info.fields if wanted is None or f.name in wanted)
    spec = catalog.get(layer)
    return LayerSchema(layer, info.geometry_type, columns, spec.title_zh if spec else layer,
                       spec.title_en if spec else layer, key=catalog.KEY, label=catalog.TEXT_FIELDS[0])


def _expected(store: Store, layer: str, query: Query | None) -> int:
    """How many features the export of this layer will hold."""
    if query is None:
        return 0
    n = max(0, store.count(layer, query) - query.offset)
    return n if query.limit is None else min(n, query.limit)


def read_chunks(store: Store, layer: str, schema: LayerSchema, query: Query | None, *, expected: int,
                target: Target, tolerance: float = 0.0, chunk_size: int = CHUNK_SIZE,
                progress: Progress | None = None) -> Iterator[Chunk]:
    """The layer's matching features from the store's stream (each row read once, in key order),
    ``chunk_size`` at a time, in the target coordinate system."""
    if query is None or expected == 0:
        if progress:
            progress(layer, 0, 0)
        return
    src = store.info(layer).crs
    names = [c.name for c in schema.columns]
    done = 0
    for frame in store.stream(layer, query, chunk_size=chunk_size):
        geoms = np.asarray(frame.geometry.values, dtype=object)
        if tolerance > 0:
            geoms = shapely.simplify(geoms, tolerance, preserve_topology=True)
        geoms = crs_mod.reproject(geoms, src, target.name)
        done += len(frame)
        if progress:
            progress(layer, done, max(done, expected))
        yield Chunk(frame[names], geoms)


def size(store: Store, plan: Plan) -> int:
    """How many features the checked export ``plan`` will hold (the store's counts)."""
    return sum(_expected(store, layer, q) for layer, q in plan.queries.items())


# -- names ---------------------------------------------------------------------------------------
def filenames(plan: Plan) -> tuple[str, str]:
    """(ASCII stem, UTF-8 stem) of the download, e.g. ``weihai-atlas_parks_filtered_EPSG4550``."""
    n = len(plan.layers)
    part = "all" if plan.all_layers else "-".join(plan.layers) if n <= 3 else f"{n}-layers"
    titles = [(catalog.get(layer).title_zh if catalog.get(layer) else layer) for layer in plan.layers]
    zh = "全部图层" if plan.all_layers else "、".join(titles) if n <= 3 else f"{n}个图层"
    mark = {"selection": ("_selection", "_选中要素"), "filtered": ("_filtered", "_筛选结果"), "": ("", "")}[plan.selection]
    label = plan.target.label
    return f"weihai-atlas_{part}{mark[0]}_{label}", f"精致威海规划图_{zh}{mark[1]}_{label}"


# -- the export ----------------------------------------------------------------------------------
def export(store: Store, args: Mapping, *, tmp_dir: str | Path | None = None, chunk_size: int = CHUNK_SIZE,
           progress: Progress | None = None, max_features: int | None = None) -> ExportResult:
    """Write the export ``args`` asks for into a new temporary folder (under ``tmp_dir``).

    Raises InvalidParameter for bad parameters, and TooLarge for more than ``max_features``, before
    anything is written; on any failure while writing, the temporary folder and everything in it is
    removed before the error propagates.
    """
    plan = plan_export(store, args)
    sizes = {layer: _expected(store, layer, q) for layer, q in plan.queries.items()}
    total = sum(sizes.values())  # = size(store, plan); the sizes are needed one by one below
    if max_features is not None and total > max_features:
        raise TooLarge(f"this export holds {total:,} features, more than a direct download may ({max_features:,}, "
                       "ATLAS_EXPORT_DIRECT_MAX); start it as a job instead: POST /api/exports with the same "
                       "parameters as JSON, then GET the job for its progress and file", parameter="layers")
    layers = plan.layers
    if plan.all_layers and plan.filters and any(sizes.values()):
        layers = tuple(layer for layer in layers if sizes[layer])  # "all" + filters: the layers with matches
    several = len(layers) > 1
    stem, stem_zh = filenames(replace(plan, layers=layers))
    about = About(plan.target, plan.describe_filters(), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))

    def sources():
        for layer in layers:
            schema = layer_schema(store, layer, plan.queries[layer])
            yield schema, read_chunks(store, layer, schema, plan.queries[layer], expected=sizes[layer],
                                      target=plan.target, tolerance=plan.tolerance, chunk_size=chunk_size,
                                      progress=progress)

    folder = Path(tempfile.mkdtemp(prefix=".weihai-export-", dir=tmp_dir))
    try:
        written = writing.write(plan.format, about, sources(), folder, stem, several=several)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    ext = plan.format.download_extension(several)
    media = "application/zip" if ext.endswith(".zip") else plan.format.media_type
    return ExportResult(written.path, f"{stem}{ext}", f"{stem_zh}{ext}", media, written.counts,
                        plan.format.name, plan.target.name, folder, written.path.stat().st_size)


def options(store: Store) -> dict:
    """What the page's export panel offers: formats, coordinate systems, layers and parameters."""
    return {**writing.describe(), "layers": ordered_layers(store), "parameters": list(PARAMS),
            "default_format": DEFAULT_FORMAT}
