"""What the atlas knows of a layer the catalog does not describe (e.g. one made by an import): its
title, its fields' titles (the planner's own names, which the store keeps under safe ASCII names)
and a style by one of its text fields (each category a colour of ``style.PALETTE``, in order).

All of it is one JSON document of the store (``DOCUMENT``), ``{layer: entry}``, each entry::

    {"title": {"zh": "绿地", "en": "Green space"},
     "fields": {"field": {"zh": "名称", "en": "名称"}, "field_2": {"zh": "🌳", "en": "🌳"}},
     "style": {"by": "field_3",
               "categories": {"林地": {"color": "#0072B2", "label": {"zh": "林地", "en": "林地"}}, ...},
               "order": ["林地", ...]}}

``style`` is None for a layer drawn in one colour. The categories are the field's values, the most
frequent first (ties in the order they first appear: ``order``, as the store sorts a document's
keys), at most ``MAX_CATEGORIES``; other values are
drawn in the layer's default colour and the legend calls them "other" (``style.field_style``).

Nothing here escapes anything (the page writes every text as text); control characters are
refused in what a caller gives, and removed from what a file gives (its field names, its values
as labels). Flask-free.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from geo.errors import InvalidParameter
from geo.store import Field, Query, Store

from . import catalog, style

#: The store document that holds every entry.
DOCUMENT = "layermeta"
#: The longest title (of a layer, a field, a category's label), in characters.
MAX_TITLE = 100
#: Categories given a colour of their own (the palette's length); more values are "other".
MAX_CATEGORIES = len(style.PALETTE)
#: A field with more different values than this is no field of categories: refused as a style.
MAX_DISTINCT = 50
#: Unicode categories refused in a title: controls (tab, line feed, ...), lone surrogates, the line
#: and paragraph separators.
_CONTROL = frozenset({"Cc", "Cs", "Zl", "Zp"})


def _has_control(text: str) -> bool:
    return any(unicodedata.category(c) in _CONTROL for c in text)


def _clean(text: str) -> str:
    """A name from a file as a title: control characters become spaces, at most ``MAX_TITLE``."""
    text = "".join(" " if unicodedata.category(c) in _CONTROL else c for c in str(text)).strip()
    return text if len(text) <= MAX_TITLE else text[:MAX_TITLE - 1] + "…"


def _text(value, what: str, parameter: str) -> str | None:
    """A title a caller gives: text, no control characters, at most ``MAX_TITLE`` characters;
    None or blank is "not given"."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidParameter(f"{what} must be text, got {type(value).__name__}", parameter=parameter)
    value = value.strip()
    if _has_control(value):
        raise InvalidParameter(f"{what} must not contain control characters (line breaks, tabs): {value!r}",
                               parameter=parameter)
    if len(value) > MAX_TITLE:
        raise InvalidParameter(f"{what} must be at most {MAX_TITLE} characters, it has {len(value)}",
                               parameter=parameter)
    return value or None


def _types(fields) -> dict[str, str]:
    """name -> type of ``fields`` (store Fields, or a mapping name -> type)."""
    if isinstance(fields, Mapping):
        return dict(fields)
    return {f.name: f.type for f in fields}


def _pair(value, what: str, parameter: str) -> dict[str, str] | None:
    """A title as {zh, en} from text (both) or a mapping (a missing one is the other)."""
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - {"zh", "en"})
        if unknown:
            raise InvalidParameter(f"{what} has zh and en, not {unknown[0]!r}", parameter=parameter)
        zh, en = _text(value.get("zh"), f"{what} (zh)", parameter), _text(value.get("en"), f"{what} (en)", parameter)
    else:
        zh = en = _text(value, what, parameter)
    if zh is None and en is None:
        return None
    return {"zh": zh or en, "en": en or zh}


def file_titles(inspected: Sequence[Mapping]) -> dict[str, dict[str, str]]:
    """The field titles an import gives: each inspected field (``{"name": <in the file>, "store":
    <store name>}``) titled with its name in the file, cleaned (``_clean``)."""
    out = {}
    for f in inspected:
        title = _clean(f["name"])
        if title:
            out[f["store"]] = {"zh": title, "en": title}
    return out


# -- categories --------------------------------------------------------------------------------
def _counts(values) -> tuple[list, np.ndarray, int]:
    """(distinct values as text in the order they first appear, their counts, how many values are
    not empty): the rows hashed at once (``pd.factorize``), only the distinct values made text."""
    series = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)
    codes, uniques = pd.factorize(series, sort=False)  # a null is -1
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    totals: dict[str, int] = {}
    for value, count in zip(uniques, counts.tolist()):
        text = str(value)
        if text.strip():  # a blank is no category
            totals[text] = totals.get(text, 0) + count
    return list(totals), np.array(list(totals.values()), dtype=np.int64), sum(totals.values())


def _merge(chunks: Iterable) -> tuple[list, np.ndarray, int]:
    """``_counts`` over chunks of values, in order (e.g. a layer streamed from the store)."""
    totals: dict[str, int] = {}
    filled = 0
    for chunk in chunks:
        uniques, counts, n = _counts(chunk)
        filled += n
        for value, count in zip(uniques, counts.tolist()):
            totals[value] = totals.get(value, 0) + count
    return list(totals), np.array(list(totals.values()), dtype=np.int64), filled


def categories(values, *, field: str = "the field") -> dict[str, dict]:
    """The categories of ``values`` (a column's values, or an iterator of chunks of them; nulls and
    blanks are no category): the ``MAX_CATEGORIES`` most frequent (ties in the order they first
    appear), each a colour of the palette in that order and itself as its label. InvalidParameter
    when the values are no categories: none at all, more than ``MAX_DISTINCT`` different ones, or
    more than ``MAX_CATEGORIES`` with every feature its own (a name, a code)."""
    return _categories(*(_merge(values) if isinstance(values, Iterator) else _counts(values)), field)


def _categories(uniques: list, counts: np.ndarray, filled: int, field: str) -> dict[str, dict]:
    advice = "choose a field that sorts the features into a few kinds (a type, a use, a status), or no style field"
    if not uniques:
        raise InvalidParameter(f"the style field {field} has no values to colour by; {advice}", parameter="style_field")
    if len(uniques) > MAX_DISTINCT:
        raise InvalidParameter(f"the style field {field} has {len(uniques)} different values, more than the "
                               f"{MAX_DISTINCT} a style can tell apart; {advice}", parameter="style_field")
    if len(uniques) > MAX_CATEGORIES and len(uniques) == filled:
        raise InvalidParameter(f"the style field {field} gives every feature its own value (like a name or a "
                               f"code): no categories to colour by; {advice}", parameter="style_field")
    order = np.argsort(-counts, kind="stable")[:MAX_CATEGORIES]
    out = {}
    for colour, i in zip(style.PALETTE, order.tolist()):
        label = _clean(uniques[i]) or uniques[i]
        out[uniques[i]] = {"color": colour, "label": {"zh": label, "en": label}}
    return out


# -- an entry ----------------------------------------------------------------------------------
def entry(layer: str, fields, *, title_zh: str | None = None, title_en: str | None = None,
          field_titles: Mapping | None = None, style_field: str | None = None, values=None) -> dict:
    """The checked entry of ``layer`` with ``fields`` (its store Fields, or name -> type), written
    nowhere. A missing title is the other one, or the layer's id; ``field_titles`` maps a field's
    store name to a text (both languages) or {zh, en}; ``values`` are the style field's values
    (a sequence, an array or a Series; or an iterator of chunks of them)."""
    if catalog.get(layer) is not None:
        raise InvalidParameter(f"layer {layer!r} is one of the catalog's (layers/catalog.py): its titles and style "
                               "are set there", parameter="layer")
    types = _types(fields)
    zh = _text(title_zh, "the layer's Chinese title (title_zh)", "title_zh")
    en = _text(title_en, "the layer's English title (title_en)", "title_en")
    titles = {}
    for name, value in (field_titles or {}).items():
        if name not in types:
            raise InvalidParameter(f"field_titles names {name!r}, which is not a field of layer {layer!r}; its "
                                   f"fields are {', '.join(types)}", parameter="field_titles")
        pair = _pair(value, f"the title of field {name!r}", "field_titles")
        if pair is not None:
            titles[name] = pair
    return {"title": {"zh": zh or en or layer, "en": en or zh or layer}, "fields": titles,
            "style": None if style_field is None else _style(layer, types, titles, style_field, values)}


def for_import(layer: str, fields: Sequence[Field], inspected: Sequence[Mapping], frame, *,
               title_zh: str | None = None, title_en: str | None = None, style_field: str | None = None) -> dict | None:
    """The entry of the new layer an import makes of ``frame`` (its columns the store's names):
    the fields titled with their names in the file (``inspected``: the inspection's fields), the
    style by ``style_field`` named as in the file (or by its store name). None for a catalog layer
    when no style is asked (the catalog describes it)."""
    if catalog.get(layer) is not None and style_field is None:
        return None
    types = _types(fields)
    by = next((f["store"] for f in inspected if f["name"] == style_field), style_field)
    titles = {k: v for k, v in file_titles(inspected).items() if k in types}
    return entry(layer, fields, title_zh=title_zh, title_en=title_en, field_titles=titles, style_field=by,
                 values=frame[by] if by in types and by in frame.columns else None)


def _shown(name: str, titles: Mapping) -> str:
    """A field as the planner knows it: its title and, where it differs, its store name."""
    title = (titles.get(name) or {}).get("zh")
    return f"{title!r} (stored as {name!r})" if title and title != name else repr(name)


def _style(layer: str, types: Mapping, titles: Mapping, by: str, values) -> dict:
    text_fields = [n for n, t in types.items() if t == "str" and n != catalog.KEY]
    listed = ", ".join(_shown(n, titles) for n in text_fields) or "(none)"
    if not isinstance(by, str) or by not in types:
        raise InvalidParameter(f"the style field {by!r} is not a field of layer {layer!r}; choose one of its text "
                               f"fields, {listed}, or no style field", parameter="style_field")
    if types[by] != "str" or by == catalog.KEY:
        kind = {"int": "a number field (whole numbers)", "float": "a number field", "bool": "a yes/no field",
                "date": "a date field", "json": "a JSON field"}.get(types[by], f"a {types[by]} field")
        if by == catalog.KEY:
            kind = "the layer's key (every feature its own value)"
        raise InvalidParameter(f"the style field {_shown(by, titles)} is {kind}: a style colours the categories "
                               f"of a text field; choose one of {listed}, or no style field", parameter="style_field")
    if values is None:
        raise InvalidParameter(f"the values of the style field {by!r} are needed to make its categories",
                               parameter="style_field")
    cats = categories(values, field=_shown(by, titles))
    return {"by": by, "categories": cats, "order": list(cats)}


def ordered(style_entry: Mapping) -> dict[str, dict]:
    """The categories of an entry's style in their order (the most frequent first): the store keeps
    a document's keys sorted, so the order is kept as a list beside them."""
    cats = style_entry.get("categories") or {}
    order = [v for v in style_entry.get("order") or () if v in cats]
    return {**{v: cats[v] for v in order}, **cats}


# -- the document --------------------------------------------------------------------------------
def entries(store: Store) -> dict[str, dict]:
    """Every entry, by layer (a dropped layer's stays, for when it is brought back)."""
    document = store.document(DOCUMENT)
    return document if isinstance(document, dict) else {}


def get(store: Store, layer: str) -> dict | None:
    return entries(store).get(layer)


def _write(store: Store, layer: str, value: dict | None) -> dict | None:
    """Set (or, None, remove) the entry of ``layer``; returns the one it replaces."""
    document = entries(store)
    before = document.get(layer)
    if value is None:
        if before is None:
            return None
        document.pop(layer)
    else:
        document[layer] = value
    store.put_document(DOCUMENT, document)
    return before


def with_entry(layer: str, value: dict | None) -> dict:
    """``Store.create_layer(documents=...)`` for ``value`` as the entry of ``layer``: written in the
    layer's own transaction, so a layer that is not made leaves no entry ({} for no value)."""
    if value is None:
        return {}

    def change(document):
        document = dict(document) if isinstance(document, dict) else {}
        document[layer] = value
        return document

    return {DOCUMENT: change}


def put(store: Store, layer: str, *, title_zh: str | None = None, title_en: str | None = None,
        field_titles: Mapping | None = None, style_field: str | None = None, values=None,
        fields: Sequence[Field] | Mapping[str, str] | None = None) -> dict:
    """Check and write the entry of ``layer`` (replacing any: what is not given is the default).
    ``fields`` default to the layer's in the store (NotFound for an unknown layer), and the style
    field's ``values`` to its values in the store (read a column at a time)."""
    fields = store.fields(layer) if fields is None else fields
    if style_field is not None and values is None and isinstance(style_field, str) and \
            _types(fields).get(style_field) == "str":
        values = (chunk[style_field] for chunk in store.stream(layer, Query(columns=(style_field,))))
    value = entry(layer, fields, title_zh=title_zh, title_en=title_en, field_titles=field_titles,
                  style_field=style_field, values=values)
    _write(store, layer, value)
    return value
