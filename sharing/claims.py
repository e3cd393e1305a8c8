"""Claims (bankruptcy) rules: divide an estate among claimants whose claims exceed it.

A claims problem is an estate ``E >= 0`` and claims ``c_i >= 0`` with ``E <= sum(c)``; a rule
awards each claimant ``x_i`` in ``[0, c_i]`` with ``sum(x) == E``.  Four classical rules are
provided (proportional, constrained equal awards, constrained equal losses and the Talmud rule),
following the definitions in W. Thomson (2003), "Axiomatic and game-theoretic analysis of
bankruptcy and taxation problems: a survey", Mathematical Social Sciences 45:249-297.  Every
rule is vectorised over many estates at once (one column per estate), so a simulator can divide
thousands of yearly revenue pools with a single call and no Python loop over the columns.
"""

from __future__ import annotations

import numpy as np

RULES = ("proportional", "cea", "cel", "talmud")

# Estates above total claims by no more than this relative amount are treated as rounding noise
# (e.g. a total computed in a different summation order) and clipped to the total.
_RTOL = 1e-12


def divide(estate, claims, rule: str) -> np.ndarray:
    """Divide ``estate`` among ``claims`` with a classical claims rule.

    Rules (Thomson 2003, section 2; ``c`` claims, ``E`` estate, ``C = sum(c)``):

    * ``"proportional"``: ``x_i = E * c_i / C`` (all zero when ``C = 0``).
    * ``"cea"`` (constrained equal awards): ``x_i = min(c_i, lam)`` with ``lam`` chosen so that
      ``sum(x) = E``.
    * ``"cel"`` (constrained equal losses): ``x_i = max(0, c_i - mu)`` with ``mu`` chosen so that
      ``sum(x) = E``; computed as ``c - CEA(C - E, c)`` (losses are shared by equal awards).
    * ``"talmud"`` (R. J. Aumann and M. Maschler 1985, "Game theoretic analysis of a bankruptcy
      problem from the Talmud", J. Econ. Theory 36:195-213): if ``E <= C/2``, CEA applied to the
      half-claims ``c/2``; otherwise each claimant gets ``c_i/2`` plus CEL applied to the
      half-claims for the remainder ``E - C/2``, which equals ``c - CEA(C - E, c/2)``.

    Parameters
    ----------
    estate : float or array_like, shape (T,)
        One estate, or one estate per column.
    claims : array_like, shape (n,) or (n, T)
        Non-negative finite claims; a 1-D vector is used for every column.
    rule : str
        One of :data:`RULES`.

    Returns
    -------
    numpy.ndarray
        Awards of shape ``(n,)`` when ``estate`` is a scalar and ``claims`` is 1-D, otherwise
        ``(n, T)``.  Each column sums to its estate (up to rounding relative to the total claim)
        and ``0 <= x_i <= c_i``.

    Raises
    ------
    ValueError
        On an unknown rule, non-finite or negative claims or estate, mismatched shapes, or an
        estate exceeding the total claims of its column.
    """
    if rule not in RULES:
        raise ValueError(f"unknown claims rule {rule!r}; valid rules are {', '.join(RULES)}")
    est = np.asarray(estate, dtype=float)
    c = np.asarray(claims, dtype=float)
    scalar = est.ndim == 0 and c.ndim == 1
    if est.ndim > 1 or c.ndim not in (1, 2):
        raise ValueError(
            f"estate must be a scalar or 1-D (got shape {est.shape}) and claims 1-D or 2-D "
            f"(got shape {c.shape})"
        )
    if c.ndim == 1:
        c = c[:, None]
    est = np.atleast_1d(est)
    if c.shape[1] == 1 and est.shape[0] != 1:
        c = np.broadcast_to(c, (c.shape[0], est.shape[0]))
    elif est.shape[0] == 1:
        est = np.broadcast_to(est, (c.shape[1],))
    if est.shape[0] != c.shape[1]:
        raise ValueError(f"{est.shape[0]} estates do not match {c.shape[1]} claim columns")
    _validate(est, c)
    total = c.sum(axis=0)
    est = np.minimum(est, total)
    if rule == "proportional":
        safe = np.where(total > 0, total, 1.0)
        out = c * (est / safe)
    elif rule == "cea":
        out = _cea(est, c)
    elif rule == "cel":
        out = c - _cea(total - est, c)
    else:
        half = c / 2
        out = np.where(est <= total / 2, _cea(est, half), c - _cea(total - est, half))
    out = np.clip(out, 0.0, c)
    return out[:, 0] if scalar else out


def _validate(est: np.ndarray, c: np.ndarray) -> None:
    if not np.all(np.isfinite(c)):
        raise ValueError("claims must be finite numbers")
    if np.any(c < 0):
        raise ValueError(f"claims must be non-negative (smallest is {c.min():g})")
    if not np.all(np.isfinite(est)):
        raise ValueError("estate must be a finite number")
    if np.any(est < 0):
        raise ValueError(f"estate must be non-negative (got {est.min():g})")
    total = c.sum(axis=0)
    over = est > total * (1 + _RTOL)
    if np.any(over):
        j = int(np.argmax(over))
        where = f" (column {j})" if est.shape[0] > 1 else ""
        raise ValueError(f"estate {est[j]:g} exceeds total claims {total[j]:g}{where}")


def _cea(est: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Constrained equal awards ``min(c_i, lam)`` for every column, solved without a loop.

    With claims sorted ascending ``s_0 <= ... <= s_{n-1}``, the total award at ``lam = s_k`` is
    ``F_k = s_0 + ... + s_{k-1} + (n - k) s_k`` (non-decreasing in ``k``).  If ``k`` is the first
    index with ``F_k >= E``, then ``lam = (E - s_0 - ... - s_{k-1}) / (n - k)``.
    """
    n = c.shape[0]
    if n == 0:
        return c.copy()
    s = np.sort(c, axis=0)
    below = np.cumsum(s, axis=0) - s  # sum of the claims strictly before position k
    k_arange = np.arange(n)[:, None]
    f = below + (n - k_arange) * s
    k = np.minimum((f < est[None, :]).sum(axis=0), n - 1)
    cols = np.arange(c.shape[1])
    lam = (est - below[k, cols]) / (n - k)
    return np.minimum(c, lam[None, :])
