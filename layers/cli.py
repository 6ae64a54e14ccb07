"""The atlas's command lines, plain functions over argv (``flask --app server export …`` calls them;
so can ``python -m layers.cli export …``).

    flask --app server export --layers parks,roads --format gpkg --crs EPSG:4550 --district 371002 -o out.gpkg
    flask --app server stats --layer projects --group district,status --by geometry --status operating
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from pathlib import Path

from geo import export as writing
from geo.crs import TARGETS
from geo.errors import GeoError
from geo.store import open_store

from . import catalog
from .analysis import answer as stats_answer
from .analysis import spatial_answer
from .analysis import tables as stats_tables
from .api.export import CHUNK_SIZE, PARAMS, export
from .config import load_config


# -- command line --------------------------------------------------------------------------------
class ProgressBar:
    """A text progress bar on stderr for layers of more than one chunk (``\\r`` redraws on a
    terminal; one line a chunk otherwise)."""

    def __init__(self, stream=None, *, min_total: int = CHUNK_SIZE + 1, width: int = 30):
        self.stream = stream or sys.stderr
        self.min_total = min_total
        self.width = width
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def __call__(self, layer: str, done: int, total: int) -> None:
        if total < self.min_total:
            if done == total:
                print(f"{layer}: {total:,} features", file=self.stream)
            return
        filled = int(self.width * done / total)
        line = f"{layer:<16} [{'#' * filled}{'.' * (self.width - filled)}] {done:>11,}/{total:,} {100 * done / total:3.0f}%"
        if self.tty:
            print("\r" + line, end="\n" if done == total else "", file=self.stream, flush=True)
        else:
            print(line, file=self.stream, flush=True)


def _parser() -> argparse.ArgumentParser:
    fmts = ", ".join(writing.FORMATS)
    crss = ", ".join(TARGETS)
    p = argparse.ArgumentParser(
        prog="flask --app server export",
        description="Export atlas layers to a file, with the filters of /api/layers/<id>.",
        epilog=f"formats: {fmts}. coordinate systems: {crss}. The file is written beside the target and "
               "renamed only when complete.")
    p.add_argument("--layers", required=True, help="layer ids separated by commas, or all")
    p.add_argument("--format", help=f"one of {fmts} (default: from the -o extension, else geojson)")
    p.add_argument("--crs", help=f"one of {crss} (default EPSG:4326)")
    for name, text in (("bbox", "minx,miny,maxx,maxy in WGS84 degrees"), ("district", "adcode or name, e.g. 371002"),
                       ("category", "categories separated by commas"), ("status", "statuses separated by commas"),
                       ("q", "part of a Chinese or English name"), ("ids", "feature ids separated by commas"),
                       ("limit", "at most this many features a layer"), ("offset", "skip this many features a layer"),
                       ("simplify", "simplification tolerance in metres")):
        p.add_argument(f"--{name}", help=text)
    p.add_argument("-o", "--output", help="target file or folder (default: the download name in the current folder)")
    p.add_argument("--store", help="store URL or .gpkg path (default: ATLAS_STORE or var/atlas.gpkg)")
    p.add_argument("--chunk-size", type=int, default=CHUNK_SIZE, help=argparse.SUPPRESS)
    p.add_argument("--quiet", action="store_true", help="no progress output")
    return p


def export_main(argv: list[str] | None = None) -> int:
    opts = _parser().parse_args(argv)
    store = open_store(opts.store or load_config()["STORE"], key=catalog.KEY)
    output = Path(opts.output) if opts.output else Path.cwd()
    into_folder = output.is_dir() or (opts.output or "").endswith(os.sep)
    fmt = opts.format or (None if into_folder else getattr(writing.from_filename(output.name), "name", None))
    args = {k: v for k in PARAMS if (v := getattr(opts, k, None)) not in (None, "")}
    if fmt:
        args["format"] = fmt
    try:
        if into_folder:
            output.mkdir(parents=True, exist_ok=True)
        else:
            output.parent.mkdir(parents=True, exist_ok=True)
        with export(store, args, tmp_dir=output if into_folder else output.parent, chunk_size=opts.chunk_size,
                    progress=None if opts.quiet else ProgressBar(min_total=opts.chunk_size + 1)) as result:
            target = output / result.filename if into_folder else output
            if not into_folder and writing.from_filename(output.name) is not writing.get(result.format):
                print(f"note: {output.name} holds {writing.get(result.format).title} "
                      f"(the download name would be {result.filename})", file=sys.stderr)
            os.replace(result.path, target)
    except GeoError as exc:
        print(f"export failed: {exc}", file=sys.stderr)  # the operator's own terminal: the detail too
        return 2 if exc.status < 500 else 1
    counts = ", ".join(f"{k} {v:,}" for k, v in result.counts.items())
    print(f"wrote {target} ({target.stat().st_size:,} bytes; {result.crs}): {counts}")
    return 0


STATS_FORMATS = ("table", "csv", "json", "xlsx")


def _stats_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="flask --app server stats",
        description="Statistics of one layer (count, m², ha, mu, km², km per group), with the filters of "
                    "/api/layers/<id>: the numbers of GET /api/stats.")
    p.add_argument("--layer", required=True, help="a layer id, e.g. projects")
    p.add_argument("--group", default=stats_answer.DEFAULT_GROUP,
                   help="one or two of district, category, status, year (default district,status)")
    p.add_argument("--by", default="field", help="field (default: the district field) or geometry (split by the "
                                                 "district polygons; outside every district: 区外)")
    for name, text in (("bbox", "minx,miny,maxx,maxy in WGS84 degrees"), ("district", "adcode or name, e.g. 371002"),
                       ("category", "categories separated by commas"), ("status", "statuses separated by commas"),
                       ("q", "part of a Chinese or English name"), ("ids", "feature ids separated by commas"),
                       ("as-of", "the layer as it was then (ISO 8601)")):
        p.add_argument(f"--{name}", dest=name.replace("-", "_"), help=text)
    p.add_argument("--format", default="table", help=f"one of {', '.join(STATS_FORMATS)} (default table; xlsx needs -o)")
    p.add_argument("--lang", default="zh", help="zh (default) or en: headers and labels")
    p.add_argument("-o", "--output", help="write the file here (csv with a BOM, xlsx, json) instead of printing")
    p.add_argument("--store", help="store URL or .gpkg path (default: ATLAS_STORE or var/atlas.gpkg)")
    return p


def stats_main(argv: list[str] | None = None) -> int:
    opts = _stats_parser().parse_args(argv)
    if opts.format not in STATS_FORMATS:
        print(f"stats failed: --format must be one of {', '.join(STATS_FORMATS)}, got {opts.format!r}", file=sys.stderr)
        return 2
    if opts.format == "xlsx" and not opts.output:
        print("stats failed: --format xlsx writes a file: give -o FILE.xlsx", file=sys.stderr)
        return 2
    store = open_store(opts.store or load_config()["STORE"], key=catalog.KEY)
    args = {"layer": opts.layer, "group": opts.group, "by": opts.by, "lang": opts.lang}
    args.update({k: v for k in stats_answer.FILTER_PARAMS if (v := getattr(opts, k, None)) not in (None, "")})
    try:
        request, result = stats_answer.answer(store, args)
    except GeoError as exc:
        print(f"stats failed: {exc}", file=sys.stderr)
        return 2 if exc.status < 500 else 1
    if opts.format in ("csv", "xlsx") and opts.output:
        body = stats_answer.render(result, opts.format, request.lang).body
    elif opts.format == "csv":
        body = stats_tables.to_csv(result, request.lang, bom=False)
    elif opts.format == "json":
        body = (json.dumps(result, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    else:
        body = stats_tables.to_text(result, request.lang).encode("utf-8")
    if opts.output:
        Path(opts.output).write_bytes(body)
        print(f"wrote {opts.output} ({len(body):,} bytes)")
    else:
        sys.stdout.write(body.decode("utf-8"))
    return 0


SPATIAL_FORMATS = ("table", "csv", "json", "geojson")


def _aligned(body: bytes) -> str:
    """A CSV of spatial_answer (BOM and all) as an aligned table for a terminal."""
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    widths = [max(stats_tables._width(r[c]) for r in rows if c < len(r)) for c in range(len(rows[0]))]
    return "\n".join("  ".join(v + " " * (w - stats_tables._width(v)) for v, w in zip(r, widths)).rstrip()
                     for r in rows) + "\n"


def _spatial_parser(prog: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"flask --app server {prog}", description=description)
    p.add_argument("--format", default="table", help=f"one of {', '.join(SPATIAL_FORMATS)} (default table)")
    p.add_argument("--lang", default="zh", help="zh (default) or en: headers and names")
    p.add_argument("-o", "--output", help="write the answer here instead of printing (csv with a BOM)")
    p.add_argument("--store", help="store URL or .gpkg path (default: ATLAS_STORE or var/atlas.gpkg)")
    return p


def _spatial_run(name: str, opts, run) -> int:
    if opts.format not in SPATIAL_FORMATS:
        print(f"{name} failed: --format must be one of {', '.join(SPATIAL_FORMATS)}, got {opts.format!r}",
              file=sys.stderr)
        return 2
    store = open_store(opts.store or load_config()["STORE"], key=catalog.KEY)
    fmt = "csv" if opts.format == "table" else opts.format
    try:
        result, body = run(store, fmt)
    except GeoError as exc:
        print(f"{name} failed: {exc}", file=sys.stderr)
        return 2 if exc.status < 500 else 1
    if opts.format == "json":
        body = (json.dumps(result, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    elif opts.format == "table":
        body = body if isinstance(body, str) else _aligned(body)
    body = body.encode("utf-8") if isinstance(body, str) else body
    if opts.output:
        Path(opts.output).write_bytes(body)
        print(f"wrote {opts.output} ({len(body):,} bytes)")
    else:
        sys.stdout.write(body.decode("utf-8-sig"))
    return 0


def query_main(argv: list[str] | None = None) -> int:
    p = _spatial_parser("query", "Every feature of the layers inside a polygon or within a distance of a feature, "
                                 "with the part inside measured in EPSG:4550: the answer of POST /api/query.")
    p.add_argument("--layers", required=True, help="layer ids separated by commas, e.g. projects,parks")
    p.add_argument("--feature", help="LAYER:ID of the feature the region is drawn around, e.g. zones:zones-x")
    p.add_argument("--polygon", help="a GeoJSON Polygon/MultiPolygon (WGS84), or @FILE holding one")
    p.add_argument("--distance", default="0", help="metres around the feature or polygon (0-50000, default 0)")
    p.add_argument("--predicate", default="intersects", help="intersects (default) or within (wholly inside)")
    p.add_argument("--repair", action="store_true", help="repair an invalid polygon (make_valid) instead of refusing it")
    for name in ("district", "category", "status", "q", "ids", "as-of"):
        p.add_argument(f"--{name}", dest=name.replace("-", "_"), help="a filter, as for /api/layers/<id>")
    opts = p.parse_args(argv)
    polygon = opts.polygon
    if polygon and polygon.startswith("@"):
        polygon = Path(polygon[1:]).read_text(encoding="utf-8")
    body = {"layers": spatial_answer.split_layers(opts.layers), "distance_m": opts.distance,
            "predicate": opts.predicate, "repair": opts.repair, "feature": opts.feature, "polygon": polygon}
    body.update({k: v for k in spatial_answer.FILTER_PARAMS if (v := getattr(opts, k, None)) not in (None, "")})
    body = {k: v for k, v in body.items() if v not in (None, "", False)}

    def run(store, fmt):
        _, lang, result = spatial_answer.query(store, {**body, "format": fmt, "lang": opts.lang})
        return result, (spatial_answer.query_geojson(result) if fmt == "geojson" else
                        spatial_answer.query_csv(result, lang) if fmt == "csv" else None)
    return _spatial_run("query", opts, run)


def overlay_main(argv: list[str] | None = None) -> int:
    p = _spatial_parser("overlay", "Overlay two layers in EPSG:4550: which left features lie in which right areas, "
                                   "the area of each right feature covered, the left features outside: GET /api/overlay.")
    p.add_argument("--left", required=True, help="the layer whose features are placed, e.g. projects")
    p.add_argument("--right", required=True, help="the layer of areas they lie in, e.g. zones")
    p.add_argument("--table", default=None, help="pairs, covered or outside (default: all three for table, pairs for csv)")
    p.add_argument("--as-of", dest="as_of", help="both layers as they were then (ISO 8601)")
    opts = p.parse_args(argv)
    args = {k: v for k, v in {"left": opts.left, "right": opts.right, "as_of": opts.as_of,
                              "table": opts.table, "lang": opts.lang}.items() if v}

    def run(store, fmt):
        _, lang, table, result = spatial_answer.overlay_request(store, {**args, "format": fmt}, at_most=None)
        if fmt == "geojson":
            return result, spatial_answer.overlay_geojson(result)
        if opts.format == "table" and not opts.table:
            return result, "\n".join(_aligned(spatial_answer.overlay_csv(result, t, lang))
                                     for t in spatial_answer.TABLES)
        return result, spatial_answer.overlay_csv(result, table, lang) if fmt == "csv" else None
    return _spatial_run("overlay", opts, run)


COMMANDS = {"export": export_main, "stats": stats_main, "query": query_main, "overlay": overlay_main}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m layers.cli {{{','.join(COMMANDS)}}} ...", file=sys.stderr)
        return 2
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
