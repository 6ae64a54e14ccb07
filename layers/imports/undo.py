"""An import taken back, Flask-free: the revision an import wrote undone as a new revision, so the
log keeps both. A new layer is dropped (its history kept: it can be brought back like any dropped
layer); an append or an upsert is undone by restoring the layer as it was just before the import.
Only while the import is the layer's latest change: undoing it after later edits would undo those
too, so that is refused with what to do instead (the change log restores single features, an
admin restores the layer to a time)."""
from __future__ import annotations

from geo.errors import Conflict, InvalidParameter
from geo.store import Revision, Store


def undo(store: Store, done: dict, *, actor: str, file: str, message: str = "") -> Revision:
    """Undo ``done`` ({"layer", "mode", "revision"}: what a commit wrote) as one revision by ``actor``."""
    layer, mode, revision = done.get("layer"), done.get("mode"), done.get("revision")
    if not isinstance(revision, int) or mode not in ("new", "append", "upsert"):
        raise InvalidParameter("this import wrote nothing to undo", parameter="id")
    if done.get("undone"):
        raise Conflict(f"the import of {file} into {layer!r} was undone already (revision {done['undone']})",
                       parameter="id")
    if layer not in store.layers():
        raise Conflict(f"layer {layer!r} is not in the atlas any more (dropped after the import of {file}); "
                       "nothing to undo", parameter="id")
    last = store.history(layer=layer, limit=1)
    if last and last[0].id != revision:
        raise Conflict(f"layer {layer!r} was changed after the import of {file} (revision {last[0].id} by "
                       f"{last[0].actor}); undoing the import would undo that too: undo single features in the "
                       "change log, or ask an admin to restore the layer to a time", parameter="id")
    text = message or f"undo the import of {file} (revision {revision})"
    if mode == "new":
        return store.drop_layer(layer, actor=actor, message=text)
    return store.restore_layer(layer, revision_id=revision - 1, actor=actor, message=text)
