"""Accounts, roles and the security log of the atlas, with no Flask: ``policy`` (who may do what,
pure functions), ``db`` (the accounts database: users, grants, layer settings, events), ``tokens``
(API tokens), ``visible`` (a store as one principal sees it). ``layers.web.auth`` is the Flask glue."""
from .db import Accounts
from .errors import AccessError, AccountDisabled, Forbidden, InvalidToken, Locked, LoginFailed, LoginRequired
from .policy import ROLES, Principal, may_read, may_write, require, visible_layers

__all__ = ["Accounts", "AccessError", "AccountDisabled", "Forbidden", "InvalidToken", "Locked", "LoginFailed",
           "LoginRequired", "ROLES", "Principal", "may_read", "may_write", "require", "visible_layers"]
