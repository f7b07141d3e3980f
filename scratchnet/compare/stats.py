r"""The statistics of the comparison: bootstrap confidence intervals and McNemar's paired test.

Both work on the per-sample correctness of predictions on one evaluation set
(the test set, or the out-of-fold predictions of a cross-validation):
``correct[i] = 1`` when sample ``i`` was classified right.

**Bootstrap CI of an accuracy.** The accuracy :math:`\hat p = \frac1n\sum_i c_i`
is a mean over test samples; the percentile bootstrap resamples the ``n``
samples with replacement ``B`` times, recomputes the mean each time and takes
the 2.5% and 97.5% quantiles (Efron & Tibshirani, *An Introduction to the
Bootstrap*, 1993, ch. 13). For large ``n`` it agrees with the normal
approximation :math:`\hat p \pm 1.96\sqrt{\hat p(1-\hat p)/n}`. With several
seeds the same resampled test indices are used for every seed (``paired``), so
the interval is that of the seed-averaged accuracy under test-set resampling.
It measures how much the number would move on another test set of the same
size, not how much it would move with another seed (the ± std column does that).

**McNemar's test.** Two classifiers A and B on the same ``n`` samples; only
the discordant samples carry information about which is better:

.. math:: b = \#\{i: A_i \text{ right}, B_i \text{ wrong}\}, \qquad
          c = \#\{i: A_i \text{ wrong}, B_i \text{ right}\}

Under H0 (equal error rates) each discordant sample is a fair coin, so
:math:`b \sim \mathrm{Binomial}(b + c, 1/2)`; the exact two-sided p-value is
``scipy.stats.binomtest(b, b + c, 0.5).pvalue`` (McNemar, Psychometrika 12,
1947; the exact form as recommended by Dietterich, Neural Computation 10,
1998). ``b + c = 0`` gives p = 1.
"""

from __future__ import annotations

import numpy as np
import scipy.stats


def bootstrap_ci(correct, confidence=0.95, n_resamples=2000, seed=0) -> tuple[float, float]:
    r"""Percentile bootstrap CI of the mean of ``correct``: (S, n) runs × samples, or (n,).

    Rows (seeds) are resampled with the same indices (``paired=True``); the
    statistic is the mean over rows of each row's accuracy. Returns ``(low, high)``.
    """
    c = np.atleast_2d(np.asarray(correct, dtype=np.float64))  # (S, n)
    if c.shape[1] < 2:
        raise ValueError(
            f"Invalid value for argument correct. Expected at least 2 samples. Received {c.shape[1]}."
        )
    if np.all(c == c.flat[0]):  # no spread: every resample gives the same mean
        value = float(c.mean())
        return value, value

    def statistic(*rows, axis=-1):
        return np.mean([row.mean(axis=axis) for row in rows], axis=0)

    result = scipy.stats.bootstrap(
        tuple(c),
        statistic,
        paired=True,
        vectorized=True,
        confidence_level=confidence,
        n_resamples=n_resamples,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def mcnemar(correct_a, correct_b) -> dict:
    r"""Exact McNemar test of two classifiers on the same samples: ``{"b", "c", "p_value"}``.

    ``b``: A right and B wrong; ``c``: A wrong and B right; ``p_value`` the exact
    two-sided binomial p-value of ``b`` among ``b + c`` fair coin flips.
    """
    a = np.asarray(correct_a, dtype=bool)  # (n,)
    bb = np.asarray(correct_b, dtype=bool)  # (n,)
    if a.shape != bb.shape or a.ndim != 1:
        raise ValueError(
            "Invalid value for arguments correct_a and correct_b. Expected two 1-D arrays over the "
            f"same samples. Received shapes {a.shape} and {bb.shape}."
        )
    b = int(np.count_nonzero(a & ~bb))
    c = int(np.count_nonzero(~a & bb))
    p = 1.0 if b + c == 0 else float(scipy.stats.binomtest(b, b + c, 0.5).pvalue)
    return {"b": b, "c": c, "p_value": p}


def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value)."""
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def most_confused(matrix, top=3) -> list[dict]:
    r"""The ``top`` unordered class pairs {i, j} with the most confusions ``M[i, j] + M[j, i]``."""
    m = np.asarray(matrix)  # (C, C)
    both = m + m.T
    pairs = [(int(both[i, j]), i, j) for i in range(m.shape[0]) for j in range(i + 1, m.shape[0])]
    pairs.sort(key=lambda t: (-t[0], t[1], t[2]))
    return [
        {"classes": [i, j], "count": n, "i_as_j": int(m[i, j]), "j_as_i": int(m[j, i])}
        for n, i, j in pairs[:top]
        if n > 0
    ]
