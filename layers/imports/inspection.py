"""``inspect``: what a file is before anything is stored (see the package's docstring)."""
from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from geo import readers
from geo.errors import EmptyFile, GeoError, InvalidParameter, TooLarge
from geo.inspect import (
    ArchiveLimits,
    detect_dbf,
    detect_text,
    extract_zip,
    guess_crs,
    normalise_encoding,
)
from geo.store import Query, Store

from .. import catalog
from .kept import keep_read, kept_file, load_read, read_key
from .preview import build as build_preview
from .progress import progress_of

MEASURES = ("area_m2", "area_ha", "area_mu", "length_km")
#: bytes of a CSV read for the encoding check
_TEXT_SAMPLE = 8 << 20
#: shapes the CRS candidates are scored on (a random sample when there are more; all below)
CRS_SAMPLE = 50_000
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Reference:
    """Where imported data should lie: ``area`` a WGS84 polygon or (minx, miny, maxx, maxy), and
    ``features`` (WGS84 shapes, e.g. district outlines) that tell the GCJ-02/BD-09 offsets apart."""

    area: object
    features: object = None


#: Weihai's extent (WGS84), for a store without the districts layer
WEIHAI_BBOX = (121.18, 36.68, 122.72, 37.58)


def reference_from_store(store: Store, layer: str = "districts") -> Reference:
    """The districts' outlines from the store as the reference area (their bbox if none has a
    shape; Weihai's extent, ``WEIHAI_BBOX``, if the store has no such layer)."""
    if layer not in store.layers():
        return Reference(WEIHAI_BBOX)
    frame = store.query(layer, Query(columns=(catalog.KEY,)))
    geoms = np.asarray(frame.geometry.array, dtype=object)
    geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    if not len(geoms):
        return Reference(tuple(store.info(layer).bbox or WEIHAI_BBOX))
    return Reference(shapely.union_all(shapely.make_valid(geoms)), geoms)


@dataclass
class Inspection:
    """What ``inspect`` found; ``to_dict`` for the preview. ``folder`` is the scratch folder (a
    zip's unpacked files) that ``close`` removes."""

    file: str
    path: Path
    format: str
    layer: str | None
    count: int
    encoding: str | None
    encoding_guess: dict | None
    crs: str | None                  # the chosen candidate's key ("EPSG:4529", "EPSG:4529/swapped", "GCJ-02")
    crs_reason: str
    crs_guess: dict | None
    declared_crs: str | None
    columns: dict | None             # CSV/XLSX: {"x", "y", "wkt", "kind"}
    geometry: dict
    notes: list[str]
    fields: list[dict]               # {"name" (in the file), "store" (the store's name), "type"}
    source: dict
    folder: Path | None = None
    crs_reason_zh: str | None = None   # crs_reason in Chinese (the page shows it in the zh page)
    reference: Reference | None = field(default=None, repr=False)
    #: what the features were read from and with (files' sizes and times, layer, encoding,
    #: columns): ``commit`` uses the read below only while it still matches
    read_key: dict | None = field(default=None, repr=False)
    #: the read kept in the upload folder (``scratch``), for a ``commit`` in another process
    read_cache: Path | None = field(default=None, repr=False)
    #: what the page's preview draws (layers.imports.preview)
    preview: dict | None = field(default=None, repr=False)

    _PRIVATE = ("folder", "path", "reference", "read_key", "read_cache")

    def to_dict(self) -> dict:
        # asdict copies every field deeply: the reference's shapes are left out before, not after
        out = {k: v for k, v in asdict(_without_reference(self)).items() if k not in self._PRIVATE}
        return _jsonable(out)

    def close(self) -> None:
        self.__dict__.pop("_read", None)
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __getstate__(self):  # pickled (to another process): without the frame held in memory
        return {k: v for k, v in self.__dict__.items() if k != "_read"}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _without_reference(found: Inspection) -> Inspection:
    """A shallow copy without the reference (for ``asdict``)."""
    copy = object.__new__(Inspection)
    copy.__dict__.update({k: v for k, v in found.__dict__.items() if k != "_read"}, reference=None)
    return copy


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (bytes, Path)):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _bytes_of(target: Path) -> int:
    """The size on disk of what will be read: a folder's files, a Shapefile's parts, a file."""
    if target.is_dir():
        return sum(p.stat().st_size for p in target.rglob("*") if p.is_file() and not p.is_symlink())
    if target.suffix.lower() == ".shp":
        return sum(p.stat().st_size for p in target.parent.glob(f"{_glob_escape(target.stem)}.*") if p.is_file())
    return target.stat().st_size


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


# -- inspect -----------------------------------------------------------------------------------
def inspect(path, *, reference: Reference, max_mb: int = 512, max_features: int = 1_000_000,
            layer: str | None = None, encoding: str | None = None, crs: str | None = None,
            scratch: Path | None = None, progress=None, preview: bool = True) -> Inspection:
    """What the file at ``path`` is (a zip is unpacked first into a folder under ``scratch``).
    ``encoding``/``crs`` override what would be detected. Nothing is stored. ``preview``: build
    what the page draws (a commit's own inspection does not need it). ``progress``: see the
    package's docstring (phases "unpack" for a zip, "read", "check"). The features read are kept
    for ``commit`` (in memory, and in ``scratch`` when given: see ``kept.keep_read``)."""
    report = progress_of(progress)
    path = Path(path)
    if not path.exists():
        raise InvalidParameter(f"{path.name} was not found; upload it again", parameter="file")
    limit = max_mb << 20
    if path.is_file() and path.stat().st_size > limit:
        raise TooLarge(f"{path.name} is larger than the {max_mb} MB an import accepts (ATLAS_IMPORT_MAX_MB); "
                       "split the data or import an extract", parameter="file")
    folder = None
    target = path
    if path.suffix.lower() == ".zip":
        size = path.stat().st_size
        report("unpack", 0, size)
        folder = Path(tempfile.mkdtemp(prefix="atlas-import-", dir=scratch))
        try:
            extract_zip(path, folder, ArchiveLimits(max_total_bytes=limit), name=path.name)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        report("unpack", size, size)
        target = folder
    try:
        return _inspect(path, target, reference, max_features, layer, encoding, crs, folder, scratch, report,
                        preview)
    except GeoError as exc:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
            _named(exc, folder.name, path.name)
        raise
    except BaseException:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        raise


def _named(exc: GeoError, scratch: str, upload: str) -> None:
    """A message about the unpacked zip names the zip as uploaded, not the scratch folder."""
    if scratch in exc.detail:
        exc.detail = exc.detail.replace(scratch, upload)
        exc.args = tuple(a.replace(scratch, upload) if isinstance(a, str) else a for a in exc.args)
    if getattr(exc, "file", None) == scratch:
        exc.file = upload


def _override(override: str | None) -> str | None:
    if override is None:
        return None
    label = normalise_encoding(override)
    if label is None:
        raise InvalidParameter(f"unknown encoding {override!r}; give UTF-8, GBK or GB18030", parameter="encoding")
    return label


def _encoding(source, chosen_layer, override: str | None):
    """(label, guess as a dict or None) for Shapefile and CSV; (None, None) for the others."""
    label = _override(override)
    if source.format == "shapefile":
        shp = chosen_layer.file or source.path
        dbf = next((p for p in shp.parent.glob(f"{shp.stem}.*") if p.suffix.lower() == ".dbf"), None)
        guess = detect_dbf(dbf) if dbf is not None else None
    elif source.format == "csv":
        return _text_encoding(source.path, source.name, override)
    else:
        return None, None
    if label is None:
        label = guess.require(source.name) if guess is not None else None
    return label, guess.to_dict() if guess is not None else None


def _text_encoding(path: Path, name: str, override: str | None):
    """(label, guess as a dict) of a CSV file, from its first ``_TEXT_SAMPLE`` bytes."""
    label = _override(override)
    guess = detect_text(_text_sample(path))
    if label is None:
        label = guess.require(name)
    return label, guess.to_dict()


def _text_sample(path: Path) -> bytes:
    """The first ``_TEXT_SAMPLE`` bytes of a text file, cut at the end of a line when the file is
    longer: a cut inside a multi-byte character would make valid UTF-8 look invalid."""
    with open(path, "rb") as fh:
        data = fh.read(_TEXT_SAMPLE + 1)
    if len(data) <= _TEXT_SAMPLE:
        return data
    data = data[:_TEXT_SAMPLE]
    end = max(data.rfind(b"\n"), data.rfind(b"\r"))
    return data[:end + 1] if end > 0 else data


def _store_name(name: str, taken: set[str]) -> str:
    """A field name the store accepts (letters, digits, _), unique among ``taken``."""
    text = str(name) if _FIELD.match(str(name)) else re.sub(r"[^A-Za-z0-9_]", "_", str(name)).strip("_")
    if not text or not _FIELD.match(text):
        text = f"field_{text}" if text else "field"
    text = text.lower()
    if text in ("fid", "geom", "geometry"):
        text = f"{text}_1"
    base, n = text, 1
    while text in taken:
        n += 1
        text = f"{base}_{n}"
    taken.add(text)
    return text


def _read(source, layer_name, label, columns: dict | None) -> gpd.GeoDataFrame:
    frame = readers.read(source, layer_name, encoding=label if source.format in ("shapefile", "dxf", "csv") else None)
    if source.format in ("csv", "xlsx"):
        if not columns:
            raise InvalidParameter(f"{source.name}: no columns look like longitude/latitude, X/Y or WKT; name them",
                                   parameter="columns")
        frame = readers.points_from_columns(frame, columns.get("x"), columns.get("y"), wkt=columns.get("wkt"))
    return frame


def _judged(ranked, crs: str, geoms, reference: Reference) -> tuple[str, str]:
    """What the scoring says of a CRS the planner chose (so a wrong choice is seen before the
    write), in English and Chinese."""
    scored = next((r for r in ranked.ranked if r.candidate.key == crs), None)
    if scored is not None:
        return scored.reason_en, scored.reason_zh
    check = guess_crs(geoms, reference.area, reference=reference.features, declared=crs).declared
    return (check.reason_en, check.reason_zh) if check is not None else ("not scored", "未评分")


def _crs_sample(geoms: np.ndarray) -> np.ndarray:
    """The shapes the CRS is scored on: all of them up to ``CRS_SAMPLE``, else that many drawn at
    random (the same every time); the scoring samples their vertices again."""
    if len(geoms) <= CRS_SAMPLE:
        return geoms
    pick = np.sort(np.random.default_rng(0).choice(len(geoms), CRS_SAMPLE, replace=False))
    return geoms[pick]


def _inspect(upload: Path, target, reference, max_features, layer, encoding, crs, folder, scratch,
             report, preview=True) -> Inspection:
    file = upload.name
    size = _bytes_of(Path(target))
    report("read", 0, size)
    table = readers.table_file(target)
    if table is not None:  # a CSV: its encoding first, so that its table is parsed once, with it
        label, guess = _text_encoding(table, table.name, encoding)
        source = readers.open_source(target, encoding=label)
        chosen = source.layer(layer)
    else:
        source = readers.open_source(target)
        chosen = source.layer(layer)
        label, guess = _encoding(source, chosen, encoding)
        if label is not None and source.format in ("shapefile", "csv"):
            source = readers.open_source(target, encoding=label)
            chosen = source.layer(layer)
    if chosen.count > max_features:
        raise TooLarge(f"{file} holds {chosen.count:,} features, more than the {max_features:,} an import may bring in "
                       "(ATLAS_IMPORT_MAX_FEATURES); split it", parameter="file")
    columns = asdict(chosen.suggestion) if chosen.suggestion is not None else None
    key = read_key(upload, folder, source, chosen.name, label, columns)
    # inspected before (the commit of an upload inspects it again): the read kept then, if it is this one
    kept = kept_file(scratch, key) if scratch is not None else None
    frame = load_read(kept, key) if kept is not None and kept.is_file() else None
    reused = frame is not None
    if frame is None:
        frame = _read(source, chosen.name, label, columns)
    if not len(frame):
        raise EmptyFile(f"{file} holds no features: export the layer again with its features", file=file,
                        parameter="file")
    report("read", size, size)
    steps = 3 if scratch is not None else 2
    report("check", 0, steps)
    declared = None if frame.crs is None else (f"EPSG:{frame.crs.to_epsg()}" if frame.crs.to_epsg() else frame.crs.to_wkt())
    geoms = _crs_sample(np.asarray(frame.geometry.array, dtype=object))
    ranked = guess_crs(geoms, reference.area, reference=reference.features, declared=declared)
    if crs is not None:
        en, zh = _judged(ranked, crs, geoms, reference)
        chosen_crs, why, why_zh = crs, f"chosen by hand: {en}", f"手动选择：{zh}"
    elif ranked.declared is not None and ranked.declared.plausible:
        chosen_crs, why, why_zh = ranked.declared.declared, ranked.declared.reason_en, ranked.declared.reason_zh
    elif ranked.best is not None:
        chosen_crs, why, why_zh = ranked.best.candidate.key, ranked.reason_en, ranked.reason_zh
        if ranked.declared is not None:
            why, why_zh = f"{ranked.declared.reason_en}; {why}", f"{ranked.declared.reason_zh}；{why_zh}"
    else:
        chosen_crs, why, why_zh = None, ranked.reason_en, ranked.reason_zh
    del geoms
    report("check", 1, steps)
    rep = readers.report(frame)
    taken = {catalog.KEY, *MEASURES}
    fields = [{"name": f.name, "store": f.name if f.name in (catalog.KEY, *MEASURES) else _store_name(f.name, taken),
               "type": f.type} for f in chosen.fields if columns is None or f.name not in (columns.get("wkt"),)]
    geometry = {"count": rep.count, "invalid_count": rep.invalid_count,
                "invalid": [asdict(p) for p in rep.invalid[:100]], "empty": rep.empty, "types": rep.types,
                "has_z": rep.has_z, "has_m": rep.has_m, "mixed": rep.mixed}
    cache = None
    if scratch is not None:
        report("check", 2, steps)
        cache = kept if reused else keep_read(frame, Path(scratch), key)
    found = Inspection(file=file, path=Path(target), format=source.format, layer=chosen.name, count=len(frame),
                       encoding=label, encoding_guess=guess, crs=chosen_crs, crs_reason=why, crs_reason_zh=why_zh,
                       crs_guess=ranked.to_dict(), declared_crs=declared, columns=columns, geometry=geometry,
                       notes=rep.notes(), fields=fields, source=readers.describe(source), folder=folder,
                       reference=reference, read_key=key, read_cache=cache,
                       preview=build_preview(frame, ranked, chosen_crs, geometry["invalid"]) if preview else None)
    found.__dict__["_read"] = (frame, rep)  # for commit in this process (not a field: never copied)
    report("check", steps, steps)
    return found
