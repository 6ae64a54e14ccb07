"""A spatial index over many boxes in numpy: which boxes overlap a query box, in the boxes' own
order, without looking at every box.

The boxes' extent is cut into a grid of at most ``cells`` x ``cells`` cells; each box is filed under
the cell holding its lower-left corner, the boxes of a cell kept together (a cell's row after row,
as compressed sparse rows: ``order`` and ``starts``). A box overlapping the query has its corner at
most one box's width left of and below the query, so the cells from the query's corner moved back
by the widest (tallest) box filed up to the query's upper-right corner hold every candidate; the
candidates are then tested exactly. Boxes wider or taller than ``big_cells`` cells are not filed
(they would widen every search) but tested on every query, all at once."""
from __future__ import annotations

import numpy as np


class BoxIndex:
    def __init__(self, bounds: np.ndarray, *, cells: int = 256, big_cells: float = 4.0):
        """``bounds``: (n, 4) minx, miny, maxx, maxy; a row of NaN (an empty geometry) is never found."""
        self.bounds = b = np.asarray(bounds, dtype="float64").reshape(-1, 4)
        valid = np.isfinite(b).all(axis=1)
        if valid.any():
            self.origin = np.array([b[valid, 0].min(), b[valid, 1].min()])
            extent = np.array([b[valid, 2].max(), b[valid, 3].max()]) - self.origin
        else:
            self.origin, extent = np.zeros(2), np.ones(2)
        self.shape = np.array([cells, cells])
        self.cell = np.where(extent > 0, extent / cells, 1.0)
        size = b[:, 2:] - b[:, :2]
        big = valid & (size > self.cell * big_cells).any(axis=1)
        filed = valid & ~big
        self.big = np.flatnonzero(big)
        self.reach = size[filed].max(axis=0) if filed.any() else np.zeros(2)
        ix, iy = self._cell_of(b[filed, 0], b[filed, 1])
        key = iy * cells + ix
        which = np.flatnonzero(filed)
        sort = np.argsort(key, kind="stable")  # within a cell, the boxes' order
        self.order = which[sort]
        self.starts = np.searchsorted(key[sort], np.arange(cells * cells + 1))

    def _cell_of(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        ix = np.clip(np.floor((np.asarray(x) - self.origin[0]) / self.cell[0]), 0, self.shape[0] - 1).astype(np.int64)
        iy = np.clip(np.floor((np.asarray(y) - self.origin[1]) / self.cell[1]), 0, self.shape[1] - 1).astype(np.int64)
        return ix, iy

    def query(self, bbox) -> np.ndarray:
        """The numbers of the boxes overlapping ``bbox`` (minx, miny, maxx, maxy; edges count),
        ascending."""
        minx, miny, maxx, maxy = (float(v) for v in bbox)
        (x0, x1), (y0, y1) = self._cell_of([minx - self.reach[0], maxx], [miny - self.reach[1], maxy])
        cells = self.shape[0]
        rows = np.arange(y0, y1 + 1) * cells
        lo, hi = self.starts[rows + x0], self.starts[rows + x1 + 1]  # each row's cells are one run
        counts = hi - lo
        runs = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        found = np.concatenate([self.order[runs], self.big])
        b = self.bounds[found]
        hit = (b[:, 0] <= maxx) & (b[:, 2] >= minx) & (b[:, 1] <= maxy) & (b[:, 3] >= miny)
        return np.sort(found[hit])
