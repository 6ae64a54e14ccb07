"""``flask --app server store backup PATH`` / ``store restore PATH`` / ``store copy SRC DST`` and
``audit verify``: the store from the command line. A backup is SQLite's online backup of the live store (consistent while
planners write) and, beside it, of the accounts database; a restore checks that the backup's
revision log verifies before it replaces anything."""
from __future__ import annotations

import sqlite3
import sys
from contextlib import closing
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from geo.errors import GeoError, StoreError
from geo.store import open_store, restore_backup

from .commands import _who, audit


def _store():
    return current_app.extensions["atlas_store"]


def _accounts_path() -> Path:
    return Path(current_app.extensions["atlas_accounts"].path)


def accounts_copy(path: Path) -> Path:
    """Where the accounts database's backup goes beside the store's: ``<name>.accounts.sqlite``."""
    return path.with_name(f"{path.stem}.accounts.sqlite")


@click.group("store")
def store():
    """Back up and restore the store (its layers, edits and revision log) and the accounts."""


@store.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def backup(path: Path):
    """A consistent copy of the live store at PATH (and its accounts beside it), safe while others write."""
    if path.exists():
        click.echo(f"error: {path} exists; give a new file name (e.g. with the date), nothing was written", err=True)
        sys.exit(2)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        _store().backup(path)
    except GeoError as exc:
        click.echo(f"error: {exc.detail}", err=True)
        sys.exit(2)
    report = open_store(path, key=_store().key).verify(seal=False)  # a GeoPackage, of either backend
    source = _accounts_path()
    if source.exists():
        with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(accounts_copy(path))) as dst:
            src.backup(dst)
        accounts_copy(path).chmod(0o600)
    who = _who()
    current_app.extensions["atlas_accounts"].record("backup", "ok", user=who["by"], address=who["address"],
                                                    detail=str(path))
    click.echo(f"backed up to {path} ({report.detail})" + (f" and {accounts_copy(path)}" if source.exists() else ""))


@store.command("copy")
@click.argument("src")
@click.argument("dst")
@click.option("--replace", is_flag=True, help="replace a store already at DST (else DST must be new)")
@with_appcontext
def copy(src: str, dst: str, replace: bool):
    """Copy the whole store SRC to DST, revisions included: each a .gpkg path or a postgresql:// URL
    (GeoPackage <-> PostGIS). DST appears complete or not at all; its log must verify as SRC's."""
    from geo.store import open_store
    from geo.store.copy import copy_store

    bar = click.progressbar(length=1, label="copying (features and log rows)", file=sys.stderr, show_pos=True)
    seen = [0]

    def progress(done: int, total: int) -> None:
        bar.length = max(total, 1)
        bar.update(done - seen[0])
        seen[0] = done

    try:
        with bar:
            report = copy_store(open_store(src, key=_store().key), dst, replace=replace, progress=progress)
    except GeoError as exc:
        click.echo(f"error: {exc.detail}; nothing was written to the destination", err=True)
        sys.exit(2)
    click.echo(f"copied to {_safe(dst)} ({report.detail}; head {report.head})")


def _safe(url: str) -> str:
    """A store URL without its password, for the terminal."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        host = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit((parts.scheme, f"{parts.username}:***@{host}", parts.path, parts.query, ""))
    return url


@store.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
@with_appcontext
def restore(path: Path, yes: bool):
    """Bring back the backup PATH as the store (stop the server first); its log must verify."""
    live = _store()
    target = Path(getattr(live, "path", Path("var") / "atlas.gpkg"))
    # a PostGIS store is kept as a GeoPackage under var/
    kept = target.with_name(f"{target.name}.before-restore" if hasattr(live, "path") else "atlas.before-restore.gpkg")
    if not yes:
        click.confirm(f"replace {live.url if not hasattr(live, 'path') else target} with {path}? Stop the server "
                      f"first; the current store is kept as {kept}", abort=True)
    if live.exists():
        live.backup(kept)
    try:
        if hasattr(live, "path"):
            report = restore_backup(path, target, key=live.key)
        else:  # PostGIS: the backup (a GeoPackage) copied into the store's schema, checked first
            from geo.store.copy import copy_store

            checked = open_store(path, key=live.key).verify(seal=False)
            if not checked.ok or not checked.entries:
                raise StoreError(f"{path.name} cannot be restored: its revision log does not "
                               f"verify ({checked.detail})")
            report = copy_store(open_store(path, key=live.key), live.url, replace=True)
    except GeoError as exc:
        click.echo(f"error: {exc.detail}; the store was left as it was", err=True)
        sys.exit(2)
    accounts = accounts_copy(path)
    if accounts.exists():
        with closing(sqlite3.connect(accounts)) as src, closing(sqlite3.connect(_accounts_path())) as dst:
            src.backup(dst)
    click.echo(f"restored {live.url if not hasattr(live, 'path') else target} from {path} ({report.detail}); "
               "start the server again")


@audit.command("verify")
@with_appcontext
def verify():
    """Recompute the revision log's hash chain: exit 0 when every entry verifies, 1 when not."""
    report = _store().verify()
    click.echo(report.detail + (f"; head {report.head}" if report.head else ""))
    if not report.ok:
        click.echo(f"the log does not verify from entry {report.first_bad}: it was changed outside the atlas; "
                   "restore the last good backup (store restore) and report it", err=True)
        sys.exit(1)
