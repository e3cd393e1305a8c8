"""Coalitions as bitmasks: player ``i`` is bit ``i``, so a vector of ``2**n`` numbers holds a
value per coalition and numpy replaces loops over coalitions. Used by the games and by the
optimizer's core rows."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

TOL_SPAN = 1e-9  # residual below this: a coalition vector is in the span of a basis


def subset_sums(w: np.ndarray) -> np.ndarray:
    """``out[S] = sum(w[i] for i in S)`` for every bitmask ``S`` (2**n additions in total)."""
    out = np.zeros(1 << len(w))
    for i, wi in enumerate(w):
        half = 1 << i
        np.add(out[:half], wi, out=out[half : 2 * half])
    return out


@lru_cache(maxsize=4)
def sizes(n: int) -> np.ndarray:
    """``|S|`` for every bitmask ``S``."""
    out = np.zeros(1 << n, dtype=np.int8)
    for i in range(n):
        half = 1 << i
        out[half : 2 * half] = out[:half] + 1
    out.flags.writeable = False
    return out


def bits(masks: np.ndarray, n: int) -> np.ndarray:
    """0/1 matrix with one row per coalition bitmask."""
    return ((np.asarray(masks, dtype=np.int64)[:, None] >> np.arange(n)) & 1).astype(float)


def residual_norms(basis: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Distance of each row from the span of the orthonormal columns of ``basis``."""
    return np.linalg.norm(rows - (rows @ basis) @ basis.T, axis=1)


def extend_basis(basis: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Extend an orthonormal column basis by the rows outside its span (Gram-Schmidt).

    Rows are scanned in chunks so that a long list stops costing anything once the basis
    spans the whole space.  Returns the new basis and the indices of the rows that enlarged it.
    """
    n = basis.shape[0]
    added: list[int] = []
    for start in range(0, len(rows), 256):
        if basis.shape[1] == n:
            break
        resid = rows[start : start + 256] - (rows[start : start + 256] @ basis) @ basis.T
        norms = np.linalg.norm(resid, axis=1)
        while basis.shape[1] < n:
            outside = np.flatnonzero(norms > TOL_SPAN)
            if not outside.size:
                break
            i = int(outside[0])
            q = resid[i] / norms[i]
            basis = np.hstack([basis, q[:, None]])
            added.append(start + i)
            resid -= np.outer(resid @ q, q)
            norms = np.linalg.norm(resid, axis=1)
    return basis, added
