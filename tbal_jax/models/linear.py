"""Linear binary classifiers minimised exactly by Newton's method (algorithm.md section 5): the
unit-ball SVM and the circles logistic regression."""

from __future__ import annotations

import dataclasses
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from tbal_jax.models.base import Model, shared_data_dot
from tbal_jax.types import Array, Key

NEWTON_MAX_STEPS = 30  # from a cold start (w0 = 0)
NEWTON_WARM_STEPS = 2  # from the previous round's minimiser (w0 != 0)
NEWTON_TOL = (
    1e-6  # stop when the Newton decrement g'H^{-1}g/2 <= NEWTON_TOL * objective
)
LINE_SEARCH_STEPS = 6


class _Loss(NamedTuple):
    """A margin loss l(m), m = y~ * z with y~ in {-1, +1}, and its first two derivatives."""

    value: Callable[[Array], Array]
    grad: Callable[[Array], Array]
    curvature: Callable[[Array], Array]


SQUARED_HINGE = _Loss(
    value=lambda m: jnp.maximum(0.0, 1.0 - m) ** 2,
    grad=lambda m: -2.0 * jnp.maximum(0.0, 1.0 - m),
    curvature=lambda m: 2.0 * (m < 1.0).astype(m.dtype),  # generalised Hessian
)
LOGISTIC = _Loss(
    value=lambda m: jnp.logaddexp(0.0, -m),
    grad=lambda m: -jax.nn.sigmoid(-m),
    curvature=lambda m: jax.nn.sigmoid(m) * jax.nn.sigmoid(-m),
)


def _augment(x: Array, intercept: bool) -> Array:
    return jnp.concatenate([x, jnp.ones_like(x[:, :1])], axis=1) if intercept else x


def _line_search(phi_slope, phi_curv, steps: int) -> Array:
    """Minimise a convex 1-D function phi on [0, inf) from phi' and phi'' (phi'(0) < 0).

    Safeguarded Newton on phi', started at the full step 1: a bracket [lo, hi] with
    phi'(lo) < 0 <= phi'(hi) is kept, and a Newton step that leaves it is replaced by
    bisection (or doubling while hi is unknown). Exact for piecewise-quadratic phi once
    the right piece is found, as in Keerthi & DeCoste (2005) for the squared hinge.
    """

    def body(_, carry):
        a, lo, hi = carry
        slope, curv = phi_slope(a), phi_curv(a)
        lo = jnp.where(slope < 0, a, lo)
        hi = jnp.where(slope >= 0, a, hi)
        newton = a - slope / jnp.maximum(curv, 1e-30)
        fallback = jnp.where(jnp.isfinite(hi), 0.5 * (lo + hi), 2.0 * lo)
        inside = (newton > lo) & (newton < hi)
        return jnp.where(inside, newton, fallback), lo, hi

    init = (jnp.float32(1.0), jnp.float32(0.0), jnp.float32(jnp.inf))
    a, lo, hi = jax.lax.fori_loop(0, steps, body, init)
    return a


def newton_minimise(
    w0: Array,
    x: Array,
    sign: Array,
    weight: Array,
    loss: _Loss,
    c: float,
    reg: Array,
) -> Array:
    """Minimise f(w) = 0.5 * sum(reg * w^2) + c * sum_i weight_i * loss(sign_i * x_i.w).

    Newton's method with the (generalised) Hessian H = diag(reg) + c X' diag(weight *
    loss'') X and an exact line search along the direction d = -H^{-1} g. Stops when the
    Newton decrement g'H^{-1}g / 2 is at most NEWTON_TOL * f(w) (relative suboptimality),
    or after NEWTON_MAX_STEPS steps from a cold start (w0 = 0) and NEWTON_WARM_STEPS
    from a warm one (algorithm.md section 5): a round adds one batch of labels to the
    previous round's problem, whose minimiser is then close, and under vmap a while loop
    runs until its slowest member stops, so one run's long solve would hold up the chunk.
    """

    def step(carry):
        w, z, _, it = carry
        m = sign * z
        g = reg * w + c * x.T @ (weight * sign * loss.grad(m))
        h = jnp.diag(reg) + c * (x.T * (weight * loss.curvature(m))[None, :]) @ x
        d = -jax.scipy.linalg.solve(h, g, assume_a="pos")
        decrement = -(g @ d)
        objective = 0.5 * jnp.sum(reg * w * w) + c * jnp.sum(weight * loss.value(m))
        converged = 0.5 * decrement <= NEWTON_TOL * objective
        t = sign * (x @ d)
        wd, dd = jnp.sum(reg * w * d), jnp.sum(reg * d * d)
        alpha = _line_search(
            lambda a: wd + a * dd + c * jnp.sum(weight * t * loss.grad(m + a * t)),
            lambda a: dd + c * jnp.sum(weight * t * t * loss.curvature(m + a * t)),
            LINE_SEARCH_STEPS,
        )
        alpha = jnp.where(converged, 0.0, alpha)
        return w + alpha * d, z + alpha * sign * t, converged, it + 1

    max_steps = jnp.where(jnp.any(w0 != 0), NEWTON_WARM_STEPS, NEWTON_MAX_STEPS)

    def keep_going(carry):
        _, _, converged, it = carry
        return (~converged) & (it < max_steps)

    init = (w0, x @ w0, jnp.array(False), jnp.array(0))
    w, *_ = jax.lax.while_loop(keep_going, step, init)
    return w


def _balanced_weights(y: Array, mask: Array) -> Array:
    """scikit-learn's class_weight='balanced' for 2 classes: n / (2 n_y), 0 off the mask."""
    counts = jnp.stack([jnp.sum(mask & (y == 0)), jnp.sum(mask & (y == 1))])
    n = counts.sum()
    per_class = n / (2.0 * jnp.maximum(counts, 1))
    return jnp.where(mask, per_class[y], 0.0).astype(jnp.float32)


LOSSES = {"squared_hinge": SQUARED_HINGE, "logistic": LOGISTIC}


@dataclasses.dataclass(frozen=True)
class LinearBinary(Model):
    """A linear binary classifier z = w.x (+ b), logits [-z/2, z/2] so p(1) = sigmoid(z),
    minimising 0.5*||w||^2 + c * sum_i weight_i * loss(y~_i z_i) by `newton_minimise`.

    With `unit_norm`, z uses w/||w|| (intercept not allowed then), as the unit-ball preset
    does after training (algorithm.md section 5); `balanced` weighs classes by n / (2 n_y).
    """

    name: str
    loss: str
    c: float
    intercept: bool
    balanced: bool
    unit_norm: bool
    label: str = ""

    def __post_init__(self):
        if self.unit_norm and self.intercept:
            raise ValueError("unit_norm applies to homogeneous models only")
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; choose from {list(LOSSES)}")

    def supports(self, dataset) -> str | None:
        if dataset.num_classes != 2:
            return (
                f"{self.name} is a two-class model and {dataset.name} has "
                f"{dataset.num_classes} classes; pick a multi-class model "
                "(softmax_logistic or an MLP)"
            )
        return None

    def init(self, key: Key, dim: int, k: int) -> Array:
        del key
        if k != 2:
            raise ValueError(f"{self.name} is a two-class model; the data have {k}")
        return jnp.zeros(dim + self.intercept, jnp.float32)

    def fit(self, key: Key, weights: Array, x: Array, y: Array, mask: Array) -> Array:
        del key  # deterministic: the minimiser is unique
        xa = _augment(x, self.intercept)
        sign = 2.0 * y.astype(jnp.float32) - 1.0
        weight = (
            _balanced_weights(y, mask) if self.balanced else mask.astype(jnp.float32)
        )
        reg = jnp.ones(xa.shape[1], jnp.float32)
        if self.intercept:
            reg = reg.at[-1].set(0.0)
        return newton_minimise(weights, xa, sign, weight, LOSSES[self.loss], self.c, reg)

    def logits(self, weights: Array, x: Array) -> Array:
        w = weights
        if self.unit_norm:
            w = weights / jnp.maximum(jnp.linalg.norm(weights), 1e-30)
        z = shared_data_dot(x, w[: x.shape[1]])
        if self.intercept:
            z = z + w[-1]
        return jnp.stack([-0.5 * z, 0.5 * z], axis=1)


UNIT_BALL_SVM = LinearBinary(
    "unit_ball_svm",
    "squared_hinge",
    2000.0,
    intercept=False,
    balanced=True,
    unit_norm=True,
    label="linear SVM",
)
"""algorithm.md section 5, unit ball: class-balanced squared-hinge linear SVM, C = 2000, no
intercept (the minimiser liblinear reaches with tol 1e-12), then unit-norm w."""

CIRCLES_LOGISTIC = LinearBinary(
    "circles_logistic",
    "logistic",
    1.0,
    intercept=True,
    balanced=False,
    unit_norm=False,
    label="logistic regression",
)
"""algorithm.md section 5, circles: L2-regularised logistic regression, C = 1, intercept
unpenalised: the documented substitute for the reference's Platt-scaled linear SVM."""
