"""``progress`` of an import: the caller's ``fn(phase, done, total)`` told of each phase (see the
package's docstring), at its start and end always and in between at most a few times a second."""
from __future__ import annotations

import time

#: the phases ``progress`` is told of, in order
PHASES = ("unpack", "read", "check", "write")


class Progress:
    """The caller's ``progress(phase, done, total)`` (or None: nothing), called at the start
    (``done`` 0) and the end (``done == total``) of every phase, and in between at most every
    ``interval`` seconds. What it raises goes through: a job that is cancelled stops there, and
    nothing is written."""

    def __init__(self, fn=None, interval: float = 0.25):
        self.fn, self.interval = fn, interval
        self._phase, self._last, self._said = None, 0.0, None

    def __call__(self, phase: str, done: int, total: int) -> None:
        if self.fn is None:
            return
        said = (phase, int(min(done, total)), int(total))
        if said == self._said:
            return
        now = time.monotonic()
        edge = phase != self._phase or done <= 0 or done >= total
        if not edge and now - self._last < self.interval:
            return
        self._phase, self._last, self._said = phase, now, said
        self.fn(*said)

    def within(self, phase: str, total: int):
        """A ``(done, total)`` callable for a step that reports its own progress (the store's
        write): its calls are intermediate ones (the caller reports the phase's end itself, when
        the step is over: the store's last chunk comes before its commit)."""
        return lambda done, _total=None: self(phase, max(1, min(done, total - 1)), total) if total > 1 else None


def progress_of(fn) -> Progress:
    return fn if isinstance(fn, Progress) else Progress(fn)
