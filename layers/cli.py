"""The atlas's command lines, plain functions over argv (``flask --app server export …`` calls them;
so can ``python -m layers.cli export …``).

    flask --app server export --layers parks,roads --format gpkg --crs EPSG:4550 --district 371002 -o out.gpkg
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from geo import export as writing
from geo.crs import TARGETS
from geo.errors import GeoError
from geo.store import open_store

from . import catalog
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


COMMANDS = {"export": export_main}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m layers.cli {{{','.join(COMMANDS)}}} ...", file=sys.stderr)
        return 2
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
