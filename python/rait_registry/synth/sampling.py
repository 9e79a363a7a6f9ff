"""Vectorised sampling helpers and calendar days.

Every helper draws from the generator it is given, in one call, so that the number and the
order of the draws of a block are exactly those written in :mod:`.course`. Dates are whole
days since 1970-01-01 (``int64``) until they are written.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from .layout import codes

EPOCH = np.datetime64("1970-01-01", "D")

#: A quantile table: (cumulative probabilities, values), sampled by inverse-CDF interpolation.
QuantileTable = tuple[tuple[float, ...], tuple[float, ...]]


def day_number(date: str | dt.date) -> int:
    """Days since 1970-01-01 of an ISO date or a :class:`datetime.date`."""
    return int((np.datetime64(date, "D") - EPOCH).astype(np.int64))


def quantile_draw(
    rng: np.random.Generator, size: int, table: QuantileTable, uniforms: np.ndarray | None = None
) -> np.ndarray:
    """Inverse-CDF draw from a piecewise-linear quantile table (from ``uniforms`` if given)."""
    return np.interp(rng.random(size) if uniforms is None else uniforms, table[0], table[1])


def categorical(rng: np.random.Generator, size: int, probs, uniforms: np.ndarray | None = None) -> np.ndarray:
    """Category index 0..k-1 with the given probabilities (from ``uniforms`` if given)."""
    cumulative = np.cumsum(np.asarray(probs, dtype=float))
    uniforms = rng.random(size) if uniforms is None else uniforms
    return np.minimum(np.searchsorted(cumulative / cumulative[-1], uniforms, side="right"), len(cumulative) - 1)


def stratified_uniforms(rng: np.random.Generator, strata: np.ndarray) -> np.ndarray:
    """Stratified uniforms: within each stratum of k units, one draw in each of [i/k, (i+1)/k).

    A variance-reduction device (Latin-hypercube sampling in one dimension): the marginal
    law is still uniform, but every quantile of a stratum is hit, so a small registry's
    margins sit close to the targets.
    """
    uniforms = np.empty(len(strata))
    for stratum in np.unique(strata):
        members = np.flatnonzero(strata == stratum)
        k = len(members)
        uniforms[members] = (rng.permutation(k) + rng.random(k)) / k
    return uniforms


def allot_by_quota(rng: np.random.Generator, n: int, probs) -> np.ndarray:
    """Stratified allotment: exactly round(n * p) of each category (largest remainder), shuffled."""
    shares = np.asarray(probs, dtype=float)
    shares = shares / shares.sum()
    exact = n * shares
    counts = np.floor(exact).astype(np.int64)
    short = n - counts.sum()
    if short:
        order = np.lexsort((np.arange(len(shares)), -(exact - counts)))
        counts[order[:short]] += 1
    return rng.permutation(np.repeat(np.arange(len(shares)), counts))


def highest_share(score: np.ndarray, mask: np.ndarray, share: float) -> np.ndarray:
    """Boolean: the round(share * mask.sum()) highest scores among ``mask``."""
    members = np.flatnonzero(mask)
    k = int(math.floor(share * len(members) + 0.5))
    out = np.zeros(len(score), dtype=bool)
    if k:
        out[members[np.argsort(-score[members], kind="stable")[:k]]] = True
    return out


def uniform_days(rng: np.random.Generator, low, high) -> np.ndarray:
    """Integer days uniformly in [low, high] (arrays broadcast; high < low gives low)."""
    low = np.asarray(low, dtype=np.float64)
    high = np.maximum(np.asarray(high, dtype=np.float64), low)
    size = np.broadcast(low, high).shape
    return np.floor(low + rng.random(size) * (high - low + 1)).astype(np.int64)


def ragged_layout(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner, position) for a ragged layout with ``counts[i]`` items owned by i."""
    counts = np.asarray(counts, dtype=np.int64)
    owner = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    position = np.arange(len(owner)) - starts[owner]
    return owner, position


def round_like_lab(values: np.ndarray) -> np.ndarray:
    """Round like a laboratory report: 3 significant figures, at most 2 decimals."""
    return np.where(
        values >= 100, np.round(values, 0), np.where(values >= 10, np.round(values, 1), np.round(values, 2))
    )


def pick_codes(rng: np.random.Generator, size: int, column: str, probs: dict[str, float]) -> np.ndarray:
    """Vocabulary codes of ``column`` drawn with the given value -> probability."""
    values = codes(column, probs)
    return values[categorical(rng, size, list(probs.values()))]
