"""Who may do what: roles, the acting principal and the permission checks, as pure functions.

Roles rise ``viewer`` < ``editor`` < ``admin``; anonymous is no principal at all (None). Whether
anonymous visitors may read is the ``anonymous`` policy (``VIEW`` or ``NONE``). An editor writes a
layer only with a grant for it (a layer name, or ``*`` for all); an admin writes every layer and
manages users, grants, tokens and layer settings. A hidden layer is absent (404, never 403) for
anonymous visitors and viewers, and for editors without a grant for it.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from geo.errors import InvalidParameter, NotFound

from .errors import Forbidden, LoginRequired, WeakPassword

ROLES = ("viewer", "editor", "admin")
ANONYMOUS = ("VIEW", "NONE")
ALL = "*"
#: action -> the least role it needs (read and export: see ``needed_role``)
ACTIONS = {"read": "viewer", "export": "viewer", "edit": "editor", "token": "viewer", "admin": "admin"}
USER_NAME = re.compile(r"^[\w.\-]{1,64}$")  # letters of any script (张三), digits, _ . -
MIN_PASSWORD = 10
PASSWORD_RULE = (f"a password needs at least {MIN_PASSWORD} characters, of at least two kinds of letters, "
                 "digits and other characters, and must not contain the user name "
                 f"(密码至少{MIN_PASSWORD}个字符，包含字母、数字、其他字符中的至少两类，且不得包含用户名)")


def rank(role: str | None) -> int:
    """0 for anonymous, then 1, 2, 3 for viewer, editor, admin."""
    return 0 if role is None else ROLES.index(role) + 1


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidParameter(f"role must be one of {', '.join(ROLES)}, got {role!r}", parameter="role")
    return role


def check_name(name: str) -> str:
    if not isinstance(name, str) or not USER_NAME.match(name):
        raise InvalidParameter("a user name is 1 to 64 letters (any script), digits, '_', '.' or '-', "
                               f"e.g. zhang.san or 张三; got {name!r}", parameter="name")
    return name


def check_password(password: str, name: str) -> str:
    """The minimum strength, explained when it is not met."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise WeakPassword(f"too short: {PASSWORD_RULE}", parameter="password")
    kinds = (any(c.isalpha() for c in password), any(c.isdigit() for c in password),
             any(not c.isalnum() for c in password))
    if sum(kinds) < 2:
        raise WeakPassword(f"only one kind of character: {PASSWORD_RULE}", parameter="password")
    if name and name.lower() in password.lower():
        raise WeakPassword(f"it contains the user name: {PASSWORD_RULE}", parameter="password")
    return password


@dataclass(frozen=True)
class Principal:
    """Whoever acts: a logged-in user, or a user's API token (``token`` is its name; ``role`` then
    the lower of the token's and the owner's). Plain Python; it also has the four members
    Flask-Login asks of a user object."""

    name: str
    role: str
    grants: frozenset[str] = field(default_factory=frozenset)
    token: str | None = None
    generation: int = 0  # bumped by a password change, disabling or a role change: old sessions end

    @property
    def actor(self) -> str:
        """The name in the revision and security logs."""
        return self.name if self.token is None else f"token:{self.token}@{self.name}"

    def public(self) -> dict:
        return {"name": self.name, "role": self.role, "grants": sorted(self.grants),
                **({"token": self.token} if self.token else {})}

    # -- Flask-Login's user protocol (no Flask imported) --
    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self) -> str:
        return f"{self.generation}:{self.name}"


def may_write(principal: Principal | None, layer: str) -> bool:
    if principal is None:
        return False
    return principal.role == "admin" or (principal.role == "editor" and bool({ALL, layer} & principal.grants))


def may_see_hidden(principal: Principal | None, layer: str) -> bool:
    """Hidden layers are seen by admins and by editors granted them."""
    return principal is not None and (principal.role == "admin" or
                                      (principal.role == "editor" and bool({ALL, layer} & principal.grants)))


def may_read(principal: Principal | None, layer: str, *, hidden: Iterable[str] = (), anonymous: str = "VIEW") -> bool:
    if principal is None and anonymous != "VIEW":
        return False
    return layer not in set(hidden) or may_see_hidden(principal, layer)


def visible_layers(principal: Principal | None, all_layers: Sequence[str], *, hidden: Iterable[str] = (),
                   anonymous: str = "VIEW") -> list[str]:
    """The layers ``principal`` may list and read, in the order given."""
    hidden = set(hidden)
    return [n for n in all_layers if may_read(principal, n, hidden=hidden, anonymous=anonymous)]


def needed_role(action: str, anonymous: str = "VIEW") -> str | None:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; the actions are {', '.join(ACTIONS)}")
    if action in ("read", "export") and anonymous == "VIEW":
        return None
    return ACTIONS[action]


def require(principal: Principal | None, action: str, layer: str | None = None, *, hidden: Iterable[str] = (),
            anonymous: str = "VIEW") -> None:
    """Nothing if ``principal`` may do ``action`` (on ``layer``); else LoginRequired (401, nobody
    logged in), Forbidden (403, role or grant missing) or NotFound (404, a hidden layer read by one
    who may not see it), each naming the role needed."""
    role = needed_role(action, anonymous)
    if layer is not None and layer in set(hidden) and not may_see_hidden(principal, layer):
        raise NotFound(f"no layer {layer!r}; the layers are listed at /api/layers", parameter="layer")
    if role is None:
        return
    if principal is None:
        what = f" on layer {layer}" if layer else ""
        raise LoginRequired(f"{action}{what} needs a login with role {role} or higher; log in first "
                            "(POST /api/session, or send Authorization: Bearer <token>) (请先登录)", role=role)
    if action == "edit":
        if not may_write(principal, layer or ""):
            raise Forbidden(f"editing layer {layer} needs role editor with a grant for layer {layer} (or admin); "
                            f"{principal.name} is {principal.role}"
                            f"{' with grants ' + ','.join(sorted(principal.grants)) if principal.grants else ' without grants'}"
                            f"; ask an admin to grant it (flask --app server users grant {principal.name} {layer}) "
                            "(无此图层的编辑权限)", role="editor")
        return
    if rank(principal.role) < rank(role):
        raise Forbidden(f"{action} needs role {role}; {principal.name} is {principal.role}"
                        f"{' (via token ' + principal.token + ')' if principal.token else ''}; "
                        f"ask an admin for the role (权限不足，需要{role}角色)", role=role)
