"""Models behind one small interface (SPEC section 5).

A `Model` is a pair of pure functions, in the style of optax's `GradientTransformation`:

- `fit(params, x, y, mask) -> params`: train on a fixed-capacity buffer `x` (Q, d) with
  labels `y` (Q,) where only rows with `mask` count. `params` is where the solver starts;
  every model here minimises a strictly convex objective, so the result is its unique
  minimiser (the "fresh model" of SPEC section 2, step 2) up to the solver's stopping
  tolerance, whatever the start; the loop warm-starts from the previous round's solution
  to save Newton steps.
- `logits(params, x) -> (n, k)` class logits; probabilities are their softmax.

`init(dim)` gives the starting parameters. A gradient-trained MLP (SPEC section 5, for
the embedding datasets; not built yet) fits the same interface.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from tbal_jax.types import Array

NEWTON_MAX_STEPS = 30
NEWTON_TOL = (
    1e-6  # stop when the Newton decrement g'H^{-1}g/2 <= NEWTON_TOL * objective
)
LINE_SEARCH_STEPS = 6


class Model(NamedTuple):
    init: Callable[[int], Array]
    fit: Callable[[Array, Array, Array, Array], Array]
    logits: Callable[[Array, Array], Array]
    num_classes: int


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
    or after NEWTON_MAX_STEPS steps.
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

    def keep_going(carry):
        _, _, converged, it = carry
        return (~converged) & (it < NEWTON_MAX_STEPS)

    init = (w0, x @ w0, jnp.array(False), jnp.array(0))
    w, *_ = jax.lax.while_loop(keep_going, step, init)
    return w


def _balanced_weights(y: Array, mask: Array) -> Array:
    """scikit-learn's class_weight='balanced' for 2 classes: n / (2 n_y), 0 off the mask."""
    counts = jnp.stack([jnp.sum(mask & (y == 0)), jnp.sum(mask & (y == 1))])
    n = counts.sum()
    per_class = n / (2.0 * jnp.maximum(counts, 1))
    return jnp.where(mask, per_class[y], 0.0).astype(jnp.float32)


def linear_binary(
    loss: _Loss,
    c: float,
    intercept: bool,
    balanced: bool,
    unit_norm: bool,
) -> Model:
    """A linear binary classifier z = w.x (+ b), logits [-z/2, z/2] so p(1) = sigmoid(z).

    With `unit_norm`, z uses w/||w|| (intercept not allowed then), as the unit-ball preset
    does after training (SPEC section 5).
    """
    if unit_norm and intercept:
        raise ValueError("unit_norm applies to homogeneous models only")

    def init(dim: int) -> Array:
        return jnp.zeros(dim + intercept, jnp.float32)

    def fit(params: Array, x: Array, y: Array, mask: Array) -> Array:
        xa = _augment(x, intercept)
        sign = 2.0 * y.astype(jnp.float32) - 1.0
        weight = _balanced_weights(y, mask) if balanced else mask.astype(jnp.float32)
        reg = jnp.ones(xa.shape[1], jnp.float32)
        if intercept:
            reg = reg.at[-1].set(0.0)
        return newton_minimise(params, xa, sign, weight, loss, c, reg)

    def logits(params: Array, x: Array) -> Array:
        w = (
            params / jnp.maximum(jnp.linalg.norm(params), 1e-30)
            if unit_norm
            else params
        )
        # w @ x.T rather than x @ w: when a grid of models shares one pool under vmap,
        # this puts the model axis first, which every later elementwise pass wants.
        z = w[: x.shape[1]] @ x.T
        if intercept:
            z = z + w[-1]
        return jnp.stack([-0.5 * z, 0.5 * z], axis=1)

    return Model(init, fit, logits, 2)


def unit_ball_svm() -> Model:
    """SPEC section 5, unit ball: class-balanced squared-hinge linear SVM, C = 2000, no
    intercept (the minimiser liblinear reaches with tol 1e-12), then unit-norm w."""
    return linear_binary(
        SQUARED_HINGE, 2000.0, intercept=False, balanced=True, unit_norm=True
    )


def circles_logistic() -> Model:
    """SPEC section 5, circles: linear model with intercept and logistic link.

    L2-regularised logistic regression, C = 1, intercept unpenalised: the documented
    substitute for the reference's Platt-scaled linear SVM (C = 1)."""
    return linear_binary(LOGISTIC, 1.0, intercept=True, balanced=False, unit_norm=False)


MODELS = {"unit_ball_svm": unit_ball_svm, "circles_logistic": circles_logistic}
