"""``flask --app server import FILE --layer NAME``: a planner's file into the store from the command
line. The inspection is printed first (encoding and why, the best CRS and the runner-up and why,
counts, invalid shapes), then confirmed (unless ``--yes``), then committed whole or not at all
(``layers.imports``). Written as ``cli:<operating-system user>``. Each phase of the work (unpack,
read, check, write) shows a progress bar on stderr (its label only when stderr is not a terminal)."""
from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from geo.errors import GeoError
from layers import imports

from .commands import _who


def _progress(text: str) -> None:
    click.echo(f"… {text}", err=True)


#: what each phase's bar says, and what it counts
_PHASES = {"unpack": ("unpacking", "bytes"), "read": ("reading", None), "check": ("checking", "steps"),
           "write": ("writing", "features")}


class _Bars:
    """``progress`` for ``layers.imports``: one click progress bar a phase, on stderr."""

    def __init__(self, what: str = ""):
        self.what = what
        self.phase = self.bar = None
        self.done = 0

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase != self.phase:
            self.close()
            label, unit = _PHASES.get(phase, (phase, None))
            unit = unit or ("bytes" if self.what == "inspect" else "features")
            self.phase, self.done = phase, 0
            size = f"{total / 2**20:,.1f} MB" if unit == "bytes" else f"{total:,} {unit}"
            self.bar = click.progressbar(length=max(total, 1), label=f"{label} ({size})",
                                         file=sys.stderr, show_pos=unit != "bytes")
            self.bar.__enter__()
        if done > self.done:
            self.bar.update(done - self.done)
            self.done = done
        if done >= total:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
        self.phase = self.bar = None


def _describe(found: imports.Inspection) -> list[str]:
    lines = [f"file:     {found.file} ({found.format}, layer {found.layer}): {found.count:,} features"]
    if found.encoding is not None:
        why = (found.encoding_guess or {}).get("reason_en", "chosen by hand")
        lines.append(f"encoding: {found.encoding} — {why}")
        previews = (found.encoding_guess or {}).get("previews") or []
        if previews and previews[0]["rows"]:
            lines.append(f"          first row: {' | '.join(previews[0]['rows'][0])}")
    ranked = (found.crs_guess or {}).get("ranked") or []
    lines.append(f"CRS:      {found.crs or 'none usable'} — {found.crs_reason}")
    if ranked:
        lines.append(f"          best {ranked[0]['candidate']['key']}: {ranked[0]['reason_en']}")
    if len(ranked) > 1:
        lines.append(f"          runner-up {ranked[1]['candidate']['key']}: {ranked[1]['reason_en']}")
    geometry = found.geometry
    lines.append(f"shapes:   {', '.join(f'{t} {n}' for t, n in sorted(geometry['types'].items())) or 'none'}; "
                 f"{geometry['invalid_count']} invalid, {geometry['empty']} empty")
    for problem in geometry["invalid"][:10]:
        lines.append(f"          row {problem['row'] + 1}: {problem['reason']}")
    lines += [f"note:     {n}" for n in found.notes]
    lines.append("fields:   " + ", ".join(f["name"] if f["name"] == f["store"] else f"{f['name']}→{f['store']}"
                                          for f in found.fields))
    return lines


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=True, path_type=Path))
@click.option("--layer", required=True, help="the layer to create or write into (lower-case letters, digits, _)")
@click.option("--mode", type=click.Choice(imports.MODES), default="new", show_default=True)
@click.option("--key", help="the file's field that identifies features (needed for upsert)")
@click.option("--crs", help="the coordinate system, e.g. EPSG:4550 (default: detected)")
@click.option("--encoding", help="the text encoding, e.g. GBK (default: detected)")
@click.option("--repair", is_flag=True, help="repair invalid shapes with make_valid")
@click.option("--message", default="", help="the reason, for the revision log")
@click.option("--title-zh", help="a new layer's Chinese title (default: its id)")
@click.option("--title-en", help="a new layer's English title")
@click.option("--style-field", help="a new layer's text field to colour it by (named as in the file)")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
@with_appcontext
def import_file(file: Path, layer, mode, key, crs, encoding, repair, message, title_zh, title_en, style_field, yes):
    """Import FILE (a zip, Shapefile, GeoPackage, GeoJSON, KML, CSV, XLSX, DXF, ...) as one change."""
    store = current_app.extensions["atlas_store"]
    cfg = current_app.config
    described = {"title_zh": title_zh, "title_en": title_en, "style_field": style_field}
    if mode != "new" and any(described.values()):
        given = next(k for k, v in described.items() if v)
        click.echo(f"error: --{given.replace('_', '-')} describes a new layer; {mode} keeps the layer's own titles "
                   "and style: leave it out, or import with --mode new; nothing was stored", err=True)
        sys.exit(2)
    try:
        _progress(f"inspecting {file.name}")
        reference = imports.reference_from_store(store)
        bars = _Bars("inspect")
        try:
            found = imports.inspect(file, reference=reference, max_mb=cfg["IMPORT_MAX_MB"],
                                    max_features=cfg["IMPORT_MAX_FEATURES"], encoding=encoding, crs=crs,
                                    progress=bars)
        finally:
            bars.close()
    except GeoError as exc:
        click.echo(f"error: {exc.detail}; nothing was stored", err=True)
        sys.exit(2)
    with found:
        for line in _describe(found):
            click.echo(line)
        bars = _Bars("plan")
        try:
            planned = imports.plan(store, found, layer=layer, mode=mode, key=key, encoding=encoding, crs=crs,
                                   repair=repair, actor="-", progress=bars, **described)
        except GeoError as exc:
            bars.close()
            click.echo(f"error: {exc.detail}; nothing was stored", err=True)
            sys.exit(2)
        click.echo(f"plan:     {mode} into {layer}: {planned.added} added, {planned.updated} updated, "
                   f"{planned.unchanged} unchanged" + (f", {planned.repaired} repaired" if planned.repaired else ""))
        if not yes and not click.confirm("import?", default=False):
            click.echo("nothing was stored", err=True)
            sys.exit(1)
        _progress(f"writing {found.count:,} features into {layer}")
        bars = _Bars("commit")
        try:
            result = imports.commit(store, found, layer=layer, mode=mode, key=key, encoding=encoding, crs=crs,
                                    repair=repair, actor=_who()["by"], message=message, progress=bars,
                                    **described)
        except GeoError as exc:
            bars.close()
            click.echo(f"error: {exc.detail}; nothing was stored", err=True)
            sys.exit(2)
    revs = ", ".join(map(str, result.revisions))
    click.echo(f"imported into {layer}: {result.added} added, {result.updated} updated, {result.unchanged} unchanged; "
               f"revision {result.revision}" + (f" (revisions {revs})" if len(result.revisions) > 1 else ""))
