"""How a guaranteed estimator spends delta over the rounds of a run (algorithm.md section 12,
"Spending delta over rounds and candidates fixed in advance").

Each rule gives round r of the R configured rounds a weight w_r >= 0 with sum_r w_r <= 1,
fixed before any data are seen; round r's tests then share delta w_r (split further over
the k classes, and over the candidates or search steps, by the estimator's `level`):

- `uniform`: w_r = 1 / R (the original rule, computed as delta / (k ... R) as before);
- `geometric`: w_r = (1 - rho) rho^r / (1 - rho^R), the geometric series renormalised
  over the R rounds (rho = 0.5: half of delta on round 0, a quarter on round 1, ...);
- `front`: w_0 = share, w_r = (1 - share) / (R - 1) for r >= 1 (all of delta on round
  0 when R = 1);
- `back`: the same weights reversed, the share on the last configured round R - 1 and
  the rest uniform over the others. R is the grid's largest budget's round count: there
  the model has its whole budget of human labels; a run with a smaller N_q stops
  earlier and spends only its (1 - share) / (R - 1) per round, about half of what
  `uniform` gives it.
  The share is the estimator's `front` setting for both rules.

The weights are computed in float64 and rounded down to float32, so in float32 they
never sum to more than 1.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

SPENDS = ("uniform", "geometric", "front", "back")
DEFAULT_RHO = 0.5
DEFAULT_FRONT = 0.5


def round_weights(
    spend: str, rounds: int, rho: float = DEFAULT_RHO, front: float = DEFAULT_FRONT
) -> np.ndarray:
    """w_0, ..., w_{R-1} in float64 (they sum to 1 up to float64 rounding)."""
    if spend not in SPENDS:
        raise ValueError(f"unknown delta spending {spend!r}; choose one of {SPENDS}")
    if rounds < 1:
        raise ValueError(f"rounds={rounds} must be >= 1")
    r = np.arange(rounds, dtype=np.float64)
    if spend == "uniform":
        return np.full(rounds, 1.0 / rounds)
    if spend == "geometric":
        return (1.0 - rho) * rho**r / (1.0 - rho**rounds)
    if rounds == 1:
        return np.ones(1)
    first = 0 if spend == "front" else rounds - 1
    return np.where(r == first, front, (1.0 - front) / (rounds - 1))


def float32_weights(spend, rounds, rho=DEFAULT_RHO, front=DEFAULT_FRONT) -> np.ndarray:
    """`round_weights` rounded down to float32 (each at most its float64 value)."""
    w = round_weights(spend, rounds, rho, front)
    w32 = w.astype(np.float32)
    return np.where(w32.astype(np.float64) > w, np.nextafter(w32, np.float32(0)), w32)


def round_delta(
    spend, delta, round_index, rounds, rho=DEFAULT_RHO, front=DEFAULT_FRONT
):
    """(share, divisor): round `round_index` (traced) spends share / divisor of delta's
    budget before the split over classes and tests. `uniform` returns (delta, R), so
    the estimators' levels compute delta / (k ... R) exactly as before; the others
    (delta w_r, 1). A round index beyond R - 1 reads w_{R-1} (the loop never gets
    there: it runs at most R rounds)."""
    if spend == "uniform":
        return delta, rounds
    w = jnp.asarray(float32_weights(spend, rounds, rho, front))
    return delta * w[jnp.clip(round_index, 0, rounds - 1)], 1
