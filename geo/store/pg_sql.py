"""SQL pieces of the PostGIS store over a layer's columns (names already checked against its schema;
values always parameters): how a column is read, ordered and compared with SQLite's meaning (text
by code point, booleans as 0/1, NULL the smallest, numbers before text), filter values typed for
their column, and the keyset condition of a cursor (a row-value comparison, one index range,
wherever it means the same as the general form).

**A field's name in a statement.** A planner's field may be named ``增长率%`` or ``占比%s``, and
psycopg reads a statement for placeholders whenever it is executed with parameters (even ``()``),
the text of its identifiers included; one executed without (``None``) is sent as it is. So:

- a field's identifier is ``field(name)`` (its ``%`` doubled), never ``sql.Identifier(name)``, and
  every statement holding one (``col``, ``read_expr``, ``filter_column``…) is executed with
  parameters, ``()`` when it has none (DDL too);
- the two places a field's name reaches SQL as it is are statements given no parameters, which
  hold no ``field()``: a COPY's column list (``copy_columns``; psycopg reads a COPY for
  placeholders only when its parameters are not empty) and the key as the triggers' argument (a
  literal, ``pg_ddl.install_triggers``).
"""
from __future__ import annotations

from psycopg import sql


def field(name: str) -> sql.Identifier:
    """A field's identifier in a statement executed with parameters: its ``%`` doubled (psycopg
    reads them as ``%``; see the module's rule)."""
    return sql.Identifier(name.replace("%", "%%"))


def copy_columns(names) -> sql.Composable:
    """The column list of a ``COPY … FROM STDIN`` (given no parameters): the names as they are."""
    return sql.SQL(", ").join(map(sql.Identifier, names))


def col(name: str) -> sql.Composable:
    return sql.SQL("t.{}").format(field(name))


def filter_column(name: str, kind: str) -> str:
    """A field as a CQL2 filter (``geo.store.where``, which writes SQL text) compares it, with
    SQLite's meaning: text by code point (the "C" collation, whatever the database's), dates as
    their ISO text (a malformed date in a filter then matches what it matches on the GeoPackage
    store instead of failing a cast)."""
    quoted = col(name).as_string(None)
    if kind == "str":
        return f'{quoted} COLLATE "C"'
    if kind == "date":
        return f"to_char({quoted}, 'YYYY-MM-DD') COLLATE \"C\""
    return quoted


def read_expr(name: str, kind: str) -> sql.Composable:
    """A column as read: dates as ISO text, the rest as they are."""
    if kind == "date":
        return sql.SQL("to_char(t.{}, 'YYYY-MM-DD')").format(field(name))
    return col(name)


def order_expr(name: str, kind: str) -> sql.Composable:
    """A column as ordered and compared: text by code point (as SQLite and Python), booleans as 0/1,
    dates as their ISO text."""
    if kind in ("str", "json"):
        return sql.SQL('t.{} COLLATE "C"').format(field(name))
    if kind == "bool":
        return sql.SQL("t.{}::int").format(field(name))
    if kind == "date":
        return sql.SQL("to_char(t.{}, 'YYYY-MM-DD') COLLATE \"C\"").format(field(name))
    return col(name)


NUMERIC = ("int", "float", "bool")


def compare(name: str, kind: str, op: str, value) -> tuple[sql.Composable, list]:
    """``column op value`` with SQLite's order across types (numbers before text), so a cursor or a
    bound of the other type selects what it selects on the GeoPackage store and never fails."""
    numeric_value = isinstance(value, (int, float)) and not isinstance(value, bool)
    if (kind in NUMERIC) != numeric_value:
        # a number column against text: every number is smaller; a text column against a number: larger
        smaller = kind in NUMERIC
        truth = {"<": smaller, "<=": smaller, ">": not smaller, ">=": not smaller, "=": False}[op]
        return sql.SQL("({} IS NOT NULL AND {})").format(col(name), sql.SQL("true" if truth else "false")), []
    if numeric_value:
        return sql.SQL("{} {} %s").format(order_expr(name, kind), sql.SQL(op)), [value]
    return sql.SQL("{} {} %s::text").format(order_expr(name, kind), sql.SQL(op)), [value]


def typed_values(values, kind: str) -> list:
    """Filter values (text from a request) as values of the column's type; one that cannot be one
    matches nothing, so it is left out (never a failed statement)."""
    out = []
    for v in values:
        try:
            if kind == "int":
                f = float(v)
                if f.is_integer():
                    out.append(int(f))
            elif kind == "float":
                out.append(float(v))
            elif kind == "bool":
                b = {"1": True, "0": False, "true": True, "false": False}.get(str(v).lower())
                if b is not None:
                    out.append(b)
            elif kind == "date":
                out.append(str(v))
            else:
                out.append(str(v))
        except (TypeError, ValueError):
            continue
    return out


def _row_value(order, after, kinds: dict, never_null) -> tuple[sql.Composable, list] | None:
    """``(a, b, key) > (%s, %s, %s)`` (``<`` descending) when it means what the runs mean: every
    field in one direction, no NULL in the cursor, each value of its column's kind (numbers or
    text); descending, only when no field can be NULL (NULL, the smallest, comes after the cursor
    then, and a row comparison with a NULL is not true). One range of a btree index on those
    fields (the key's unique index: ``pg_ddl.index_layer``), where the runs ORed are none."""
    directions = {d for _, d in order}
    if len(directions) != 1 or any(v is None for v in after):
        return None
    descending = directions.pop()
    if descending and not all(n in never_null for n, _ in order):
        return None
    marks = []
    for (name, _), value in zip(order, after):
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        if (kinds[name] in NUMERIC) != numeric:
            return None
        marks.append(sql.SQL("%s") if numeric else sql.SQL("%s::text"))
    exprs = [order_expr(n, kinds[n]) for n, _ in order]
    op = sql.SQL("<" if descending else ">")
    if len(order) == 1:
        return sql.SQL("{} {} {}").format(exprs[0], op, marks[0]), list(after)
    return (sql.SQL("({}) {} ({})").format(sql.SQL(", ").join(exprs), op, sql.SQL(", ").join(marks)),
            list(after))


def keyset(order, after, kinds: dict, *, never_null=frozenset()) -> tuple[sql.Composable, list]:
    """The rows beyond the cursor ``after`` in ``order`` (see gpkg_table: the runs "equal on the
    fields before, beyond on this one", NULL the smallest): a row-value comparison where that means
    the same (``_row_value``), else the runs ORed in one condition. ``never_null``: fields known to
    hold no NULL (their "is NULL" runs are left out)."""
    fast = _row_value(order, after, kinds, never_null)
    if fast is not None:
        return fast
    runs, params = [], []
    for i in range(len(order) - 1, -1, -1):
        prefix, values = [], []
        for (name, _), value in zip(order[:i], after[:i]):
            if value is None:
                prefix.append(sql.SQL("{} IS NULL").format(col(name)))
            else:
                c, p = compare(name, kinds[name], "=", value)
                prefix.append(c)
                values += p
        name, descending = order[i]
        value = after[i]
        if value is None:
            if not descending:
                runs.append((prefix + [sql.SQL("{} IS NOT NULL").format(col(name))], values))
            continue
        c, p = compare(name, kinds[name], "<" if descending else ">", value)
        runs.append((prefix + [c], values + p))
        if descending and name not in never_null:
            runs.append((prefix + [sql.SQL("{} IS NULL").format(col(name))], values))
    if not runs:
        return sql.SQL("false"), []
    parts = []
    for conds, values in runs:
        parts.append(sql.SQL("(") + sql.SQL(" AND ").join(conds) + sql.SQL(")"))
        params += values
    return sql.SQL("(") + sql.SQL(" OR ").join(parts) + sql.SQL(")"), params


def order_clause(order, kinds: dict) -> sql.Composable:
    return sql.SQL("ORDER BY ") + sql.SQL(", ").join(
        sql.SQL("{} {}").format(order_expr(n, kinds[n]), sql.SQL("DESC NULLS LAST" if d else "ASC NULLS FIRST"))
        for n, d in order)
