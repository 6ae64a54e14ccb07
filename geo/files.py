"""Small facts about files and processes that the stores and the export jobs share."""
from __future__ import annotations

import os


def pid_alive(pid) -> bool:
    """Whether a process with this id exists on this machine (a leftover's owner may be gone)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False  # never os.kill(0 or -1, ...): those mean process groups
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, run by another user
    except OSError:
        return False
    return True
