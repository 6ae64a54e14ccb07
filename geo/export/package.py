"""Writing an export: the layers through the format's writer into one file, or into a zip of one
file a layer with a README and the format's side files."""
from __future__ import annotations

import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .base import About, Chunk, LayerSchema, Writer
from .formats import Format


def _write_all(writer: Writer, layers: Iterable[tuple[LayerSchema, Iterable[Chunk]]]) -> Writer:
    try:
        for layer, chunks in layers:
            writer.write_layer(layer, chunks)
    except BaseException:
        writer.abort()
        raise
    writer.close()
    return writer


@dataclass
class Written:
    path: Path
    counts: dict[str, int] = field(default_factory=dict)


def write(fmt: Format, about: About, layers: Iterable[tuple[LayerSchema, Iterable[Chunk]]], folder: Path,
          stem: str, *, several: bool) -> Written:
    """Write ``layers`` in ``fmt`` under ``folder``: one file named ``stem`` + the format's extension
    when the format holds them all, else a zip (``stem.<ext>.zip``) of one file a layer, a README
    and the format's side files. ``several`` says whether more than one layer will come."""
    folder = Path(folder)
    if not (fmt.zipped or (several and not fmt.multi_layer)):
        writer = _write_all(fmt.writer(folder / f"{stem}{fmt.extension}", fmt, about), layers)
        return Written(writer.path, {k: n for k, (_, n) in writer.layers.items()})
    parts = folder / stem
    parts.mkdir()
    written: dict[str, tuple[LayerSchema, int]] = {}
    notes: list[str] = []
    if fmt.zipped:  # the writer lays out its own folder (Shapefile)
        writer = _write_all(fmt.writer(parts, fmt, about), layers)
        written, notes = writer.layers, writer.notes()
    else:
        for layer, chunks in layers:
            writer = _write_all(fmt.writer(parts / f"{layer.name}{fmt.extension}", fmt, about), [(layer, chunks)])
            written.update(writer.layers)
    (parts / "README.txt").write_text(about.readme(fmt, written, notes), encoding="utf-8")
    target = folder / f"{stem}{fmt.extension}.zip"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for item in sorted(parts.iterdir()):
            zf.write(item, arcname=item.name)
    return Written(target, {k: n for k, (_, n) in written.items()})
