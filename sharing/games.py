"""Cooperative (TU) games and their solutions for sharing fiscal and tax benefits among regions.

A :class:`Game` stores the worth of every coalition of jurisdictions as a numpy array of length
``2**n`` indexed by bitmask (player ``i`` is bit ``i``), so that vectorised numpy replaces loops
over coalitions.  A game is a *value* game (``v(S)`` is a benefit to be shared) or a *cost* game
(``c(S)`` is a cost to be shared); each solution states how it treats cost games.  Solutions are
returned as :class:`Allocation` mappings from jurisdiction id to amount that carry an explanation.
The nucleolus family is computed with the sequential linear programmes of Maschler, Peleg and
Shapley (1979), with constraint generation over the ``2**n`` coalitions and a final Kohlberg
(1971) check (:mod:`sharing.lexmin`).  Those LPs are many and small, so each computation keeps
one HiGHS instance and re-solves it warm (:class:`sharing.lp.IncrementalLP`); PuLP's model
building would cost more than the solves (it serves the optimizer).
"""

from __future__ import annotations

import csv
import math
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from sharing.claims import RULES as CLAIMS_RULES
from sharing.claims import divide
from sharing.coalitions import sizes, subset_sums
from sharing.i18n import MESSAGES, Problem, define, did_you_mean, raw
from sharing.lexmin import LexMin, kohlberg

__all__ = [
    "Allocation",
    "CoreViolation",
    "Game",
    "GameError",
    "bankruptcy_game",
    "claims",
    "core_violation",
    "least_core",
    "nucleolus",
    "per_capita_nucleolus",
    "prenucleolus",
    "proportional",
    "scrb",
    "shapley",
    "tau_value",
    "to_agreement",
    "write_back",
]

KINDS = ("value", "cost")
# 2**25 coalition values take 256 MiB; beyond that the bitmask representation is impractical.
MAX_PLAYERS = 25
GAME_MEMORY = 2**30
"""Memory a scenario's game may take. Its solutions (nucleolus, least core) solve linear
programs with one row of ``n`` coefficients per coalition, held a few times over: about
``2^n · n · 8 bytes · 4``. :data:`MAX_SCENARIO_PLAYERS` is the largest ``n`` that fits."""
MAX_SCENARIO_PLAYERS = max(n for n in range(1, MAX_PLAYERS + 1)
                           if (1 << n) * n * 8 * 4 <= GAME_MEMORY)

define({
    "bounds.too_many_players": (
        "{n} 个参与方过多：{n} 方的博弈有 2^{n} 个联盟，求解需要的内存超过 {memory}；"
        "最多 {limit} 方，请用 players 选择参与方",
        "{n} players is too many: a game of {n} has 2^{n} coalitions, and solving it needs "
        "more than {memory} of memory; at most {limit}: choose `players`"),
})


LABELS = {
    "shapley": "Shapley value 沙普利值",
    "shapley (sampled)": "Shapley value, sampled 沙普利值（抽样）",
    "nucleolus": "nucleolus 核仁",
    "prenucleolus": "prenucleolus 预核仁",
    "per-capita nucleolus": "per-capita nucleolus 人均核仁",
    "tau value": "tau value τ值",
    "SCRB": "separable costs remaining benefits (SCRB) 可分离费用剩余效益法",
    "least core": "least core 最小核心",
    "proportional": "proportional to stand-alone values 按单干价值比例",
}


class GameError(ValueError):
    """Invalid game, coalition, allocation or claims problem.

    Raised with a catalogue key and its parameters where a user meets it through a scenario
    (``sharing game``, the app): ``problem`` then reads in 中文 and English; raised with plain
    text for misuse of the Python API."""

    def __init__(self, text: str, /, close: Iterable[str] = (), **params: Any):
        self.problem = Problem(text, params, close=tuple(close)) if text in MESSAGES \
            else raw(text)
        super().__init__(self.problem.message())


define({
    "games.unknown_players": ("未知辖区 {ids}；情景中有：{known}",
                              "unknown jurisdiction(s) {ids}; the scenario has {known}"),
    "games.too_many_players": ("{n} 个参与方超过上限 {limit}；请选定 `players`",
                               "{n} players is more than {limit}; choose `players`"),
    "games.shares_undefined": ("{concept} 各方数额之和为零，份额无定义",
                               "the {concept} amounts sum to zero; shares are undefined"),
    "games.imputation_empty": (
        "分配集为空：各方单干的{what_zh}合计 {total}，超过大联盟的 {grand}；请改用 "
        "prenucleolus()",
        "the imputation set is empty: the players' stand-alone {what} sum to {total}, more "
        "than the grand coalition's {grand}; use prenucleolus() instead"),
    "games.tau_undefined": (
        "τ 值无定义：该博弈不是准平衡的（需要最低权利 m ≤ 乌托邦收益 M，且 Σm ≤ v(N) ≤ ΣM；"
        "m = {m}，M = {M}，v(N) = {v}）",
        "the tau value is undefined: the game is not quasi-balanced (needs minimal rights "
        "m <= utopia payoffs M and sum m <= v(N) <= sum M; m = {m}, M = {M}, v(N) = {v})"),
    "games.scrb_undefined": ("SCRB 无定义：剩余收益之和为零",
                             "SCRB is undefined: the remaining benefits sum to zero"),
    "games.unknown_agreement": ("未知协议 {id!r}；情景中有：{known}",
                                "unknown agreement {id!r}; the scenario has {known}"),
    "games.out_of_range": ("仅重新分配协议 {id!r} 无法得到{concept}：需要 [0, 1] 以外的份额"
                           "（{shown}）",
                           "the {concept} cannot be reached by re-splitting agreement {id!r} "
                           "alone: it needs shares outside [0, 1] ({shown})"),
    "games.missed": ("重新分配协议 {id!r} 与{concept}相差 {gap} 万元：收益还取决于该协议份额以外"
                     "的因素（情景的子博弈，或按受益分担的成本）",
                     "re-splitting agreement {id!r} misses the {concept} by {gap} 万元: payoffs "
                     "depend on more than this agreement's shares (a sub-game of the scenario, "
                     "or costs shared by benefit)"),
})


def _fmt(x: float) -> str:
    return f"{x + 0.0:.6g}"  # + 0.0 shows -0.0 as 0


# ---------------------------------------------------------------------------------------------
# Games


class Game:
    """A transferable-utility game over named players (jurisdiction ids).

    Parameters
    ----------
    players : sequence of str
        Distinct, non-empty player ids; player ``i`` is bit ``i`` of a coalition bitmask.
    values : mapping
        Worth of every non-empty coalition.  Keys are iterables of player ids (order does not
        matter) or a bare player id for a singleton; the empty coalition may be omitted and must
        be worth 0.
    kind : {"value", "cost"}
        Whether ``values`` are benefits to share (``v``) or costs to share (``c``).

    Raises
    ------
    GameError
        On an empty or duplicated player list, an unknown kind, an unknown player in a key, a
        coalition given twice or missing, or a value that is not a finite number.
    """

    __slots__ = ("_index", "_kind", "_players", "_v")

    def __init__(self, players: Sequence[str], values: Mapping, kind: str = "value"):
        self._init_players(players, kind)
        v = np.full(1 << self.n, np.nan)
        seen = np.zeros(1 << self.n, dtype=bool)
        for key, value in values.items():
            mask = self._mask(key)
            if seen[mask]:
                raise GameError(f"coalition {self._name(mask)} is given twice")
            seen[mask] = True
            v[mask] = self._number(value, mask)
        if not seen[0]:
            v[0] = 0.0
            seen[0] = True
        missing = np.flatnonzero(~seen)
        if missing.size:
            more = f" (and {missing.size - 1} more)" if missing.size > 1 else ""
            raise GameError(f"missing value for coalition {self._name(int(missing[0]))}{more}")
        self._set_values(v)

    # -- construction -----------------------------------------------------------------------

    def _init_players(self, players: Sequence[str], kind: str) -> None:
        if isinstance(players, str):
            raise GameError("players must be a sequence of ids, not a single string")
        players = tuple(players)
        if not players:
            raise GameError("a game needs at least one player")
        for p in players:
            if not isinstance(p, str) or not p:
                raise GameError(f"player ids must be non-empty strings, got {p!r}")
        dupes = sorted({p for p in players if players.count(p) > 1})
        if dupes:
            raise GameError(f"duplicate players: {', '.join(dupes)}")
        if len(players) > MAX_PLAYERS:
            raise GameError(
                f"{len(players)} players is too many for an explicit game (at most {MAX_PLAYERS})"
            )
        if kind not in KINDS:
            raise GameError(f"kind must be 'value' or 'cost', got {kind!r}")
        self._players = players
        self._index = {p: i for i, p in enumerate(players)}
        self._kind = kind

    def _set_values(self, v: np.ndarray) -> None:
        bad = np.flatnonzero(~np.isfinite(v))
        if bad.size:
            mask = int(bad[0])
            more = f" (and {bad.size - 1} more)" if bad.size > 1 else ""
            raise GameError(
                f"value for coalition {self._name(mask)} is not finite ({v[mask]}){more}"
            )
        if v[0] != 0:
            raise GameError(f"the empty coalition must be worth 0, got {_fmt(v[0])}")
        v.flags.writeable = False
        self._v = v

    def _number(self, value, mask: int) -> float:
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise GameError(
                f"value for coalition {self._name(mask)} is not a number: {value!r}"
            ) from None
        if not math.isfinite(x):
            raise GameError(f"value for coalition {self._name(mask)} is not finite ({value!r})")
        return x

    @classmethod
    def _from_array(cls, players: Sequence[str], v: np.ndarray, kind: str) -> Game:
        game = cls.__new__(cls)
        game._init_players(players, kind)
        game._set_values(v)
        return game

    @classmethod
    def from_values(cls, players: Sequence[str], values, kind: str = "value") -> Game:
        """Build a game from a vector of ``2**n`` values indexed by bitmask.

        Parameters
        ----------
        players : sequence of str
            Player ids; player ``i`` is bit ``i``.
        values : array_like, shape (2**n,)
            ``values[S]`` is the worth of the coalition with bitmask ``S``; ``values[0]`` is 0.
        kind : {"value", "cost"}

        Returns
        -------
        Game

        Raises
        ------
        GameError
            On a wrong length, a non-zero empty coalition or a non-finite value.
        """
        game = cls.__new__(cls)
        game._init_players(players, kind)
        try:
            v = np.array(values, dtype=float)
        except (TypeError, ValueError):
            raise GameError("values must be a numeric array") from None
        n = game.n
        if v.shape != (1 << n,):
            raise GameError(
                f"values must have length 2**{n} = {1 << n} for {n} players, got shape {v.shape}"
            )
        game._set_values(v)
        return game

    @classmethod
    def from_function(
        cls, players: Sequence[str], function: Callable[[frozenset], float], kind: str = "value"
    ) -> Game:
        """Build a game by evaluating ``function(coalition)`` on every non-empty coalition.

        Parameters
        ----------
        players : sequence of str
        function : callable
            Called with a ``frozenset`` of player ids; returns the coalition's worth.
        kind : {"value", "cost"}

        Returns
        -------
        Game

        Raises
        ------
        GameError
            If a returned value is not a finite number (the coalition is named).
        """
        game = cls.__new__(cls)
        game._init_players(players, kind)
        v = np.zeros(1 << game.n)
        for mask in range(1, 1 << game.n):
            v[mask] = game._number(function(game.coalition(mask)), mask)
        game._set_values(v)
        return game

    @classmethod
    def from_csv(cls, path, kind: str = "value") -> Game:
        """Read a game from a CSV table with columns ``coalition`` and ``value``.

        A coalition is a list of player ids joined by ``+`` (or ``,`` or spaces inside a quoted
        field, optionally in braces).  Players are taken in order of first appearance.  A row for
        the empty coalition (an empty field or ``{}``) is optional.

        Parameters
        ----------
        path : str or path-like
        kind : {"value", "cost"}

        Returns
        -------
        Game

        Raises
        ------
        GameError
            On missing columns, a bad number (the line is named) or any :class:`Game` error.
        """
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            fields = {(f or "").strip().lower(): f for f in reader.fieldnames or []}
            if "coalition" not in fields or "value" not in fields:
                raise GameError(f"{path}: the table needs columns 'coalition' and 'value'")
            rows = []
            for line, row in enumerate(reader, start=2):
                ids = tuple(p for p in re.split(r"[+,\s{}]+", row[fields["coalition"]] or "") if p)
                raw = (row[fields["value"]] or "").strip()
                try:
                    value = float(raw)
                except ValueError:
                    raise GameError(
                        f"{path}, line {line}: value {raw!r} for coalition "
                        f"{{{', '.join(ids)}}} is not a number"
                    ) from None
                rows.append((ids, value))
        players = list(dict.fromkeys(p for ids, _ in rows for p in ids))
        return cls(players, dict(rows), kind=kind)

    @classmethod
    def from_scenario(cls, scenario, players: Sequence[str] | None = None) -> Game:
        """The value game of a scenario (DESIGN.md §2, "no cooperation").

        ``v(S)`` is the present value of the net fiscal benefit that the jurisdictions in S
        achieve together when only they cooperate: a park is built only if all its partners
        are in S (otherwise each partner in S gets its ``standalone`` fraction of the park's
        retained revenue), a firm moves only if its origin and destination are both in S
        (otherwise it stays, and pays, at the origin), and a cost is incurred only with its
        park or with all its parties. Transfers between members cancel, so ``v(N)`` is the
        sum of everyone's ``pv_net_benefit`` and ``v({i})`` is ``standalone_pv`` in the
        summary. Jurisdictions not in ``players`` never cooperate.

        Parameters
        ----------
        scenario : sharing.Scenario
        players : sequence of str, optional
            Jurisdiction ids to play (default: all of the scenario's jurisdictions).

        Raises
        ------
        GameError
            On an unknown jurisdiction id or more than MAX_SCENARIO_PLAYERS players.
        """
        from sharing.engine import coalition_items, coalition_values, compile_scenario

        model = compile_scenario(scenario)
        ids = list(model.jurisdictions if players is None else players)
        unknown = [p for p in ids if p not in model.index]
        if unknown:
            raise GameError("games.unknown_players", did_you_mean(unknown[0], model.jurisdictions),
                            ids=", ".join(map(repr, unknown)),
                            known=", ".join(model.jurisdictions))
        if len(ids) > MAX_SCENARIO_PLAYERS:
            raise GameError("bounds.too_many_players", n=len(ids), limit=MAX_SCENARIO_PLAYERS,
                            memory=f"{GAME_MEMORY / 2**30:g} GiB")
        items = coalition_items(model, model.run().alloc)
        return cls.from_values(ids, coalition_values(items, [model.index[p] for p in ids]))

    # -- access -----------------------------------------------------------------------------

    @property
    def players(self) -> tuple[str, ...]:
        """Player ids in bit order."""
        return self._players

    @property
    def kind(self) -> str:
        """``"value"`` or ``"cost"``."""
        return self._kind

    @property
    def n(self) -> int:
        """Number of players."""
        return len(self._players)

    @property
    def values(self) -> np.ndarray:
        """Read-only array of the ``2**n`` coalition values indexed by bitmask."""
        return self._v

    def _mask(self, coalition) -> int:
        ids = (coalition,) if isinstance(coalition, str) else tuple(coalition)
        mask = 0
        for p in ids:
            i = self._index.get(p)
            if i is None:
                raise GameError(
                    f"unknown player {p!r} in coalition {coalition!r}; "
                    f"players are {', '.join(self._players)}"
                )
            if mask >> i & 1:
                raise GameError(f"player {p!r} appears twice in coalition {coalition!r}")
            mask |= 1 << i
        return mask

    def coalition(self, mask: int) -> frozenset:
        """The frozenset of player ids of a bitmask."""
        return frozenset(p for i, p in enumerate(self._players) if mask >> i & 1)

    def _name(self, mask: int) -> str:
        return "{" + ", ".join(p for i, p in enumerate(self._players) if mask >> i & 1) + "}"

    def value(self, coalition) -> float:
        """Worth of a coalition given as an iterable of player ids (or one bare id)."""
        return float(self._v[self._mask(coalition)])

    def __getitem__(self, coalition) -> float:
        return self.value(coalition)

    def __repr__(self) -> str:
        return f"Game(players={list(self._players)!r}, kind={self._kind!r})"

    def to_frame(self) -> pd.DataFrame:
        """Table of the non-empty coalitions (``"A+B"``) and their values, smallest first."""
        masks = np.arange(1, 1 << self.n)
        masks = masks[np.argsort(sizes(self.n)[1:], kind="stable")]
        names = ["+".join(p for i, p in enumerate(self._players) if m >> i & 1) for m in masks]
        return pd.DataFrame({"coalition": names, "value": self._v[masks]})

    def _as_value_array(self) -> np.ndarray:
        """Values of the game whose excesses equal this game's.

        For a cost game this is the savings game ``s(S) = sum_{i in S} c({i}) - c(S)``: with
        ``y_i = c({i}) - x_i`` the savings excess ``s(S) - y(S)`` equals the cost excess
        ``x(S) - c(S)``, so cost allocations are ``x = c({i}) - y``.
        """
        if self._kind == "value":
            return self._v
        return subset_sums(self._singletons()) - self._v

    def _singletons(self) -> np.ndarray:
        return self._v[1 << np.arange(self.n)]

    def _to_own_units(self, y: np.ndarray) -> np.ndarray:
        """Map an allocation of :meth:`_as_value_array` back to this game's units."""
        return y if self._kind == "value" else self._singletons() - y

    def _vector(self, x: Mapping[str, float]) -> np.ndarray:
        missing = [p for p in self._players if p not in x]
        extra = [p for p in x if p not in self._index]
        if missing or extra:
            raise GameError(
                "allocation does not match the players: "
                + "; ".join(
                    part
                    for part in (
                        f"missing {', '.join(map(str, missing))}" if missing else "",
                        f"unknown {', '.join(map(str, extra))}" if extra else "",
                    )
                    if part
                )
            )
        return np.array([self._number(x[p], 1 << i) for i, p in enumerate(self._players)])


# ---------------------------------------------------------------------------------------------
# Allocations


class Allocation(Mapping[str, float]):
    """A read-only mapping from player id to amount, with the detail of how it was obtained.

    Attributes
    ----------
    concept : str
        Name of the solution concept, e.g. ``"nucleolus"``.
    game : Game or None
        The game solved (``None`` for a claims rule applied without building the game).
    explanation : mapping
        Concept-specific detail (read-only).
    warnings : list of str
        Caveats found while computing, e.g. a negative remaining benefit in SCRB.
    std_error : mapping or None
        Standard error per player for sampled estimates, else ``None``.
    """

    __slots__ = ("_amounts", "concept", "explanation", "game", "std_error", "warnings")

    def __init__(
        self,
        players: Sequence[str],
        amounts,
        concept: str,
        game: Game | None,
        explanation: Mapping | None = None,
        warnings: Iterable[str] = (),
        std_error=None,
    ):
        self._amounts = {p: float(a) for p, a in zip(players, amounts, strict=True)}
        self.concept = concept
        self.game = game
        self.explanation = MappingProxyType(dict(explanation or {}))
        self.warnings = list(warnings)
        self.std_error = (
            None
            if std_error is None
            else MappingProxyType({p: float(s) for p, s in zip(players, std_error, strict=True)})
        )

    def __getitem__(self, player: str) -> float:
        return self._amounts[player]

    def __iter__(self) -> Iterator[str]:
        return iter(self._amounts)

    def __len__(self) -> int:
        return len(self._amounts)

    def __repr__(self) -> str:
        body = ", ".join(f"{p!r}: {_fmt(a)}" for p, a in self._amounts.items())
        return f"Allocation({self.concept}: {{{body}}})"

    def shares(self) -> dict[str, float]:
        """Each amount divided by the total, as a sharing rule.

        Raises
        ------
        GameError
            If the amounts sum to zero.
        """
        total = sum(self._amounts.values())
        if total == 0:
            raise GameError("games.shares_undefined", concept=self.concept)
        return {p: a / total for p, a in self._amounts.items()}

    def explain(self) -> str:
        """A human-readable multi-line account of the allocation."""
        head = LABELS.get(self.concept, self.concept)
        if self.game is not None:
            head += f" — {self.game.kind} game, {self.game.n} players"
        lines = [head]
        total = sum(self._amounts.values())
        for p, a in self._amounts.items():
            line = f"  {p}: {_fmt(a)}"
            if total:
                line += f" ({a / total:.2%})"
            if self.std_error is not None:
                line += f" ± {_fmt(self.std_error[p])} (std. error)"
            lines.append(line)
        for key, value in self.explanation.items():
            if key == "levels":
                lines.append("Excess levels, largest first (超额水平):")
                for k, level in enumerate(value, start=1):
                    fixed = level["coalitions"]
                    names = ", ".join("{" + ", ".join(sorted(s)) + "}" for s in fixed[:8])
                    if len(fixed) > 8:
                        names += f" and {len(fixed) - 8} more"
                    lines.append(f"  {k}. excess {_fmt(level['excess'])} fixed for {names}")
            elif key == "kohlberg":
                verdict = "passed" if value["passed"] else "FAILED"
                lines.append(
                    f"Kohlberg check: {verdict} ({value['collections_checked']} "
                    "collections checked for balancedness)"
                )
            elif isinstance(value, Mapping):
                inner = ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
                lines.append(f"{key.replace('_', ' ')}: {inner}")
            else:
                shown = _fmt(value) if isinstance(value, float) else value
                lines.append(f"{key.replace('_', ' ')}: {shown}")
        lines.extend(f"Warning: {w}" for w in self.warnings)
        return "\n".join(lines)


class _Coalitions(Sequence[frozenset]):
    """Coalitions as frozensets of player ids, built on access (a level can hold many)."""

    __slots__ = ("_game", "_masks")

    def __init__(self, game: Game, masks: Sequence[int]):
        self._game, self._masks = game, masks

    def __len__(self) -> int:
        return len(self._masks)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._game.coalition(m) for m in self._masks[i]]
        return self._game.coalition(self._masks[i])

    def __repr__(self) -> str:
        return repr(list(self)) if len(self) <= 8 else f"<{len(self)} coalitions>"


def _allocation(game: Game, amounts, concept: str, **kwargs) -> Allocation:
    return Allocation(game.players, amounts, concept, game, **kwargs)


# ---------------------------------------------------------------------------------------------
# Shapley value


def shapley(game: Game, samples: int | None = None, seed=None) -> Allocation:
    """Shapley value, exact or estimated from random permutations.

    Exact (Shapley 1953, "A value for n-person games", Contributions to the Theory of Games II,
    307-317): ``phi_i = sum_{S ⊆ N\\{i}} |S|!(n-|S|-1)!/n! [v(S ∪ {i}) - v(S)]``, computed with
    vectorised numpy over the bitmask array.  Sampled (Castro, Gómez and Tejada 2009,
    "Polynomial calculation of the Shapley value based on sampling", Comput. Oper. Res.
    36:1726-1730): the mean marginal contribution over ``samples`` uniformly random orders, with
    the standard error of the mean per player in ``std_error``.  Each order's contributions sum to
    ``v(N)``, so the estimate is efficient without renormalisation.  The Shapley value is linear,
    so a cost game's value is its cost allocation directly.

    Parameters
    ----------
    game : Game
    samples : int, optional
        Number of random permutations (at least 2); exact when omitted.
    seed : int or numpy.random.Generator, optional
        Seed of the sampler.

    Returns
    -------
    Allocation

    Raises
    ------
    GameError
        If ``samples`` is less than 2.
    """
    n, v = game.n, game.values
    if samples is None:
        size = sizes(n)
        # weight of S (i ∉ S) is |S|!(n-|S|-1)!/n! = 1 / (n C(n-1, |S|)); padded for |S| = n
        weight = np.array([1.0 / (n * math.comb(n - 1, s)) for s in range(n)] + [0.0])[size]
        phi = np.empty(n)
        for i in range(n):
            pairs = v.reshape(-1, 2, 1 << i)  # [:, 0, :] lacks player i, [:, 1, :] adds it
            w = weight.reshape(-1, 2, 1 << i)[:, 0, :]
            phi[i] = np.sum(w * (pairs[:, 1, :] - pairs[:, 0, :]))
        return _allocation(
            game, phi, "shapley", explanation={"method": "exact", "coalitions": 1 << n}
        )
    if samples < 2:
        raise GameError(f"samples must be at least 2 to estimate a standard error, got {samples}")
    rng = np.random.default_rng(seed)
    count, mean, m2 = 0, np.zeros(n), np.zeros(n)
    for start in range(0, samples, 8192):
        m = min(8192, samples - start)
        perms = rng.permuted(np.tile(np.arange(n), (m, 1)), axis=1)
        masks = np.cumsum(np.left_shift(1, perms, dtype=np.int64), axis=1)
        marginal = np.diff(v[masks], axis=1, prepend=0.0)
        contrib = np.empty_like(marginal)
        np.put_along_axis(contrib, perms, marginal, axis=1)
        # combine chunk statistics (Chan, Golub and LeVeque's parallel variance update)
        c_mean = contrib.mean(axis=0)
        c_m2 = ((contrib - c_mean) ** 2).sum(axis=0)
        delta = c_mean - mean
        total = count + m
        mean = mean + delta * m / total
        m2 = m2 + c_m2 + delta**2 * count * m / total
        count = total
    std_error = np.sqrt(m2 / (count - 1) / count)
    return _allocation(
        game,
        mean,
        "shapley (sampled)",
        explanation={"method": "random permutations", "samples": samples, "seed": seed},
        std_error=std_error,
    )


# ---------------------------------------------------------------------------------------------
# Nucleolus family: sequential LPs with constraint generation


def _nucleolus_like(game: Game, concept: str, imputation: bool, per_capita: bool) -> Allocation:
    v, n = game._as_value_array(), game.n
    lower = None
    if imputation:
        lower = v[1 << np.arange(n)]
        if lower.sum() > v[-1] + 1e-12 * max(1.0, float(np.abs(v).max())):
            raise GameError("games.imputation_empty",
                            what="savings" if game.kind == "cost" else "values",
                            what_zh="节约" if game.kind == "cost" else "价值",
                            total=_fmt(lower.sum()), grand=_fmt(v[-1]))
    engine = LexMin(v, n, per_capita, lower)
    y = engine.solve()
    passed, checked = kohlberg(v, n, y, per_capita, lower)
    notes = []
    if not passed:
        notes.append("Kohlberg's balancedness check failed: the result may be inaccurate")
        warnings.warn(f"{concept}: {notes[-1]}", RuntimeWarning, stacklevel=3)
    levels = [
        {"excess": t * engine.scale, "coalitions": _Coalitions(game, masks)}
        for t, masks in engine.levels
    ]
    explanation = {
        "excess": "x(S) - c(S)" if game.kind == "cost" else "v(S) - x(S)",
        "levels": levels,
        "kohlberg": {"passed": passed, "collections_checked": checked},
        "lps_solved": engine.lps,
        "rows_generated": engine.rows,
        "coalitions": (1 << n) - 2,
    }
    if per_capita:
        explanation["excess"] += " divided by |S|"
    return _allocation(
        game, game._to_own_units(y), concept, explanation=explanation, warnings=notes
    )


def nucleolus(game: Game) -> Allocation:
    """Nucleolus (Schmeidler 1969, "The nucleolus of a characteristic function game", SIAM J.
    Appl. Math. 17:1163-1170).

    The imputation minimising lexicographically the excess vector sorted in decreasing order.
    For a value game the excess is ``e(S, x) = v(S) - x(S)`` over imputations (``x(N) = v(N)``,
    ``x_i >= v({i})``); for a cost game it is ``x(S) - c(S)`` over ``x(N) = c(N)``,
    ``x_i <= c({i})``, computed on the savings game (same excesses).  Computed by sequential LPs
    (see :class:`_LexMin`) and verified with Kohlberg's criterion; ``explanation`` lists each
    stage's excess level with the coalitions fixed at it, the check's result, the number of LPs
    solved and rows generated.  ``explanation["levels"][k]["coalitions"]`` is a sequence of
    frozensets, built on access because a level of a game with many ties can hold thousands.

    Parameters
    ----------
    game : Game

    Returns
    -------
    Allocation

    Raises
    ------
    GameError
        If the imputation set is empty (``sum v({i}) > v(N)``, or ``sum c({i}) < c(N)``).
    """
    return _nucleolus_like(game, "nucleolus", imputation=True, per_capita=False)


def prenucleolus(game: Game) -> Allocation:
    """Prenucleolus: the nucleolus's lexicographic minimisation over all efficient allocations.

    As :func:`nucleolus` without individual rationality (Schmeidler 1969; Maschler, Peleg and
    Shapley 1979).  It always exists, and equals the nucleolus whenever the core is non-empty
    (both then lie in the core).

    Parameters
    ----------
    game : Game

    Returns
    -------
    Allocation
    """
    return _nucleolus_like(game, "prenucleolus", imputation=False, per_capita=False)


def per_capita_nucleolus(game: Game) -> Allocation:
    """Per-capita nucleolus: the nucleolus for the per-capita excess ``e(S, x) / |S|``.

    Grotte (1970, M.Sc. thesis, Cornell University); applied to cost sharing by Young, Okada and
    Hashimoto (1982, "Cost allocation in water resources development", Water Resour. Res.
    18(3):463-475).  Minimised over imputations as :func:`nucleolus`; cost games via the savings
    game (the per-capita excesses coincide there too).

    Parameters
    ----------
    game : Game

    Returns
    -------
    Allocation

    Raises
    ------
    GameError
        If the imputation set is empty.
    """
    return _nucleolus_like(game, "per-capita nucleolus", imputation=True, per_capita=True)


def least_core(game: Game) -> Allocation:
    """A point of the least core and its value ``epsilon`` (``explanation["epsilon"]``).

    Maschler, Peleg and Shapley (1979): ``epsilon`` is the least ``e`` such that some ``x`` with
    ``x(N) = v(N)`` has ``v(S) - x(S) <= e`` for every proper non-empty ``S`` (for a cost game,
    ``x(S) - c(S) <= e`` with ``x(N) = c(N)``).  The core is non-empty iff ``epsilon <= 0``.
    The returned point is the optimum of that single LP, one of possibly many least-core points
    (the prenucleolus is a canonical one).

    Parameters
    ----------
    game : Game

    Returns
    -------
    Allocation
    """
    engine = LexMin(game._as_value_array(), game.n, per_capita=False, lower=None)
    if game.n == 1:
        y, eps = game._as_value_array()[1:], -math.inf
    else:
        y, t, _, _ = engine.stage()
        y, eps = y * engine.scale, t * engine.scale
    explanation = {
        "epsilon": eps,
        "core_nonempty": eps <= 1e-9 * engine.scale,
        "lps_solved": engine.lps,
        "rows_generated": engine.rows,
    }
    return _allocation(game, game._to_own_units(y), "least core", explanation=explanation)


# ---------------------------------------------------------------------------------------------
# tau value and SCRB


def tau_value(game: Game) -> Allocation:
    """tau value (Tijs 1981, "Bounds for the core and the tau-value", in Game Theory and
    Mathematical Economics, North-Holland, 123-132).

    Utopia payoffs ``M_i = v(N) - v(N\\{i})``, minimal rights
    ``m_i = max_{S ∋ i} [v(S) - sum_{j in S\\{i}} M_j]`` and ``tau = m + lam (M - m)`` with
    ``sum tau = v(N)``.  Defined for quasi-balanced games (``m <= M`` and
    ``sum m <= v(N) <= sum M``).  A cost game is solved on its savings game and converted back.

    Parameters
    ----------
    game : Game

    Returns
    -------
    Allocation

    Raises
    ------
    GameError
        If the game is not quasi-balanced.
    """
    v, n = game._as_value_array(), game.n
    full = (1 << n) - 1
    utopia = v[full] - v[full ^ (1 << np.arange(n))]
    remainder = v - subset_sums(utopia)
    minimal = np.array(
        [utopia[i] + remainder.reshape(-1, 2, 1 << i)[:, 1, :].max() for i in range(n)]
    )
    tol = 1e-9 * max(1.0, float(np.abs(v).max()))
    if np.any(minimal > utopia + tol) or not (minimal.sum() - tol <= v[full] <= utopia.sum() + tol):
        raise GameError("games.tau_undefined", m=np.round(minimal, 6), M=np.round(utopia, 6),
                        v=_fmt(v[full]))
    gap = (utopia - minimal).sum()
    lam = (v[full] - minimal.sum()) / gap if gap > tol else 0.0
    tau = minimal + lam * (utopia - minimal)
    explanation = {
        "utopia": dict(zip(game.players, utopia.tolist(), strict=True)),
        "minimal_rights": dict(zip(game.players, minimal.tolist(), strict=True)),
        "lambda": lam,
    }
    if game.kind == "cost":
        explanation["computed_on"] = "savings game s(S) = sum c({i}) - c(S), in savings units"
    return _allocation(game, game._to_own_units(tau), "tau value", explanation=explanation)


def scrb(game: Game) -> Allocation:
    """Separable costs remaining benefits (SCRB) allocation of a cost game.

    The water-resources rule (James and Lee 1971, "Economics of Water Resources Planning";
    Young, Okada and Hashimoto 1982, Water Resour. Res. 18(3):463-475): separable cost
    ``SC_i = c(N) - c(N\\{i})``, remaining benefit ``r_i = c({i}) - SC_i``, non-separable cost
    ``NSC = c(N) - sum SC_i`` and ``x_i = SC_i + NSC r_i / sum_j r_j``.  A value game is treated
    as the cost game ``c = -v`` and the result negated, which gives
    ``x_i = v({i}) + (M_i - v({i})) (v(N) - sum v({j})) / sum (M_j - v({j}))`` with
    ``M_i = v(N) - v(N\\{i})``.  A warning is added for each negative remaining benefit.

    Parameters
    ----------
    game : Game

    Returns
    -------
    Allocation

    Raises
    ------
    GameError
        If the remaining benefits sum to zero while the non-separable cost does not.
    """
    n = game.n
    sign = 1.0 if game.kind == "cost" else -1.0
    c = sign * game.values
    full = (1 << n) - 1
    separable = c[full] - c[full ^ (1 << np.arange(n))]
    remaining = c[1 << np.arange(n)] - separable
    nsc = c[full] - separable.sum()
    tol = 1e-12 * max(1.0, float(np.abs(c).max()))
    notes = [
        f"remaining benefit of {p} is negative ({_fmt(r)}): its stand-alone "
        f"{'cost' if game.kind == 'cost' else 'value'} is below its separable share"
        for p, r in zip(game.players, sign * remaining, strict=True)
        if r < -tol
    ]
    if abs(remaining.sum()) <= tol:
        if abs(nsc) > tol:
            raise GameError("games.scrb_undefined")
        x = separable
    else:
        x = separable + nsc * remaining / remaining.sum()
    explanation = {
        "separable": dict(zip(game.players, (sign * separable).tolist(), strict=True)),
        "remaining_benefit": dict(zip(game.players, (sign * remaining).tolist(), strict=True)),
        "non_separable": sign * nsc,
    }
    if game.kind == "value":
        explanation["computed_on"] = "cost game c = -v"
    return _allocation(game, sign * x, "SCRB", explanation=explanation, warnings=notes)


def proportional(game: Game) -> Allocation:
    """The grand coalition's worth in proportion to the stand-alone values.

    ``x_i = v(N) v({i}) / sum_j v({j})`` (``c`` for a cost game): the "proportional" rule of
    cost allocation (Young 1994, "Cost allocation", Handbook of Game Theory 2, ch. 34, §4;
    Moulin 1987 for the surplus version), the benchmark a fair split is compared with. It is
    efficient and symmetric but ignores what coalitions other than N and the singletons are
    worth, so it need not lie in the core.

    Raises
    ------
    GameError
        If the stand-alone values sum to zero.
    """
    alone = game.values[1 << np.arange(game.n)]
    total = float(alone.sum())
    tol = 1e-12 * max(1.0, float(np.abs(alone).max()))
    if abs(total) <= tol:
        raise GameError("the proportional split is undefined: the stand-alone values sum to "
                        "zero")
    full = game.values[(1 << game.n) - 1]
    return _allocation(game, full * alone / total, "proportional",
                       explanation={"stand_alone": dict(zip(game.players, alone.tolist(),
                                                            strict=True))})


# ---------------------------------------------------------------------------------------------
# Core membership


@dataclass(frozen=True)
class CoreViolation:
    """Why an allocation is not in the core.

    Attributes
    ----------
    coalition : frozenset or None
        The proper coalition with the largest excess if it blocks, else ``None``.
    amount : float
        Its excess: ``v(S) - x(S)`` (value game) or ``x(S) - c(S)`` (cost game); 0 if none.
    inefficiency : float
        ``x(N) - v(N)`` (or ``x(N) - c(N)``); 0 when efficient within tolerance.
    """

    coalition: frozenset | None
    amount: float
    inefficiency: float

    def __str__(self) -> str:
        parts = []
        if self.coalition is not None:
            parts.append(
                f"coalition {{{', '.join(sorted(self.coalition))}}} is blocked by "
                f"{_fmt(self.amount)}"
            )
        if self.inefficiency:
            parts.append(f"the allocation misses the grand total by {_fmt(self.inefficiency)}")
        return "; ".join(parts)


def core_violation(game: Game, x: Mapping[str, float]) -> CoreViolation | None:
    """Check core membership of an allocation.

    ``x`` is in the core if ``x(N) = v(N)`` (within ``1e-9`` times the game's scale) and no
    proper coalition has a positive excess (``v(S) - x(S) > tol``; for cost games
    ``x(S) - c(S) > tol``).

    Parameters
    ----------
    game : Game
    x : mapping of player id to amount
        An allocation covering exactly the game's players (an :class:`Allocation` works).

    Returns
    -------
    CoreViolation or None
        ``None`` if ``x`` is in the core.

    Raises
    ------
    GameError
        If ``x`` misses a player, names an unknown one or holds a non-number.
    """
    xv = game._vector(x)
    v, n = game.values, game.n
    full = (1 << n) - 1
    tol = 1e-9 * max(1.0, float(np.abs(v).max()), float(np.abs(xv).max()))
    sign = -1.0 if game.kind == "cost" else 1.0
    excess = sign * (v - subset_sums(xv))
    inefficiency = float(-excess[full]) * sign
    proper = excess[1:full]
    worst = int(np.argmax(proper)) + 1 if proper.size else 0
    blocked = bool(proper.size) and excess[worst] > tol
    if not blocked and abs(inefficiency) <= tol:
        return None
    return CoreViolation(
        coalition=game.coalition(worst) if blocked else None,
        amount=float(excess[worst]) if blocked else 0.0,
        inefficiency=inefficiency if abs(inefficiency) > tol else 0.0,
    )


# ---------------------------------------------------------------------------------------------
# Claims problems


def _claims_problem(estate, claims_: Mapping[str, float]) -> tuple[list[str], np.ndarray, float]:
    if not isinstance(claims_, Mapping) or not claims_:
        raise GameError("claims must be a non-empty mapping from player id to claim")
    players = list(claims_)
    c = []
    for p, value in claims_.items():
        try:
            ci = float(value)
        except (TypeError, ValueError):
            raise GameError(f"claim of {p} is not a number: {value!r}") from None
        if not math.isfinite(ci) or ci < 0:
            raise GameError(f"claim of {p} must be a finite non-negative number, got {value!r}")
        c.append(ci)
    try:
        e = float(estate)
    except (TypeError, ValueError):
        raise GameError(f"estate is not a number: {estate!r}") from None
    total = math.fsum(c)
    if not math.isfinite(e) or e < 0:
        raise GameError(f"estate must be a finite non-negative number, got {estate!r}")
    if e > total * (1 + 1e-12):
        raise GameError(f"estate {_fmt(e)} exceeds total claims {_fmt(total)}")
    return players, np.array(c), e


def claims(estate: float, claims: Mapping[str, float], rule: str = "talmud") -> Allocation:
    """Divide an estate among claimants with a classical claims rule.

    See :func:`sharing.claims.divide` for the rules ``proportional``, ``cea``, ``cel`` and
    ``talmud`` (Aumann and Maschler 1985; Thomson 2003).  The Talmud rule equals the nucleolus of
    :func:`bankruptcy_game` (Aumann and Maschler 1985).

    Parameters
    ----------
    estate : float
        Amount to divide, ``0 <= estate <= sum(claims)``.
    claims : mapping of player id to claim
        Non-negative finite claims.
    rule : {"proportional", "cea", "cel", "talmud"}

    Returns
    -------
    Allocation
        With ``game = None`` and the estate, claims and rule in ``explanation``.

    Raises
    ------
    GameError
        On an unknown rule, a negative or non-numeric claim, or a negative estate or one above
        the total claims.
    """
    if rule not in CLAIMS_RULES:
        raise GameError(f"unknown claims rule {rule!r}; valid rules are {', '.join(CLAIMS_RULES)}")
    players, c, e = _claims_problem(estate, claims)
    x = divide(e, c, rule)
    explanation = {"rule": rule, "estate": e, "claims": dict(zip(players, c.tolist(), strict=True))}
    return Allocation(players, x, f"{rule} rule", None, explanation=explanation)


def bankruptcy_game(estate: float, claims: Mapping[str, float]) -> Game:
    """The bankruptcy game ``v(S) = max(0, E - sum_{i not in S} c_i)``.

    O'Neill (1982), "A problem of rights arbitration from the Talmud", Math. Soc. Sci.
    2:345-371: what a coalition gets by conceding the others' full claims.

    Parameters
    ----------
    estate : float
    claims : mapping of player id to claim

    Returns
    -------
    Game
        A value game over the claimants.

    Raises
    ------
    GameError
        On a negative or non-numeric claim, or a negative estate or one above the total claims.
    """
    players, c, e = _claims_problem(estate, claims)
    if len(players) > MAX_PLAYERS:
        raise GameError(
            f"{len(players)} claimants is too many for an explicit game (at most {MAX_PLAYERS})"
        )
    inside = subset_sums(c)
    v = np.maximum(0.0, e - (inside[-1] - inside))
    v[0] = 0.0
    return Game._from_array(players, v, "value")


CONCEPT_NAMES = {
    "shapley": ("沙普利值", "the Shapley value"),
    "shapley (sampled)": ("沙普利值（抽样）", "the sampled Shapley value"),
    "nucleolus": ("核仁", "the nucleolus"),
    "prenucleolus": ("预核仁", "the prenucleolus"),
    "per-capita nucleolus": ("人均核仁", "the per-capita nucleolus"),
    "tau value": ("τ值", "the tau value"),
    "SCRB": ("可分离费用剩余效益法", "SCRB"),
    "least core": ("最小核心", "the least core"),
    "proportional": ("单干价值比例", "proportion to the stand-alone values"),
}


def provenance(concept: str):
    """How a game solution written back into an agreement names itself."""
    from sharing.writeback import Provenance

    zh, en = CONCEPT_NAMES.get(concept, (concept, concept))
    return Provenance(method=concept, label_zh=f"份额按{zh}", label_en=f"shares by {en}",
                      reference=f"sharing game: {en} ({zh}) of Game.from_scenario")


def to_agreement(solution: Allocation, scenario, agreement: str):
    """Write a solution back into a scenario as an ``optimized`` rule for ``agreement``, so that
    ``sharing.simulate`` shows the split year by year.

    With one set of shares ``w`` over the whole horizon, each jurisdiction's PV net benefit is
    ``payoff(w) = Σ_j w_j · p_j``, where ``p_j`` is everyone's payoff when j receives the
    agreement's whole pool (costs shared by fixed or factor rules do not depend on ``w``).
    The shares solve ``payoff(w) = x`` with ``Σ w = 1`` over the solution's players; they are
    written back by :func:`sharing.writeback.write_shares` (rounded to 1e-6, the agreement's
    title and reference naming the solution), simulated again and checked against ``x``.

    Parameters
    ----------
    solution : Allocation
        A solution of ``Game.from_scenario(scenario)`` (or of a sub-game of its players).
    scenario : sharing.Scenario
    agreement : str
        Id of the agreement whose rule is replaced.

    Returns
    -------
    sharing.Scenario
        A copy of ``scenario`` with that agreement's rule replaced.

    Raises
    ------
    GameError
        If the agreement does not exist, or if re-splitting it alone cannot give the solution
        (shares outside [0, 1], or payoffs that depend on the shares non-linearly).
    """
    return write_back(solution, scenario, agreement)[0]


def write_back(solution: Allocation, scenario, agreement: str):
    """:func:`to_agreement`, also returning what was written (for editing the YAML file):
    ``(scenario, writes, provenance)``."""
    from sharing import simulate
    from sharing.writeback import SharesWrite, round_shares, write_shares

    ids = [a.id for a in scenario.agreements]
    if agreement not in ids:
        raise GameError("games.unknown_agreement", did_you_mean(agreement, ids), id=agreement,
                        known=", ".join(ids))
    players = list(solution)
    position = ids.index(agreement)
    span = (scenario.years.start, scenario.years.end)
    made = provenance(solution.concept)

    def writes(shares: dict[str, float]):
        return [SharesWrite(position, "rule", ((span, shares),))]

    def payoffs(sc) -> np.ndarray:
        summary = simulate(sc).summary.set_index("jurisdiction")
        return summary.loc[players, "pv_net_benefit"].to_numpy()

    columns = np.column_stack([payoffs(write_shares(scenario, writes({p: 1.0}), made))
                               for p in players])
    target = np.array([solution[p] for p in players])
    system = np.vstack([columns, np.ones(len(players))])
    w = np.linalg.lstsq(system, np.append(target, 1.0), rcond=None)[0]
    scale = max(1.0, float(np.abs(target).max()))
    if np.any(w < -1e-9) or np.any(w > 1 + 1e-9):
        shown = ", ".join(f"{p} {v:.4f}" for p, v in zip(players, w, strict=True))
        raise GameError("games.out_of_range", concept=solution.concept, id=agreement,
                        shown=shown)
    if np.abs(columns @ w - target).max() > 1e-6 * scale:
        raise GameError("games.missed", id=agreement, concept=solution.concept,
                        gap=f"{np.abs(columns @ w - target).max():.4g}")
    w = round_shares(w)
    done = writes(dict(zip(players, w.tolist(), strict=True)))
    result = write_shares(scenario, done, made)
    # Rounded to 1e-6, the shares move each payoff by at most 1e-6 of the pool; the written
    # scenario must give exactly what the linear map predicts for them.
    gap = np.abs(payoffs(result) - columns @ w).max()
    if gap > 1e-9 * scale:
        raise GameError("games.missed", id=agreement, concept=solution.concept,
                        gap=f"{gap:.4g}")
    return result, done, made
