"""A filter tree (``geo.cql2``) checked against a layer's fields and compiled to SQL with bound
parameters: the ``where`` of a ``Query``, the same meaning on every backend.

``to_sql(expr, fields, dialect="sqlite"|"postgis")`` answers ``(sql, params)``: property names are
checked against the layer's fields and quoted, every value is a parameter (``?`` for SQLite,
``%s`` for psycopg), so no text of a filter ever becomes SQL. A filter that cannot be evaluated
(an unknown property, a value of the wrong type, JSON compared) is an ``InvalidParameter`` on
``filter`` naming the problem: never silently dropped.

Meaning, on both dialects: SQL's three-valued logic (a comparison with a missing value is not
true, so ``NOT (a = 1)`` leaves out rows where ``a`` is NULL, as CQL2 says); LIKE is case-sensitive
(SQLite's LIKE is not, so SQLite compiles it to GLOB), ``\\`` escaping the next character and a
lone ``\\`` at the end standing for itself; CASEI and ILIKE compare text lower-cased in A-Z only
(SQLite's ``lower``; PostGIS's ``lower`` of text in the "C" collation); dates are ISO text
(``YYYY-MM-DD``). The backend's ``column(name)`` gives each dialect the rest of SQLite's meaning
(the PostGIS store compares text in the "C" collation, by code point, and dates as their ISO text).
Spatial predicates call ``spatial(op, geom, geometry_sql)`` when given (the GeoPackage backend puts
its R-tree prefilter in front of an exact test); else SQLite calls the ``atlas_intersects(blob, wkb)``
function its connections register, PostGIS ``ST_Intersects(geom, ST_GeomFromText(%s, 4326))`` with
the literal's WKT at full precision (a missing geometry intersects nothing, on both).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import shapely

from .. import cql2
from ..errors import InvalidParameter

P = cql2.PARAMETER
DIALECTS = ("sqlite", "postgis")
#: the names a filter may give the geometry
GEOMETRY_NAMES = ("geometry", "geom")
_NUMBER = ("int", "float")
_LOOSE_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(T(00:00(:00(\.0+)?)?)?(Z|\+00:00)?)?$")


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _ascii_lower(text: str) -> str:
    """What SQLite's lower() does: only A-Z change."""
    return text.translate(str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"))


def like_to_glob(pattern: str) -> str:
    """A LIKE pattern (``%``, ``_``, ``\\`` escaping) as an SQLite GLOB pattern (case-sensitive)."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            i += 1
            ch = pattern[i]
            out.append({"*": "[*]", "?": "[?]", "[": "[[]"}.get(ch, ch))
        elif ch == "%":
            out.append("*")
        elif ch == "_":
            out.append("?")
        else:
            out.append({"*": "[*]", "?": "[?]", "[": "[[]"}.get(ch, ch))
        i += 1
    return "".join(out)


def like_to_postgres(pattern: str) -> str:
    """A LIKE pattern as PostgreSQL's ``LIKE … ESCAPE '\\'`` takes it with the meaning
    ``like_to_glob`` gives it: ``\\`` escapes the next character, a lone ``\\`` at the end is itself."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            if i + 1 < len(pattern):
                i += 1
                ch = pattern[i]
                out.append("\\" + ch if ch in "%_\\" else ch)
            else:
                out.append("\\\\")
        else:
            out.append(ch)
        i += 1
    return "".join(out)


class _Compiler:
    def __init__(self, fields: Mapping[str, str], dialect: str, column: Callable[[str], str], geometry: str,
                 spatial: Callable | None):
        if dialect not in DIALECTS:
            raise ValueError(f"dialect must be one of {DIALECTS}, got {dialect!r}")
        self.fields = dict(fields)
        self.dialect = dialect
        self.mark = "?" if dialect == "sqlite" else "%s"
        self.column = column
        self.geometry = geometry
        self.spatial = spatial
        self.params: list = []

    def bind(self, value) -> str:
        self.params.append(int(value) if isinstance(value, bool) and self.dialect == "sqlite" else value)
        return self.mark

    def lower(self, text: str) -> str:
        return _ascii_lower(text)  # both dialects' lower() change only A-Z

    def lower_sql(self, sql: str) -> str:
        """SQL lower-casing A-Z only: SQLite's lower(); PostgreSQL's in the "C" collation."""
        return f"lower({sql})" if self.dialect == "sqlite" else f'lower({sql} COLLATE "C")'

    # -- conditions -----------------------------------------------------------------------------
    def cond(self, e) -> str:
        if isinstance(e, cql2.And):
            return "(" + " AND ".join(self.cond(i) for i in e.items) + ")"
        if isinstance(e, cql2.Or):
            return "(" + " OR ".join(self.cond(i) for i in e.items) + ")"
        if isinstance(e, cql2.Not):
            return f"(NOT {self.cond(e.item)})"
        if isinstance(e, cql2.Literal) and isinstance(e.value, bool):
            return "(1 = 1)" if e.value else "(1 = 0)"
        if isinstance(e, cql2.Compare):
            return self.compare(e)
        if isinstance(e, cql2.Like):
            return self.like(e)
        if isinstance(e, cql2.In):
            kind, sql = self.operand(e.arg, "IN")
            marks = ", ".join(self.bind(self.value(v, kind, e.arg)) for v in e.values)
            return f"({sql} {'NOT IN' if e.negate else 'IN'} ({marks}))"
        if isinstance(e, cql2.Between):
            kind, sql = self.operand(e.arg, "BETWEEN")
            if kind not in (*_NUMBER, "date"):
                raise InvalidParameter(f"filter: BETWEEN needs a field of numbers or dates; {self.name(e.arg)} "
                                       f"is {kind}", parameter=P)
            low = self.bind(self.value(e.low, kind, e.arg))
            high = self.bind(self.value(e.high, kind, e.arg))
            return f"({sql} {'NOT BETWEEN' if e.negate else 'BETWEEN'} {low} AND {high})"
        if isinstance(e, cql2.IsNull):
            if not isinstance(e.arg, cql2.Property):
                raise InvalidParameter("filter: IS NULL applies to a property", parameter=P)
            return f"({self.field_sql(e.arg.name)} IS {'NOT ' if e.negate else ''}NULL)"
        if isinstance(e, cql2.Spatial):
            return self.spatial_cond(e)
        raise InvalidParameter(f"filter: {_describe(e)} is not a condition; compare it with something "
                               "(e.g. = 'value')", parameter=P)

    # -- operands -------------------------------------------------------------------------------
    def name(self, e) -> str:
        return repr(e.name) if isinstance(e, cql2.Property) else _describe(e)

    def field_sql(self, name: str) -> str:
        if name not in self.fields:
            known = ", ".join(n for n, t in self.fields.items() if t != "json")
            raise InvalidParameter(f"filter: unknown property {name!r}; the queryables of this collection are: "
                                   f"{known}", parameter=P)
        if self.fields[name] == "json":
            raise InvalidParameter(f"filter: property {name!r} holds JSON, which cannot be compared; filter on "
                                   "another property", parameter=P)
        return self.column(name)

    def operand(self, e, what: str) -> tuple[str, str]:
        """(field type, SQL) of a property (or CASEI of one) that ``what`` applies to."""
        if isinstance(e, cql2.CaseI):
            kind, sql = self.operand(e.arg, what)
            if kind != "str":
                raise InvalidParameter(f"filter: CASEI applies to text; {self.name(e.arg)} is {kind}", parameter=P)
            return "casei", self.lower_sql(sql)
        if isinstance(e, cql2.Property):
            if e.name in GEOMETRY_NAMES and e.name not in self.fields:
                raise InvalidParameter(f"filter: the geometry can only be tested with S_INTERSECTS, not {what}",
                                       parameter=P)
            return self.fields.get(e.name, ""), self.field_sql(e.name)
        raise InvalidParameter(f"filter: {what} needs a property on its left, got {_describe(e)}", parameter=P)

    def value(self, e, kind: str, against):
        """The parameter for literal ``e`` compared with a field of ``kind``, or InvalidParameter."""
        if isinstance(e, cql2.CaseI):
            if kind != "casei":
                raise InvalidParameter("filter: CASEI on one side needs CASEI on the other", parameter=P)
            inner = self.value(e.arg, "str", against)
            return self.lower(inner)
        if not isinstance(e, cql2.Literal):
            raise InvalidParameter(f"filter: {self.name(against)} can only be compared here with a value, not "
                                   f"{_describe(e)}", parameter=P)
        v, who = e.value, self.name(against)
        if v is None:
            raise InvalidParameter(f"filter: compare {who} with NULL by writing {who.strip(chr(39))} IS NULL",
                                   parameter=P)
        if kind == "casei":
            raise InvalidParameter("filter: CASEI on one side needs CASEI on the other", parameter=P)
        if kind == "str":
            if isinstance(v, str) and not e.kind:
                return v
            raise InvalidParameter(f"filter: {who} is text; quote the value, e.g. {who.strip(chr(39))} = '{v}'",
                                   parameter=P)
        if kind in _NUMBER:
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                return v
            raise InvalidParameter(f"filter: {who} is a number; write the value without quotes, got {v!r}",
                                   parameter=P)
        if kind == "bool":
            if isinstance(v, bool) or (isinstance(v, int) and v in (0, 1)):
                return bool(v)
            raise InvalidParameter(f"filter: {who} is true/false; compare it with TRUE or FALSE, got {v!r}",
                                   parameter=P)
        if kind == "date":
            m = _LOOSE_DATE.match(v) if isinstance(v, str) else None
            if m and e.kind in ("", "date", "timestamp"):
                return m.group(1)
            raise InvalidParameter(f"filter: {who} is a date; compare it with DATE('YYYY-MM-DD'), got {v!r}",
                                   parameter=P)
        raise InvalidParameter(f"filter: {who} cannot be compared", parameter=P)

    def literal_kind(self, e) -> str:
        v = e.value
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, (int, float)):
            return "float"
        if e.kind == "date":
            return "date"
        if e.kind == "timestamp":
            return "timestamp"
        return "str" if isinstance(v, str) else "null"

    def compare(self, e: cql2.Compare) -> str:
        left, right, op = e.left, e.right, e.op
        if not _of_property(left) and _of_property(right):
            left, right = right, left
            op = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(op, op)
        if _of_property(left):
            kind, sql = self.operand(left, op)
            if _of_property(right):
                other, rsql = self.operand(right, op)
                same = kind == other or (kind in _NUMBER and other in _NUMBER)
                if not same:
                    raise InvalidParameter(f"filter: {self.name(left)} ({kind}) and {self.name(right)} ({other}) "
                                           "cannot be compared", parameter=P)
                return f"({sql} {op} {rsql})"
            return f"({sql} {op} {self.bind(self.value(right, kind, left))})"
        if isinstance(left, cql2.Literal) and isinstance(right, cql2.Literal):
            a, b = self.literal_kind(left), self.literal_kind(right)
            if a != b or a in ("null", "bool") and op not in ("=", "<>"):
                raise InvalidParameter(f"filter: {left.value!r} and {right.value!r} cannot be compared",
                                       parameter=P)
            return f"({self.bind(left.value)} {op} {self.bind(right.value)})"
        raise InvalidParameter(f"filter: {_describe(left)} {op} {_describe(right)} cannot be evaluated; compare a "
                               "property with a value", parameter=P)

    def like(self, e: cql2.Like) -> str:
        kind, sql = self.operand(e.arg, "LIKE")
        nocase = e.nocase or kind == "casei"
        if kind not in ("str", "casei"):
            raise InvalidParameter(f"filter: LIKE applies to text; {self.name(e.arg)} is {kind}", parameter=P)
        pattern = e.pattern.arg if isinstance(e.pattern, cql2.CaseI) else e.pattern
        if not (isinstance(pattern, cql2.Literal) and isinstance(pattern.value, str) and not pattern.kind):
            raise InvalidParameter("filter: LIKE needs a quoted pattern such as '威海%'", parameter=P)
        text = pattern.value
        if nocase and kind == "str":
            sql = self.lower_sql(sql)
        if nocase:
            text = self.lower(text)
        neg = "NOT " if e.negate else ""
        if self.dialect == "sqlite":
            return f"({sql} {neg}GLOB {self.bind(like_to_glob(text))})"
        return f"({sql} {neg}LIKE {self.bind(like_to_postgres(text))} ESCAPE '\\')"

    def spatial_cond(self, e: cql2.Spatial) -> str:
        sides = (e.left, e.right)
        geoms = [s.geom for s in sides if isinstance(s, cql2.Geometry)]
        props = [s for s in sides if isinstance(s, cql2.Property)]
        if len(geoms) == 2:
            return "(1 = 1)" if shapely.intersects(geoms[0], geoms[1]) else "(1 = 0)"
        if len(geoms) != 1 or len(props) != 1 or props[0].name not in GEOMETRY_NAMES:
            raise InvalidParameter("filter: S_INTERSECTS compares the geometry (property 'geometry') with a "
                                   "geometry such as POINT(122.1 37.5) or BBOX(122,37.4,122.2,37.6)", parameter=P)
        geom = geoms[0]
        if self.spatial is not None:
            sql, params = self.spatial(e.op, geom, self.geometry)
            self.params += list(params)
            return f"({sql})"
        if self.dialect == "sqlite":
            return f"(atlas_intersects({self.geometry}, {self.bind(shapely.to_wkb(geom))}) = 1)"
        wkt = shapely.to_wkt(geom, rounding_precision=-1)  # the literal as given, not rounded to 6 decimals
        return f"({self.geometry} IS NOT NULL AND ST_Intersects({self.geometry}, ST_GeomFromText({self.bind(wkt)}, 4326)))"


def _of_property(e) -> bool:
    """A property, or CASEI of one (CASEI of a literal is a value)."""
    while isinstance(e, cql2.CaseI):
        e = e.arg
    return isinstance(e, cql2.Property)


def _describe(e) -> str:
    if isinstance(e, cql2.Literal):
        return "NULL" if e.value is None else repr(e.value)
    if isinstance(e, cql2.Property):
        return repr(e.name)
    if isinstance(e, cql2.Geometry):
        return "a geometry"
    if isinstance(e, cql2.CaseI):
        return f"CASEI({_describe(e.arg)})"
    return type(e).__name__.upper()


def to_sql(expr, fields: Mapping[str, str], *, dialect: str = "sqlite", column: Callable[[str], str] | None = None,
           geometry: str = quote("geom"), spatial: Callable | None = None) -> tuple[str, list]:
    """``(sql, params)`` of the filter tree ``expr`` over a table whose fields are ``fields``
    (name -> one of ``FIELD_TYPES``). ``column(name)`` writes a (checked) field's SQL (default: the
    quoted name), ``geometry`` the geometry column's; ``spatial(op, geom, geometry)`` may replace
    the spatial test, answering ``(sql, params)``."""
    compiler = _Compiler(fields, dialect, column or quote, geometry, spatial)
    sql = compiler.cond(expr)
    return sql, compiler.params


def check(expr, fields: Mapping[str, str]) -> None:
    """Raise the InvalidParameter ``to_sql`` would, without keeping the SQL."""
    to_sql(expr, fields)


def spatial_parts(expr) -> list:
    """The geometry literals of the filter's spatial tests (e.g. for a backend's prefilter)."""
    if isinstance(expr, cql2.Spatial):
        return [s.geom for s in (expr.left, expr.right) if isinstance(s, cql2.Geometry)]
    if isinstance(expr, (cql2.And, cql2.Or)):
        return [g for item in expr.items for g in spatial_parts(item)]
    if isinstance(expr, cql2.Not):
        return spatial_parts(expr.item)
    return []
