"""Correlation between parameter similarity and transfer (paper 2.10, Table 4), with its uncertainty stated.

:func:`correlate` gives Pearson's r and Spearman's rho with their two-sided p-values (``scipy.stats``), the
two-sided permutation p-values of both (the pairing of x and y shuffled; exact for n <= 7, else 20,000 seeded
shuffles: with n as small as 6 the asymptotic p-values are not to be trusted), the number of points they rest
on, and a seeded percentile bootstrap confidence interval for each (pairs are
resampled with replacement; resamples in which either variable is constant have no coefficient and are
dropped, and how many were kept is reported). With n = 6 points, as in the paper, the intervals are wide:
that is the point of stating them.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from ..errors import TaskNeuronsError

MIN_POINTS = 3


@dataclass
class Correlation:
    n: int
    pearson: float
    pearson_p: float
    spearman: float
    spearman_p: float
    pearson_ci: tuple[float, float]
    spearman_ci: tuple[float, float]
    pearson_perm_p: float
    spearman_perm_p: float
    confidence: float
    n_boot: int
    n_boot_valid: int  # resamples with a defined coefficient (both variables vary)
    seed: int

    def to_dict(self) -> dict:
        d = asdict(self)
        d["pearson_ci"], d["spearman_ci"] = list(self.pearson_ci), list(self.spearman_ci)
        return d


def _rows_pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r of every row pair of [B, n] arrays; NaN where a row is constant."""
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    denom = np.sqrt((xc * xc).sum(axis=1) * (yc * yc).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (xc * yc).sum(axis=1) / denom
    r[~(denom > 1e-300)] = np.nan
    return np.clip(r, -1.0, 1.0)


def _interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return (math.nan, math.nan)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(values, [alpha, 1 - alpha])
    return (float(lo), float(hi))


def _pearson(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    a = a - a.mean(axis=axis, keepdims=True)
    b = b - b.mean(axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(axis=axis) / np.sqrt((a * a).sum(axis=axis) * (b * b).sum(axis=axis))


def _spearman(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return _pearson(stats.rankdata(a, axis=axis), stats.rankdata(b, axis=axis), axis=axis)


def permutation_p(x: np.ndarray, y: np.ndarray, statistic, seed: int) -> float:
    """Two-sided p of ``statistic(x, y, axis)`` when the pairing is random (``scipy.stats.permutation_test``).

    Only x is permuted (y held fixed): its n! orders are every pairing, so the test is exact while n! <= 20,000
    (n <= 7); passing both samples would permute each, (n!)^2 orders, and sample them already at n = 6."""
    result = stats.permutation_test((x,), lambda a, axis: statistic(a, y, axis=axis), permutation_type="pairings",
                                    n_resamples=20000, vectorized=True, alternative="two-sided",
                                    random_state=np.random.default_rng(seed))
    return float(result.pvalue)


def correlate(x: Sequence[float], y: Sequence[float], n_boot: int = 2000, confidence: float = 0.95,
              seed: int = 0) -> Correlation:
    """Pearson and Spearman between ``x`` and ``y`` with p-values, n and bootstrap intervals (module doc).

    A coefficient is NaN (with p NaN) when either variable is constant. Fewer than 3 points, unequal lengths
    or non-finite values are a TaskNeuronsError.
    """
    x, y = np.asarray(list(x), dtype=float), np.asarray(list(y), dtype=float)
    if x.ndim != 1 or x.shape != y.shape:
        raise TaskNeuronsError(f"correlate needs two equally long lists of numbers, got {x.size} and {y.size} values")
    if x.size < MIN_POINTS:
        raise TaskNeuronsError(f"a correlation needs at least {MIN_POINTS} points, got {x.size}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise TaskNeuronsError("correlate got NaN or infinite values; leave those points out first")
    if not 0 < confidence < 1:
        raise TaskNeuronsError(f"confidence must be in (0, 1), got {confidence}")
    if n_boot < 1:
        raise TaskNeuronsError(f"n_boot must be at least 1, got {n_boot}")
    constant = np.ptp(x) == 0 or np.ptp(y) == 0
    if constant:
        pr = pp = sr = sp = perm_p = perm_s = math.nan
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pearson = stats.pearsonr(x, y)
            spearman = stats.spearmanr(x, y)
        pr, pp = float(pearson.statistic), float(pearson.pvalue)
        sr, sp = float(spearman.statistic), float(spearman.pvalue)
        perm_p, perm_s = permutation_p(x, y, _pearson, seed), permutation_p(x, y, _spearman, seed)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    bx, by = x[idx], y[idx]
    boot_p = _rows_pearson(bx, by)
    boot_s = _rows_pearson(stats.rankdata(bx, axis=1), stats.rankdata(by, axis=1))
    valid = int(np.isfinite(boot_p).sum())
    return Correlation(n=int(x.size), pearson=pr, pearson_p=pp, spearman=sr, spearman_p=sp,
                       pearson_ci=_interval(boot_p, confidence), spearman_ci=_interval(boot_s, confidence),
                       pearson_perm_p=perm_p, spearman_perm_p=perm_s,
                       confidence=confidence, n_boot=n_boot, n_boot_valid=valid, seed=seed)
