"""Memory handed back to the system after a large transient step (reading a file whole, writing a
chunked layer): Arrow's allocator keeps what it freed for reuse, and glibc keeps freed heap at
the top; both hold on to it as resident memory unless asked. Nothing here changes a value."""
from __future__ import annotations

import ctypes
import ctypes.util

import pyarrow as pa

_LIBC = None


def _libc():
    global _LIBC
    if _LIBC is None:
        name = ctypes.util.find_library("c")
        try:
            _LIBC = ctypes.CDLL(name) if name else False
        except OSError:
            _LIBC = False
    return _LIBC


def give_back() -> None:
    """Return the memory Arrow's pool and the C heap hold free to the system (best effort: a no-op
    where the platform has no ``malloc_trim``)."""
    pa.default_memory_pool().release_unused()
    libc = _libc()
    if libc and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)
