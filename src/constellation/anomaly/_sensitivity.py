"""One meaning of ``sensitivity`` for every method: "about as rare as k standard
deviations of a normal stream".

``sensitivity=k`` flags, on a stationary stream of independent normal values, about the
share P(|Z| > k) of them (k=3: 0.27 %), whatever the method. Each method's score has
its own unit; :func:`threshold_for` turns k into the threshold on that score:

* **k itself** for the methods whose score is a number of deviations already:
  ``zscore``, ``mad``, ``moving_average``, ``rate_change``, ``pattern``, ``correlation``,
  and the multivariate ``pca`` and ``mset``, whose statistics are turned into the
  deviate of the same tail probability (:mod:`._multivariate`) (any k > 0).
* **iqr**: a normal stream's upper quartile lies 0.6745 sigma out and its IQR is 1.349
  sigma, so k sigmas are ``(k - 0.6745) / 1.349`` IQRs beyond the quartile (k > 0.6745;
  Tukey's 1.5 IQR is k = 2.698, the default).
* **ensemble** and **isolation_forest**: measured, because their scores are not
  deviations (novelty shares; standardised isolation depths).
  ``benchmarks/anomaly_calibrate.py`` streams seeded N(0, 1) noise through each and
  records the score exceeded by a share P(|Z| > k) of the values; between the grid's
  points the threshold is interpolated, outside the grid k is refused (too little
  noise reaches further to measure it).
* **threshold**: the sensitivity is the limit itself (the seed's
  ``create_detector("auth_errors", "threshold", 0.05)``), not a rarity.
"""

from __future__ import annotations

import bisect

from ..errors import ValidationError
from ._base import check_positive

__all__ = ["CALIBRATED", "sensitivity_range", "threshold_for"]

_Q3_IN_SIGMA = 0.6745
_IQR_TO_SIGMA = 1.349

# (k, the score threshold flagging a share P(|Z| > k) of N(0, 1) noise), measured by
# benchmarks/anomaly_calibrate.py (1,000,000 values for the ensemble, 400,000 for the
# forest, default options). The ensemble raises one alarm per event, so it flags at most
# about 0.7 % of noise: its range starts at k = 2.75.
CALIBRATED: dict[str, tuple[tuple[float, float], ...]] = {
    "ensemble": (
        (2.75, 0.3935),
        (3.0, 0.7234),
        (3.25, 0.7346),
        (3.5, 0.7404),
        (3.75, 1.0709),
        (4.0, 1.0759),
    ),
    "isolation_forest": (
        (1.5, 1.0993),
        (2.0, 2.2792),
        (2.5, 3.3985),
        (3.0, 4.1652),
        (3.5, 4.7394),
        (4.0, 5.2101),
    ),
}

SIGMA_METHODS = (
    "zscore",
    "mad",
    "moving_average",
    "rate_change",
    "pattern",
    "correlation",
    "pca",
    "mset",
)


def sensitivity_range(method: str) -> tuple[float, float | None]:
    """The sensitivities ``method`` takes: (lowest, highest or None), exclusive of 0."""
    if method in CALIBRATED:
        table = CALIBRATED[method]
        return table[0][0], table[-1][0]
    if method == "iqr":
        return _Q3_IN_SIGMA, None
    return 0.0, None


def threshold_for(method: str, sensitivity: object) -> float:
    """The threshold on ``method``'s score for ``sensitivity`` (sigma-equivalents);
    ValidationError naming the range where the method cannot use the value."""
    k = check_positive("sensitivity", sensitivity)
    if method == "iqr":
        if k <= _Q3_IN_SIGMA:
            raise ValidationError(
                "sensitivity",
                f"{k!r} is out of range for iqr; expected > {_Q3_IN_SIGMA} (standard deviations)",
            )
        return (k - _Q3_IN_SIGMA) / _IQR_TO_SIGMA
    table = CALIBRATED.get(method)
    if table is None:
        return k
    low, high = table[0][0], table[-1][0]
    if not low <= k <= high:
        raise ValidationError(
            "sensitivity",
            f"{k!r} is out of range for {method}; expected {low}-{high} "
            "(standard deviations of a normal stream)",
        )
    ks = [point[0] for point in table]
    i = bisect.bisect_left(ks, k)
    if ks[i] == k:
        return table[i][1]
    (k0, t0), (k1, t1) = table[i - 1], table[i]
    return t0 + (t1 - t0) * (k - k0) / (k1 - k0)
