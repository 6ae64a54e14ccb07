"""Which text encoding a Shapefile's .dbf (or a CSV file) is in, with the evidence and a preview.

GDAL reads a .dbf without a ``.cpg`` as ISO-8859-1 and raises nothing, so Chinese names come out as
``Ãû³Æ``. Here the evidence is gathered ourselves: the ``.cpg`` (its many spellings normalised), the
header's language-driver byte, and strict decodes of the raw text bytes, UTF-8 first (GBK text is
almost never valid UTF-8) and then GB18030 (a superset of GBK/CP936/GB2312). charset-normalizer is
asked only to break a tie: when the file declares one encoding and another decodes as well. A file
whose text decodes in no candidate is reported (``encoding`` None), never guessed.
"""
from __future__ import annotations

import codecs
from dataclasses import asdict, dataclass
from pathlib import Path

import charset_normalizer

from ..errors import EncodingError
from .dbf import column_bytes, read_header, read_records, values

UTF8, GBK, GB18030 = "UTF-8", "GBK", "GB18030"
#: label -> Python codec
CODECS = {UTF8: "utf-8", GBK: "gbk", GB18030: "gb18030", "BIG5": "cp950", "SHIFT_JIS": "cp932",
          "EUC-KR": "cp949", "ISO-8859-1": "latin-1", "CP1252": "cp1252", "CP1250": "cp1250",
          "CP1251": "cp1251", "CP437": "cp437", "CP850": "cp850", "CP866": "cp866"}
#: GBK text decodes the same in GB18030: one family, shown once
_FAMILY = {GBK: GB18030, GB18030: GB18030}
_SPELLINGS = {
    "UTF8": UTF8, "65001": UTF8, "CP65001": UTF8,
    "GBK": GBK, "CP936": GBK, "936": GBK, "MS936": GBK, "WINDOWS936": GBK, "GB2312": GBK, "EUCCN": GBK,
    "GB18030": GB18030, "54936": GB18030, "CP54936": GB18030,
    "BIG5": "BIG5", "CP950": "BIG5", "950": "BIG5",
    "SHIFTJIS": "SHIFT_JIS", "SJIS": "SHIFT_JIS", "CP932": "SHIFT_JIS", "932": "SHIFT_JIS",
    "EUCKR": "EUC-KR", "CP949": "EUC-KR", "949": "EUC-KR",
    "ISO88591": "ISO-8859-1", "LATIN1": "ISO-8859-1", "88591": "ISO-8859-1", "28591": "ISO-8859-1",
    "CP1252": "CP1252", "1252": "CP1252", "WINDOWS1252": "CP1252",
    "CP1250": "CP1250", "1250": "CP1250", "CP1251": "CP1251", "1251": "CP1251",
    "CP437": "CP437", "437": "CP437", "CP850": "CP850", "850": "CP850", "CP866": "CP866", "866": "CP866",
}
#: dBASE language driver ids (header byte 29) -> label. 0x57 ("ANSI") means the writer's Windows
#: code page, CP1252 in the West but CP936 on Chinese Windows: it says nothing, like 0x00.
LDIDS = {0x01: "CP437", 0x02: "CP850", 0x03: "CP1252", 0x26: "CP866", 0x65: "CP866",
         0x4D: GBK, 0x7A: GBK, 0x4E: "EUC-KR", 0x79: "EUC-KR", 0x4F: "BIG5", 0x78: "BIG5",
         0x13: "SHIFT_JIS", 0x7B: "SHIFT_JIS", 0xC8: "CP1250", 0xC9: "CP1251"}
_SILENT_LDIDS = {0x00: "not set", 0x57: "ANSI: the writer's Windows code page, unknown"}


def normalise(name: str | None) -> str | None:
    """The label of an encoding name as written in a .cpg or chosen by a user ('cp936', '936',
    'utf8', 'ANSI 936' ...), or None when it names no encoding we know."""
    if name is None:
        return None
    text = str(name).strip().upper()
    if text.startswith("ANSI"):
        text = text[4:]
    key = "".join(ch for ch in text if ch.isalnum())
    if key in _SPELLINGS:
        return _SPELLINGS[key]
    return None


def ldid_encoding(ldid: int) -> str | None:
    return LDIDS.get(ldid)


@dataclass(frozen=True)
class StrictDecode:
    """Whether every text value decoded strictly; where not, the first failing row and field."""

    encoding: str
    ok: bool
    row: int | None = None
    field: str | None = None


@dataclass(frozen=True)
class Evidence:
    cpg: str | None               # the .cpg's text as found (None: no .cpg)
    cpg_encoding: str | None      # normalised
    ldid: int | None              # the .dbf language driver byte (None for CSV)
    ldid_encoding: str | None
    ldid_note: str | None
    strict: tuple[StrictDecode, ...]
    ascii_only: bool
    rows_checked: int
    tie_break: str | None = None  # what charset-normalizer decided, when asked


@dataclass(frozen=True)
class Preview:
    """The first rows' text decoded in one candidate encoding (undecodable bytes shown as U+FFFD)."""

    encoding: str
    fields: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class EncodingGuess:
    encoding: str | None          # the chosen label; None when the text decodes in no candidate
    candidates: tuple[str, ...]   # chosen first
    evidence: Evidence
    previews: tuple[Preview, ...]  # one per candidate, same order
    reason_zh: str
    reason_en: str

    @property
    def codec(self) -> str | None:
        return None if self.encoding is None else codec(self.encoding)

    def require(self, file: str) -> str:
        """The chosen encoding, or an EncodingError naming the file, row and field."""
        if self.encoding is not None:
            return self.encoding
        raise EncodingError(f"{file}: {self.reason_en}; choose the encoding by hand (encoding=...), "
                            f"or save the file again as UTF-8", parameter="encoding")

    def to_dict(self) -> dict:
        return asdict(self)


def codec(label: str) -> str:
    return CODECS.get(label) or codecs.lookup(label).name


class _Text:
    """The raw text of a file: fixed-width columns (DBF) or lines (CSV), and where a byte offset
    in each column's blob falls (row, field)."""

    def __init__(self, names: list[bytes], columns: list[tuple[str | None, bytes, int]],
                 rows: list[list[bytes]], rows_checked: int):
        self.names, self.rows, self.rows_checked = names, rows, rows_checked
        self.labels = [c[0] for c in columns]
        self.blobs = [c[1] for c in columns]
        self.widths = [c[2] for c in columns]

    def ascii_only(self) -> bool:
        return all(b.isascii() for b in (*self.names, *self.blobs))

    def strict(self, label: str) -> StrictDecode:
        name = codec(label)
        for raw in self.names:
            try:
                raw.decode(name)
            except UnicodeDecodeError:
                return StrictDecode(label, False, None, _readable(raw))
        for i, blob in enumerate(self.blobs):
            try:
                blob.decode(name)
            except UnicodeDecodeError as err:
                row = err.start // self.widths[i] if self.widths[i] else _line_of(blob, err.start)
                return StrictDecode(label, False, row, self.labels[i])
        return StrictDecode(label, True)

    def utf8_rows(self) -> tuple[float, int | None, int | None]:
        """Of the sampled rows holding non-ASCII text: the share that is valid UTF-8, the first that
        is and the first that is not (a file that mixes encodings has both)."""
        good, total, first_good, first_bad = 0, 0, None, None
        for i, row in enumerate(self.rows):
            text = [v for v in row if not v.isascii()]
            if not text:
                continue
            total += 1
            try:
                for v in text:
                    v.decode("utf-8")
            except UnicodeDecodeError:
                first_bad = i if first_bad is None else first_bad
                continue
            good += 1
            first_good = i if first_good is None else first_good
        return good / max(total, 1), first_good, first_bad

    def sample(self, limit: int = 65536) -> bytes:
        """Non-ASCII values, compact, for charset-normalizer."""
        out, size = [], 0
        for row in self.rows:
            for value in row:
                if not value.isascii():
                    out.append(value)
                    size += len(value) + 1
            if size > limit:
                break
        return b"\n".join([*(n for n in self.names if not n.isascii()), *out])[:limit]


def _readable(raw: bytes) -> str:
    """A field name for a message: UTF-8 if it is, else GB18030 (a superset of GBK)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("gb18030", errors="replace")


def _line_of(blob: bytes, pos: int) -> int:
    return blob.count(b"\n", 0, pos)


def _tie_break(text: _Text, labels: list[str]) -> tuple[str, str]:
    matches = charset_normalizer.from_bytes(text.sample(), cp_isolation=[codec(l) for l in labels],
                                            preemptive_behaviour=False)
    best = matches.best()
    by_codec = {codecs.lookup(codec(l)).name: l for l in labels}
    if best is not None and codecs.lookup(best.encoding).name in by_codec:
        chosen = by_codec[codecs.lookup(best.encoding).name]
        return chosen, f"charset-normalizer prefers {chosen} (mess {best.chaos:.2f}) among {', '.join(labels)}"
    return labels[0], f"charset-normalizer could not tell {', '.join(labels)} apart; kept {labels[0]}"


def _decide(text: _Text, cpg_raw: str | None, ldid: int | None, preview, *, said_by: str = "the .cpg") -> EncodingGuess:
    cpg_enc = normalise(cpg_raw)
    ldid_enc = None if ldid is None else ldid_encoding(ldid)
    ldid_note = None if ldid is None else (ldid_enc or _SILENT_LDIDS.get(ldid, "unknown id"))
    declared = [e for e in dict.fromkeys([cpg_enc, ldid_enc]) if e]
    tested = list(dict.fromkeys([*declared, UTF8, GB18030]))
    strict = {label: text.strict(label) for label in tested}
    ascii_only = text.ascii_only()
    tie = None

    def passes(label):
        return strict[label].ok

    if ascii_only:
        chosen = cpg_enc or UTF8
        zh, en = "文本只有 ASCII 字符,各编码读出相同", "the text is plain ASCII: every candidate reads it the same"
    else:
        chinese = next((l for l in (GBK, GB18030) if l in tested and passes(l)), None)
        primary = UTF8 if passes(UTF8) else chinese or next((l for l in declared if passes(l)), None)
        family = _FAMILY.get(primary, primary)
        rivals = [l for l in declared if passes(l) and _FAMILY.get(l, l) != family]
        # GBK text is valid UTF-8 by chance in about 1 row of 100: a tenth of rows is no chance
        share, first_good, first_bad = text.utf8_rows()
        mixed = not passes(UTF8) and first_good is not None and first_bad is not None and share >= 0.1
        if mixed:
            chosen = None
            zh = f"文件混用了多种编码:第 {first_good} 行是 UTF-8,第 {first_bad} 行不是"
            en = f"the file mixes encodings: row {first_good} is UTF-8 but row {first_bad} is not"
        elif primary is None:
            chosen = None
            fail = strict[UTF8]
            where = f"row {fail.row}, field {fail.field}" if fail.row is not None else f"the field name {fail.field}"
            where_zh = f"第 {fail.row} 行 {fail.field}" if fail.row is not None else f"字段名 {fail.field}"
            zh = f"文本既不是有效的 UTF-8 也不是 GB18030({where_zh}):可能混有多种编码"
            en = f"the text is valid in none of {', '.join(tested)} ({where}): the file may mix encodings"
        elif rivals:
            chosen, tie = _tie_break(text, [primary, *rivals])
            zh = f"{primary} 与 {', '.join(rivals)} 都能严格解码,由 charset-normalizer 裁定为 {chosen}"
            en = f"{primary} and {', '.join(rivals)} both decode strictly; {tie}"
        else:
            chosen = primary
            zh, en = f"文本按 {chosen} 严格解码无误", f"the text decodes strictly as {chosen}"
            if chosen != UTF8:
                zh += ",不是有效的 UTF-8"
                en += ", and is not valid UTF-8"
        if cpg_enc and chosen and _FAMILY.get(cpg_enc, cpg_enc) != _FAMILY.get(chosen, chosen) and not passes(cpg_enc):
            zh += f";声明的 {cpg_raw!r} 与内容不符"
            en += f"; {said_by} says {cpg_raw!r} but the text is not valid {cpg_enc}"
    if cpg_raw is not None and cpg_enc is None:
        en += f"; {said_by} {cpg_raw!r} names no encoding we know"
        zh += f";声明的 {cpg_raw!r} 不是已知编码"
    shown = [chosen] if chosen else []
    for label in (*declared, UTF8, GB18030):
        if label not in shown and _FAMILY.get(label, label) not in {_FAMILY.get(s, s) for s in shown}:
            shown.append(label)
    evidence = Evidence(cpg_raw, cpg_enc, ldid, ldid_enc, ldid_note, tuple(strict.values()), ascii_only,
                        text.rows_checked, tie)
    return EncodingGuess(chosen, tuple(shown), evidence, tuple(preview(l) for l in shown), zh, en)


def find_cpg(dbf_path: Path) -> Path | None:
    """The .cpg beside a .dbf (same stem, any case of the extension)."""
    for sibling in dbf_path.parent.glob(f"{_glob_escape(dbf_path.stem)}.*"):
        if sibling.suffix.lower() == ".cpg":
            return sibling
    return None


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def read_cpg(path: Path) -> str:
    return path.read_bytes()[:64].decode("ascii", errors="replace").strip()


def detect_dbf(path: Path | str, *, cpg: Path | str | None = None, find: bool = True,
               preview_rows: int = 5, max_rows: int = 100_000, max_bytes: int = 64 << 20) -> EncodingGuess:
    """The encoding of the .dbf at ``path``: ``cpg`` the .cpg to read (found beside it when
    ``find``), up to ``max_rows`` records (and ``max_bytes`` of them) decoded strictly, the first
    ``preview_rows`` shown."""
    path = Path(path)
    cpg_path = Path(cpg) if cpg is not None else (find_cpg(path) if find else None)
    cpg_raw = read_cpg(cpg_path) if cpg_path is not None else None
    header = read_header(path)
    rows = read_records(path, header, limit=max(1, min(max_rows, max_bytes // header.record_length)))
    fields = header.text_fields
    blobs = [column_bytes(rows, f) for f in fields]
    first = [values(rows[:preview_rows], f) for f in fields]
    samples = [list(r) for r in zip(*[values(rows[:2000], f) for f in fields])] if fields else []
    columns = [(_readable(f.raw_name), blob, f.length + 1) for f, blob in zip(fields, blobs)]
    text = _Text([f.raw_name for f in header.fields], columns, samples, len(rows))

    def preview(label: str) -> Preview:
        name = codec(label)
        heads = tuple(f.raw_name.decode(name, errors="replace") for f in fields)
        body = tuple(tuple(v.decode(name, errors="replace") for v in row) for row in zip(*first))
        return Preview(label, heads, body)

    return _decide(text, cpg_raw, header.ldid, preview)


def detect_text(data: bytes, *, declared: str | None = None, preview_lines: int = 5) -> EncodingGuess:
    """The encoding of CSV (or other) text ``data``; ``declared`` an encoding the user or a
    sidecar named. A UTF-8 byte-order mark settles it as UTF-8."""
    bom = data.startswith(codecs.BOM_UTF8)
    body = data[len(codecs.BOM_UTF8):] if bom else data
    lines = body.splitlines()
    text = _Text([], [(None, body, 0)], [[line] for line in lines[:2000]], len(lines))
    head = lines[:preview_lines + 1]

    def preview(label: str) -> Preview:
        decoded = [line.decode(codec(label), errors="replace") for line in head]
        return Preview(label, tuple(decoded[:1]), tuple((line,) for line in decoded[1:]))

    guess = _decide(text, "UTF-8" if bom else declared, None, preview, said_by="the declared encoding")
    if bom and guess.encoding == UTF8:
        return EncodingGuess(UTF8, guess.candidates, guess.evidence, guess.previews,
                             "文件以 UTF-8 BOM 开头", "the file starts with a UTF-8 byte-order mark")
    return guess
