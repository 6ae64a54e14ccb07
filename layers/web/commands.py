"""``flask --app server users …`` and ``… audit log``: accounts from the command line, so a fresh
install gets its first admin and an operator can act without the page. Each message says what to
do next. Changes are recorded in the security log as made by ``cli:<operating-system user>``."""
from __future__ import annotations

import getpass
import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from geo.errors import GeoError
from layers.accounts import ROLES
from layers.accounts.policy import PASSWORD_RULE

ROLE = click.Choice(ROLES)


def _book():
    return current_app.extensions["atlas_accounts"]


def _who() -> dict:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (a container)
        name = "unknown"
    return {"by": f"cli:{name}", "address": "local"}


def _run(fn, *args, **kwargs):
    """Call ``fn``; a GeoError becomes its message and exit status 2 (the operator's own terminal)."""
    try:
        return fn(*args, **kwargs)
    except GeoError as exc:
        click.echo(f"error: {exc.detail}", err=True)
        sys.exit(2)


def _password(name: str, from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    click.echo(PASSWORD_RULE)
    return click.prompt(f"password for {name}", hide_input=True, confirmation_prompt=True)


def _layers(value: str) -> list[str]:
    layers = current_app.extensions["atlas_store"].layers()
    items = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in items if v not in (*layers, "*")]
    if unknown or not items:
        click.echo(f"error: unknown layer {unknown[0] if unknown else value!r}; the layers are "
                   f"{', '.join(layers)} (or * for all)", err=True)
        sys.exit(2)
    return items


def _describe(user: dict) -> str:
    state = "disabled" if user["disabled"] else ("locked until " + user["locked_until"]
                                                 if user["locked_until"] else "active")
    return (f"{user['name']:<20} {user['role']:<7} {state:<30} grants: {','.join(user['grants']) or '-':<20} "
            f"last login: {user['last_login'] or 'never'}")


@click.group("users")
def users():
    """Users, roles, grants and API tokens of the atlas."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=ROLE, default="viewer", show_default=True)
@click.option("--password-stdin", is_flag=True, help="read the password from the first line of stdin")
@with_appcontext
def add(name, role, password_stdin):
    """Add a user (asks for the password twice)."""
    user = _run(_book().add_user, name, role, _password(name, password_stdin), **_who())
    click.echo(f"added {user['name']} as {role}.")
    if role == "editor":
        click.echo(f"next: grant the layers they edit, e.g. flask --app server users grant {name} roads,projects")
    elif role == "admin":
        click.echo("next: log in on the map page with this name and password")


@users.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="read the password from the first line of stdin")
@with_appcontext
def passwd(name, password_stdin):
    """Set a user's password (their sessions end)."""
    _run(_book().user, name)
    _run(_book().set_password, name, _password(name, password_stdin), **_who())
    click.echo(f"password of {name} changed; their open sessions have ended.")


@users.command("role")
@click.argument("name")
@click.argument("role", type=ROLE)
@with_appcontext
def role(name, role):
    """Change a user's role."""
    _run(_book().set_role, name, role, **_who())
    click.echo(f"{name} is now {role}.")


@users.command("grant")
@click.argument("name")
@click.argument("layers")
@with_appcontext
def grant(name, layers):
    """Let an editor edit LAYERS (comma-separated, or * for all)."""
    user = _run(_book().set_grants, name, _layers(layers), add=True, **_who())
    click.echo(f"{name} may edit: {','.join(user['grants'])}.")
    if user["role"] == "viewer":
        click.echo(f"note: {name} is a viewer; grants let editors edit (flask --app server users role {name} editor)")


@users.command("revoke")
@click.argument("name")
@click.argument("layers")
@with_appcontext
def revoke(name, layers):
    """Take back grants for LAYERS (comma-separated)."""
    user = _run(_book().set_grants, name, _layers(layers), add=False, **_who())
    click.echo(f"{name} may edit: {','.join(user['grants']) or 'no layer'}.")


@users.command("disable")
@click.argument("name")
@with_appcontext
def disable(name):
    """Disable a user: no login, their sessions and tokens stop working."""
    _run(_book().set_disabled, name, True, **_who())
    click.echo(f"{name} is disabled; enable again with flask --app server users enable {name}")


@users.command("enable")
@click.argument("name")
@with_appcontext
def enable(name):
    """Enable a user again (also lifts a lockout after failed logins)."""
    _run(_book().set_disabled, name, False, **_who())
    click.echo(f"{name} is enabled and may log in.")


@users.command("list")
@with_appcontext
def list_users():
    """Every user with role, state, grants and last login."""
    found = _book().users()
    for user in found:
        click.echo(_describe(user))
    if not found:
        click.echo("no users yet; add the first admin: flask --app server users add NAME --role admin")


@users.command("status")
@with_appcontext
def status():
    """Whether an admin exists; if none, how to make the first (make run prints this)."""
    if not _book().has_admin():
        click.echo("no admin yet (尚无管理员): create one with  flask --app server users add NAME --role admin")
    else:
        click.echo(f"{len(_book().users())} user(s); manage them with flask --app server users --help")


@users.command("token")
@click.argument("name")
@click.option("--name", "token_name", required=True, help="what uses the token, e.g. nightly-export")
@click.option("--role", type=ROLE, help="at most the owner's role (default: theirs)")
@with_appcontext
def token(name, token_name, role):
    """Make an API token acting as NAME; it is printed once, keep it."""
    owner = _run(_book().user, name)
    made = _run(_book().create_token, owner["name"], token_name, role or owner["role"], **_who())
    click.echo(made["token"])
    click.echo(f"token {made['id']} ({made['name']}, {made['role']}) of {made['owner']}: shown only now. Send it as "
               f"'Authorization: Bearer <token>'; revoke with flask --app server users revoke-token {made['id']}",
               err=True)


@users.command("tokens")
@click.argument("name", required=False)
@with_appcontext
def tokens(name):
    """API tokens (of NAME, or all), never their secret."""
    for t in _book().tokens(name):
        state = f"revoked {t['revoked_at']}" if t["revoked"] else f"last used {t['last_used'] or 'never'}"
        click.echo(f"{t['id']:>5} {t['name']:<20} {t['owner']:<20} {t['role']:<7} {state}")


@users.command("revoke-token")
@click.argument("token_id", type=int)
@with_appcontext
def revoke_token(token_id):
    """Revoke an API token by its id (users tokens lists them)."""
    _run(_book().revoke_token, token_id, **_who())
    click.echo(f"token {token_id} revoked; anything using it now gets 401.")


@click.group("audit")
def audit():
    """The security log (and, with the revision log, its checks)."""


@audit.command("log")
@click.option("--since", help="ISO 8601 date or time (UTC), e.g. 2026-12-01")
@click.option("--until", help="ISO 8601 date or time (UTC)")
@click.option("--user", help="only this user (or token:<name>@<user>)")
@click.option("--action", help="only this action, e.g. login_failed")
@click.option("--limit", type=click.IntRange(1, 100_000), default=1000, show_default=True)
@with_appcontext
def audit_log(since, until, user, action, limit):
    """Security events, newest first: time, user, address, action, outcome, detail."""
    for e in _run(_book().events, user=user, action=action, since=since, until=until, limit=limit):
        click.echo("\t".join(str(e[k] if e[k] is not None else "-")
                             for k in ("time", "user", "address", "action", "outcome", "detail")))
