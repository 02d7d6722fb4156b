"""Models behind one small interface (SPEC section 5).

A `Model` is a frozen, hashable dataclass that holds its hyperparameters and three pure
functions, in the style of optax's `GradientTransformation`:

- `init(key, dim, k) -> params`: starting parameters for inputs of dimension `dim` and
  `k` classes (the key is for models with a random initialisation, such as an MLP);
- `fit(key, params, x, y, mask) -> params`: train on a fixed-capacity buffer `x` (Q, d)
  with labels `y` (Q,) where only rows with `mask` count. The linear models here minimise
  a strictly convex objective, so the result is its unique minimiser (the "fresh model"
  of SPEC section 2, step 2) up to the solver's stopping tolerance, whatever the start,
  and they warm-start from the previous round's solution to save solver steps; the MLP
  (`tbal_jax.mlp`) reads only the shapes of `params` and trains from a fresh random
  initialisation drawn from `key`;
- `logits(params, x) -> (n, k)` class logits; probabilities are their softmax.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from tbal_jax.types import Array, Key, PyTree

NEWTON_MAX_STEPS = 30
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


class Model(abc.ABC):
    """The model interface (see the module docstring); subclasses are frozen dataclasses
    whose fields are the hyperparameters."""

    name: str

    @abc.abstractmethod
    def init(self, key: Key, dim: int, k: int) -> PyTree: ...

    @abc.abstractmethod
    def fit(
        self, key: Key, params: PyTree, x: Array, y: Array, mask: Array
    ) -> PyTree: ...

    @abc.abstractmethod
    def logits(self, params: PyTree, x: Array) -> Array: ...


LOSSES = {"squared_hinge": SQUARED_HINGE, "logistic": LOGISTIC}


@dataclasses.dataclass(frozen=True)
class LinearBinary(Model):
    """A linear binary classifier z = w.x (+ b), logits [-z/2, z/2] so p(1) = sigmoid(z),
    minimising 0.5*||w||^2 + c * sum_i weight_i * loss(y~_i z_i) by `newton_minimise`.

    With `unit_norm`, z uses w/||w|| (intercept not allowed then), as the unit-ball preset
    does after training (SPEC section 5); `balanced` weighs classes by n / (2 n_y).
    """

    name: str
    loss: str
    c: float
    intercept: bool
    balanced: bool
    unit_norm: bool

    def __post_init__(self):
        if self.unit_norm and self.intercept:
            raise ValueError("unit_norm applies to homogeneous models only")
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; choose from {list(LOSSES)}")

    def init(self, key: Key, dim: int, k: int) -> Array:
        del key
        if k != 2:
            raise ValueError(f"{self.name} is a two-class model; the data have {k}")
        return jnp.zeros(dim + self.intercept, jnp.float32)

    def fit(self, key: Key, params: Array, x: Array, y: Array, mask: Array) -> Array:
        del key  # deterministic: the minimiser is unique
        xa = _augment(x, self.intercept)
        sign = 2.0 * y.astype(jnp.float32) - 1.0
        weight = (
            _balanced_weights(y, mask) if self.balanced else mask.astype(jnp.float32)
        )
        reg = jnp.ones(xa.shape[1], jnp.float32)
        if self.intercept:
            reg = reg.at[-1].set(0.0)
        return newton_minimise(params, xa, sign, weight, LOSSES[self.loss], self.c, reg)

    def logits(self, params: Array, x: Array) -> Array:
        w = params
        if self.unit_norm:
            w = params / jnp.maximum(jnp.linalg.norm(params), 1e-30)
        # w @ x.T rather than x @ w: when a grid of models shares one pool under vmap,
        # this puts the model axis first, which every later elementwise pass wants.
        z = w[: x.shape[1]] @ x.T
        if self.intercept:
            z = z + w[-1]
        return jnp.stack([-0.5 * z, 0.5 * z], axis=1)


@dataclasses.dataclass(frozen=True)
class SoftmaxLogistic(Model):
    """Multinomial logistic regression with intercept, for any k >= 2 (SPEC section 7's
    linear model for Fashion-MNIST): the minimiser of

        sum_i log-loss(softmax(W'x_i + b), y_i) + ||W||^2 / (2C),  b unpenalised,

    scikit-learn's `LogisticRegression(C=C)` objective for k > 2 (for k = 2 scikit-learn
    fits one weight vector w = W[:, 1] - W[:, 0], and the same minimiser is its binary
    model with C doubled: ||W||^2 = ||w||^2 / 2 at the optimum). Solved with optax's L-BFGS (zoom
    line search) on the objective divided by the number of training points, in the
    coordinates V = diag(s) W, s the root mean square of each feature over the training
    rows (a diagonal preconditioner: the same minimiser, about half the steps on
    principal-component features); stopped when the gradient's L2 norm in those
    coordinates is at most `tol` times the objective, or after `max_steps` steps. At the
    default `tol` the objective is within 1e-4 (relative) of scikit-learn's at tol 1e-10
    (tested).
    """

    name: str = "softmax_logistic"
    c: float = 1.0
    tol: float = 1e-4
    max_steps: int = 500
    memory: int = 10

    def init(self, key: Key, dim: int, k: int) -> PyTree:
        del key
        return {"w": jnp.zeros((dim, k), jnp.float32), "b": jnp.zeros(k, jnp.float32)}

    def logits(self, params: PyTree, x: Array) -> Array:
        return x @ params["w"] + params["b"][None, :]

    def objective(self, params: PyTree, x: Array, y: Array, mask: Array) -> Array:
        """The objective above, divided by the number of rows in `mask`."""
        n = jnp.maximum(jnp.sum(mask), 1).astype(jnp.float32)
        nll = optax.losses.softmax_cross_entropy_with_integer_labels(
            self.logits(params, x), y
        )
        penalty = jnp.sum(params["w"] ** 2) / (2.0 * self.c)
        return (jnp.sum(jnp.where(mask, nll, 0.0)) + penalty) / n

    def fit(self, key: Key, params: PyTree, x: Array, y: Array, mask: Array) -> PyTree:
        del key  # deterministic: the minimiser is unique
        solver = optax.lbfgs(memory_size=self.memory)
        n = jnp.maximum(jnp.sum(mask), 1).astype(jnp.float32)
        rms = jnp.sqrt(jnp.sum(jnp.where(mask[:, None], x * x, 0.0), axis=0) / n)
        scale = jnp.maximum(rms, 1e-6)[:, None]  # W = V / scale

        def f(v):
            return self.objective({"w": v["w"] / scale, "b": v["b"]}, x, y, mask)

        value_and_grad = optax.value_and_grad_from_state(f)

        def step(carry):
            p, state = carry
            value, grad = value_and_grad(p, state=state)
            updates, state = solver.update(
                grad, state, p, value=value, grad=grad, value_fn=f
            )
            return optax.apply_updates(p, updates), state

        def keep_going(carry):
            _, state = carry
            count = optax.tree_utils.tree_get(state, "count")
            grad_norm = optax.tree_utils.tree_norm(
                optax.tree_utils.tree_get(state, "grad")
            )
            value = optax.tree_utils.tree_get(state, "value")
            return (count == 0) | (
                (count < self.max_steps) & (grad_norm > self.tol * value)
            )

        v = {"w": params["w"] * scale, "b": params["b"]}
        v, _ = jax.lax.while_loop(keep_going, step, (v, solver.init(v)))
        return {"w": v["w"] / scale, "b": v["b"]}


UNIT_BALL_SVM = LinearBinary(
    "unit_ball_svm",
    "squared_hinge",
    2000.0,
    intercept=False,
    balanced=True,
    unit_norm=True,
)
"""SPEC section 5, unit ball: class-balanced squared-hinge linear SVM, C = 2000, no
intercept (the minimiser liblinear reaches with tol 1e-12), then unit-norm w."""

CIRCLES_LOGISTIC = LinearBinary(
    "circles_logistic",
    "logistic",
    1.0,
    intercept=True,
    balanced=False,
    unit_norm=False,
)
"""SPEC section 5, circles: L2-regularised logistic regression, C = 1, intercept
unpenalised: the documented substitute for the reference's Platt-scaled linear SVM."""

SOFTMAX_LOGISTIC = SoftmaxLogistic()

MODELS = {m.name: m for m in (UNIT_BALL_SVM, CIRCLES_LOGISTIC, SOFTMAX_LOGISTIC)}

# the MLP (SPEC section 5) subclasses Model, so it loads last and adds its presets here
from tbal_jax import mlp  # noqa: E402, F401
