"""CQL2 text (OGC 21-065) to a small syntax tree: Basic CQL2, the advanced comparisons (LIKE, IN,
BETWEEN), CASEI, and Basic Spatial (S_INTERSECTS with a geometry literal). Nothing here knows a
layer or a database: ``geo.store.where`` checks a tree against a layer's fields and compiles it.

What real clients send shaped the grammar: GDAL's OAPIF driver writes ``(name = 'x') AND (n > 3)``
with bare property names (Chinese ones too) and ``'`` doubled; QGIS writes ``"quoted names"``,
``TIMESTAMP('…')``, ``DATE('…')``, ``TRUE``/``FALSE``, ``(x IS NULL)``, ``CASEI(a) LIKE CASEI('b')``
and ``S_INTERSECTS(geometry,BBOX(minx,miny,maxx,maxy))``. Keywords are case-insensitive. Every
failure is an ``InvalidParameter`` on ``filter`` that says where and what was expected.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import shapely
from shapely import wkt as shapely_wkt

from .cql2_nodes import (
    And,
    Between,
    CaseI,
    Compare,
    Geometry,
    In,
    IsNull,
    Like,
    Literal,
    Not,
    Or,
    Property,
    Spatial,
    conjunction,
    map_geometries,
)
from .errors import InvalidParameter

__all__ = ["And", "Between", "CaseI", "Compare", "Geometry", "In", "IsNull", "Like", "Literal", "Not", "Or",
           "Property", "Spatial", "conjunction", "map_geometries", "parse", "tokens"]

PARAMETER = "filter"
COMPARISONS = ("=", "<>", "<", ">", "<=", ">=")
#: the spatial predicates understood (S_INTERSECTS is Basic Spatial; INTERSECTS an old spelling)
SPATIAL = {"S_INTERSECTS": "intersects", "INTERSECTS": "intersects"}
GEOMETRY_TYPES = ("POINT", "LINESTRING", "POLYGON", "MULTIPOINT", "MULTILINESTRING", "MULTIPOLYGON",
                  "GEOMETRYCOLLECTION")
MAX_LENGTH = 20_000


# -- tokens ------------------------------------------------------------------------------------
_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<number>[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<string>'(?:[^'\\]|''|\\.)*')
  | (?P<quoted>"(?:[^"]|"")*")
  | (?P<op><>|!=|<=|>=|=|<|>|\(|\)|,)
  | (?P<word>[^\W\d][\w.:]*)
""", re.VERBOSE | re.UNICODE)
_KEYWORDS = {"AND", "OR", "NOT", "IS", "NULL", "LIKE", "ILIKE", "IN", "BETWEEN", "TRUE", "FALSE"}


@dataclass(frozen=True)
class Token:
    kind: str  # number, string, quoted, op, word, end
    text: str
    at: int

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "word" else self.text


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"''|\\'|\\\\", lambda m: {"''": "'", "\\'": "'", "\\\\": "\\"}[m.group()], body)


def tokens(text: str) -> list[Token]:
    out, at = [], 0
    while at < len(text):
        m = _TOKEN.match(text, at)
        if m is None:
            bad = text[at]
            what = "an unclosed quote" if bad in "'\"" else f"the character {bad!r}"
            raise InvalidParameter(f"filter: {what} at position {at + 1} cannot be read; texts go in single "
                                   "quotes ('住宅'), names with spaces in double quotes", parameter=PARAMETER)
        if m.lastgroup != "ws":
            out.append(Token(m.lastgroup, m.group(), at))
        at = m.end()
    out.append(Token("end", "", len(text)))
    return out


# -- the parser --------------------------------------------------------------------------------
class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = tokens(text)
        self.i = 0

    # helpers
    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def take(self) -> Token:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def at_word(self, *words: str) -> bool:
        return self.tok.kind == "word" and self.tok.upper in words

    def at_op(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in ops

    def fail(self, expected: str):
        tok = self.tok
        found = "the end of the filter" if tok.kind == "end" else repr(tok.text)
        raise InvalidParameter(f"filter: expected {expected} at position {tok.at + 1}, found {found}",
                               parameter=PARAMETER)

    def expect_op(self, op: str) -> None:
        if not self.at_op(op):
            self.fail(repr(op))
        self.take()

    def expect_word(self, word: str) -> None:
        if not self.at_word(word):
            self.fail(word)
        self.take()

    # grammar: or > and > not > predicate
    def parse(self):
        if self.tok.kind == "end":
            self.fail("a condition such as name_zh = '华夏城'")
        expr = self.disjunction()
        if self.tok.kind != "end":
            self.fail("AND, OR or the end of the filter")
        return expr

    def disjunction(self):
        items = [self.conjunction()]
        while self.at_word("OR"):
            self.take()
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def conjunction(self):
        items = [self.negation()]
        while self.at_word("AND"):
            self.take()
            items.append(self.negation())
        return items[0] if len(items) == 1 else And(tuple(items))

    def negation(self):
        if self.at_word("NOT"):
            self.take()
            return Not(self.negation())
        return self.primary()

    def primary(self):
        if self.at_op("("):
            # a parenthesised condition, or a parenthesised scalar on the left of a comparison
            save = self.i
            self.take()
            try:
                expr = self.disjunction()
                self.expect_op(")")
            except InvalidParameter:
                expr = None  # not a condition: a parenthesised value, read below
            if expr is not None and not self._at_predicate_operator():
                return expr
            self.i = save
        if self.at_word("TRUE", "FALSE") and self._next_ends_condition():
            return Literal(self.take().upper == "TRUE")
        if self.tok.kind == "word" and self.tok.upper in SPATIAL and self.toks[self.i + 1].text == "(":
            op = SPATIAL[self.take().upper]
            self.expect_op("(")
            left = self.spatial_argument()
            self.expect_op(",")
            right = self.spatial_argument()
            self.expect_op(")")
            return Spatial(op, left, right)
        left = self.scalar()
        return self.predicate(left)

    def _at_predicate_operator(self) -> bool:
        return (self.tok.kind == "op" and self.tok.text in (*COMPARISONS, "!=")) or self.at_word(
            "LIKE", "ILIKE", "IN", "BETWEEN", "IS", "NOT")

    def _next_ends_condition(self) -> bool:
        nxt = self.toks[self.i + 1]
        return nxt.kind == "end" or nxt.text == ")" or (nxt.kind == "word" and nxt.upper in ("AND", "OR"))

    def predicate(self, left):
        negate = False
        if self.at_word("NOT"):
            self.take()
            negate = True
            if not self.at_word("LIKE", "ILIKE", "IN", "BETWEEN"):
                self.fail("LIKE, IN or BETWEEN after NOT")
        if self.tok.kind == "op" and self.tok.text in (*COMPARISONS, "!="):
            op = self.take().text
            return Compare("<>" if op == "!=" else op, left, self.scalar())
        if self.at_word("LIKE", "ILIKE"):
            nocase = self.take().upper == "ILIKE"
            return Like(left, self.scalar(), negate, nocase)
        if self.at_word("IN"):
            self.take()
            self.expect_op("(")
            values = [self.scalar()]
            while self.at_op(","):
                self.take()
                values.append(self.scalar())
            self.expect_op(")")
            return In(left, tuple(values), negate)
        if self.at_word("BETWEEN"):
            self.take()
            low = self.scalar()
            self.expect_word("AND")
            return Between(left, low, self.scalar(), negate)
        if self.at_word("IS"):
            self.take()
            is_not = False
            if self.at_word("NOT"):
                self.take()
                is_not = True
            self.expect_word("NULL")
            return IsNull(left, is_not)
        self.fail("a comparison (=, <>, <, >, <=, >=), LIKE, IN, BETWEEN or IS NULL")

    def scalar(self):
        tok = self.tok
        if tok.kind == "number":
            self.take()
            text = tok.text
            return Literal(int(text) if re.fullmatch(r"[+-]?\d+", text) else float(text))
        if tok.kind == "string":
            self.take()
            return Literal(_unquote(tok.text))
        if tok.kind == "quoted":
            self.take()
            return Property(tok.text[1:-1].replace('""', '"'))
        if tok.kind == "op" and tok.text == "(":
            self.take()
            inner = self.scalar()
            self.expect_op(")")
            return inner
        if tok.kind == "word":
            word = tok.upper
            nxt = self.toks[self.i + 1]
            if word in ("TRUE", "FALSE"):
                self.take()
                return Literal(word == "TRUE")
            if word == "NULL":
                self.take()
                return Literal(None)
            if word in ("DATE", "TIMESTAMP") and nxt.text == "(":
                self.take()
                self.expect_op("(")
                if self.tok.kind != "string":
                    self.fail(f"a quoted ISO {word.lower()} such as '2021-11-18'")
                value = _unquote(self.take().text)
                self.expect_op(")")
                return Literal(_check_time(value, word.lower()), word.lower())
            if word == "CASEI" and nxt.text == "(":
                self.take()
                self.expect_op("(")
                inner = self.scalar()
                self.expect_op(")")
                return CaseI(inner)
            if nxt.text == "(" and word not in _KEYWORDS:
                raise InvalidParameter(
                    f"filter: the function {tok.text!r} (position {tok.at + 1}) is not supported; supported are "
                    "CASEI, DATE, TIMESTAMP and S_INTERSECTS", parameter=PARAMETER)
            if word in _KEYWORDS:
                self.fail("a property name, a number or a quoted text")
            self.take()
            return Property(tok.text)
        self.fail("a property name, a number or a quoted text")

    def spatial_argument(self):
        tok = self.tok
        if tok.kind == "word" and self.toks[self.i + 1].text == "(" and (
                tok.upper in GEOMETRY_TYPES or tok.upper in ("BBOX", "ENVELOPE")):
            return Geometry(self.geometry_literal())
        if tok.kind in ("word", "quoted") and tok.upper not in _KEYWORDS:
            self.take()
            return Property(tok.text[1:-1].replace('""', '"') if tok.kind == "quoted" else tok.text)
        self.fail("the geometry property or a geometry (POINT, LINESTRING, POLYGON, …, BBOX)")

    def geometry_literal(self):
        head = self.take()
        start = self.tok.at
        depth = 0
        numbers = []
        while True:
            tok = self.take()
            if tok.kind == "end":
                raise InvalidParameter(f"filter: the geometry {head.text} at position {head.at + 1} is not "
                                       "closed; a ')' is missing", parameter=PARAMETER)
            if tok.text == "(":
                depth += 1
            elif tok.text == ")":
                depth -= 1
                if depth == 0:
                    break
            elif tok.kind == "number":
                numbers.append(float(tok.text))
            elif not (tok.text == "," or (tok.kind == "word" and tok.upper in (*GEOMETRY_TYPES, "EMPTY", "Z"))):
                raise InvalidParameter(f"filter: {tok.text!r} (position {tok.at + 1}) does not belong in the "
                                       f"geometry {head.text}", parameter=PARAMETER)
        if head.upper in ("BBOX", "ENVELOPE"):
            return _box(head.upper, numbers, head.at)
        text = head.text.upper() + self.text[start:tok.at + 1]
        try:
            geom = shapely_wkt.loads(text)
        except shapely.errors.GEOSException:
            raise InvalidParameter(f"filter: the geometry at position {head.at + 1} is not valid WKT, e.g. "
                                   "POINT(122.1 37.5) or POLYGON((122 37.4,122.2 37.4,122.2 37.6,122 37.4))",
                                   parameter=PARAMETER) from None
        if geom.is_empty:
            raise InvalidParameter(f"filter: the geometry at position {head.at + 1} is empty", parameter=PARAMETER)
        return geom


def _box(kind: str, numbers: list[float], at: int):
    """BBOX(minx, miny, maxx, maxy) (CQL2 1.0; 6 numbers with heights); ENVELOPE(west, east, north,
    south), the order of the CQL drafts and ECQL."""
    if kind == "BBOX" and len(numbers) in (4, 6):
        minx, miny, maxx, maxy = numbers if len(numbers) == 4 else (numbers[0], numbers[1], numbers[3], numbers[4])
    elif kind == "ENVELOPE" and len(numbers) == 4:
        minx, maxx, maxy, miny = numbers
    else:
        order = "minx, miny, maxx, maxy" if kind == "BBOX" else "west, east, north, south"
        raise InvalidParameter(f"filter: {kind} at position {at + 1} takes four numbers ({order})",
                               parameter=PARAMETER)
    if minx > maxx or miny > maxy:
        order = "minx, miny, maxx, maxy" if kind == "BBOX" else "west, east, north, south"
        raise InvalidParameter(f"filter: {kind} at position {at + 1} has its lower corner above its upper one; "
                               f"give {order}", parameter=PARAMETER)
    return shapely.box(minx, miny, maxx, maxy)


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def _check_time(value: str, kind: str) -> str:
    if not (_DATE if kind == "date" else _TIMESTAMP).match(value):
        example = "2021-11-18" if kind == "date" else "2021-11-18T08:00:00Z"
        raise InvalidParameter(f"filter: {kind.upper()}({value!r}) is not an ISO {kind}; write e.g. "
                               f"{kind.upper()}('{example}')", parameter=PARAMETER)
    return value


def parse(text: str):
    """The tree of a CQL2 text filter; InvalidParameter(parameter="filter") naming what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidParameter("filter is empty; give a CQL2 condition such as category = 'scenic_area'",
                               parameter=PARAMETER)
    if len(text) > MAX_LENGTH:
        raise InvalidParameter(f"filter must be at most {MAX_LENGTH} characters", parameter=PARAMETER)
    return _Parser(text).parse()
