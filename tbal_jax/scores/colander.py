"""Colander (Vishwakarma et al., NeurIPS 2024, "Pearls from Pebbles"): a confidence
function learnt for auto-labelling (algorithm.md section 14, step 3b).

Each round g is trained on D_cal to maximise a smooth surrogate of the share of points
auto-labelled at a small error; the thresholds are then estimated on D_th with the run's
estimator. As the authors' code (`AutoLabelingOptimization_V0`, `class_wise`
"independent", `features_key` "concat", model "two_layer : 2 : tanh") does it:

- g on the inputs x = [logits, z] (d = k + d_z): softmax(W2 tanh(W1 x + b1) + b2),
  hidden width 2 d, k outputs; per-class thresholds t (k,). Every weight and bias of
  a layer with `fan_in` inputs, and t (fan_in k), uniform on +-1/sqrt(fan_in)
  (PyTorch's `nn.Linear` default), drawn from the fit key;
- soft acceptance S_i = sigmoid(alpha (g(x_i)[yhat_i] - t[yhat_i])), yhat the model's
  prediction, and mistake_i = (yhat_i != y_i);
- loss of a minibatch (`colander_loss`): -mean S + lam * clip(e, 1e-4, 1 - 1e-5), the
  surrogate error e = sum(S mistake) / sum(S), or (sum(S mistake) + 1e-2) /
  (sum(S) + 1e-2) when mean S <= 1e-4;
- Adam (PyTorch's: eps 1e-8 outside the square root; the reference's two Adams, for g
  and for t, share one configuration) with coupled L2 weight decay (wd * param added to
  the gradient, `torch.optim.Adam(weight_decay=wd)`), the learning rate of epoch e
  being `models.mlp.cosine_lr(lr, e)` (the configs' CosineAnnealingLR(T_max=100)
  stepped once per epoch), one step per minibatch of `batch_size` shuffled D_cal rows;
- `accumulate`: the reference zeroes the gradients once per epoch, not per step, so its
  step i of an epoch uses the sum of the gradients of that epoch's minibatches 0..i
  (the weight decay added afresh). Off by default: on a synthetic 10-class problem
  with 5,000 D_cal rows (79 minibatches an epoch) it drives t to 3-5 and mean S to
  0.03 within 11 epochs, and the D_th coverage of the checkpoints after 1, 11, 21 and
  31 epochs is 28%, 2%, 3% and 0%, where each step on its own minibatch's gradient
  holds 43% at every checkpoint;
- checkpoints (`selection`): after every epoch e with e % `checkpoint_every` == 0
  (0-based, so after 1, 11, 21, ... epochs) g's coverage (the run's `coverage`) on D_th
  ("threshold_split", the reference) or on D_cal ("calibration_split") is measured and
  the first best checkpoint is kept. As the reference, the best starts as the untrained
  g with coverage 0 and a checkpoint replaces it only when strictly higher: if no
  checkpoint covers anything the untrained g is returned (its coverage was never
  measured, so it may cover something where every checkpoint covers nothing). "none"
  returns the last epoch;
- `confidence` is g(x)[yhat]: the learnt t are discarded and the run re-estimates the
  thresholds on D_th (the reference's `predict` also returns g(x)[yhat] alone).

Deviations from the reference: its optional MSE term (l3, 0 in every config) and its
`regularize` term are left out (`regularize` is false in the per-training-method fixed
configs; the CIFAR-10 ResNet-18 and CLIP Tiny-ImageNet ones, which set it true, are
search grids with other networks); per-step gradients (`accumulate`); far fewer epochs
(see `COLANDER`).

Fixed shapes with a traced number n of D_cal rows, as `models.mlp.MLP` trains: each epoch
sorts the buffer once (`cal_order`: the D_cal rows first, in a random order) and runs
only its ceil(n / batch_size) non-empty minibatches in a while loop, so a fit costs
`epochs` * ceil(n / batch_size) Adam steps, at most `epochs` * ceil(V / batch_size). A
partial minibatch averages over its D_cal rows; the other rows of the buffer never reach
the loss (their inputs are zeroed), nor, when `coverage` reads only the rows of its mask,
the checkpoint choice. Under vmap, a member whose minibatches are over while others' go
on keeps its parameters and optimiser state (JAX's batching of `lax.while_loop`).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import optax

from tbal_jax.models.mlp import MLP, cosine_lr
from tbal_jax.scores.fitted import Coverage, FittedScore
from tbal_jax.scores.fixed import predicted_class
from tbal_jax.types import Array, Key, PyTree

SELECTIONS = ("threshold_split", "calibration_split", "none")
MIN_COVERAGE = 1e-4  # mean S at or below which the error surrogate is smoothed
SMOOTHING = 1e-2  # added to both sums of the smoothed error surrogate
ERROR_CLIP = (1e-4, 1.0 - 1e-5)


def inputs_of(z: Array, logits: Array) -> Array:
    """g's inputs [logits, z] (the reference's "concat" features), (n, k + d_z)."""
    return jnp.concatenate([logits, z], axis=1).astype(jnp.float32)


def g_probs(g: PyTree, inputs: Array) -> Array:
    """g's class probabilities (n, k): softmax(W2 tanh(W1 x + b1) + b2)."""
    hidden, out = g
    h = jnp.tanh(inputs @ hidden["w"] + hidden["b"][None, :])
    return jax.nn.softmax(h @ out["w"] + out["b"][None, :], axis=-1)


def at_class(values: Array, pred: Array) -> Array:
    """values[i, pred_i] of an (n, k) array, by a select (no gather, slow on XLA's CPU)."""
    if values.shape[-1] == 2:
        return jnp.where(pred == 1, values[:, 1], values[:, 0])
    hit = jax.nn.one_hot(pred, values.shape[-1], dtype=bool)
    return jnp.sum(jnp.where(hit, values, 0.0), axis=-1)


def colander_loss(
    params: PyTree,
    inputs: Array,
    yhat: Array,
    mistake: Array,
    valid: Array,
    alpha: float,
    lam: float,
) -> Array:
    """Colander's loss on the `valid` rows of a minibatch (module docstring): -mean S +
    lam * clip(surrogate error). `params` = {"g": g's layers, "t": (k,)}; `inputs`
    (B, k + d_z), `yhat` (B,) the model's predictions, `mistake` (B,) bool."""
    margin = g_probs(params["g"], inputs) - params["t"][None, :]
    s = jax.nn.sigmoid(alpha * at_class(margin, yhat))
    s = jnp.where(valid, s, 0.0)
    total = jnp.sum(s)
    wrong = jnp.sum(jnp.where(mistake, s, 0.0))
    cover = total / jnp.maximum(jnp.sum(valid), 1)
    smooth = cover <= MIN_COVERAGE
    error = jnp.where(
        smooth,
        (wrong + SMOOTHING) / (total + SMOOTHING),
        wrong / jnp.where(smooth, 1.0, total),
    )
    return -cover + lam * jnp.clip(error, *ERROR_CLIP)


def cal_order(key: Key, cal: Array) -> Array:
    """The buffer's rows, the `cal` ones first in an order drawn from `key`, then the
    others: one sort of uint32 keys packing (not cal, random bits, row), ties in the
    random bits going to the lower row."""
    capacity = cal.shape[0]
    row_bits = max(1, (capacity - 1).bit_length())
    if row_bits > 24:
        raise ValueError(f"buffer of {capacity} rows is too large to shuffle")
    draw = (jax.random.bits(key, (capacity,), jnp.uint32) >> (row_bits + 1)) << row_bits
    packed = (
        jnp.where(cal, jnp.uint32(0), jnp.uint32(1 << 31))
        | draw
        | jnp.arange(capacity, dtype=jnp.uint32)
    )
    return (jnp.sort(packed) & jnp.uint32((1 << row_bits) - 1)).astype(jnp.int32)


@dataclasses.dataclass(frozen=True)
class Colander(FittedScore):
    """Colander's g, trained on D_cal as the module docstring says (algorithm.md section
    14, step 3b). `lam` is the configs' l2, `alpha` their alpha_1; `accumulate` sums the gradients
    over each epoch's steps as the reference does."""

    name: str = "colander"
    label: str = "Colander"
    lam: float = 10.0
    alpha: float = 1.0
    lr: float = 0.01
    weight_decay: float = 0.01
    epochs: int = 31
    batch_size: int = 64
    checkpoint_every: int = 10
    selection: str = "threshold_split"
    accumulate: bool = False

    def __post_init__(self):
        if self.selection not in SELECTIONS:
            raise ValueError(f"selection must be one of {SELECTIONS}")
        if min(self.epochs, self.batch_size, self.checkpoint_every) < 1:
            raise ValueError("epochs, batch_size and checkpoint_every must be >= 1")
        if not (self.lr > 0 and self.weight_decay >= 0 and self.alpha > 0):
            raise ValueError("lr and alpha must be > 0 and weight_decay >= 0")

    def init(self, key: Key, dim: int, k: int) -> PyTree:
        """{"g": the layers of a tanh network dim -> 2 dim -> k, "t": (k,)}, each entry
        uniform on +-1/sqrt(fan_in) (t's fan_in is k)."""
        g_key, t_key = jax.random.split(key)
        bound = 1.0 / math.sqrt(k)
        return {
            "g": MLP(widths=(2 * dim,)).init(g_key, dim, k),
            "t": jax.random.uniform(t_key, (k,), jnp.float32, -bound, bound),
        }

    def optimiser(self, lr: Array) -> optax.GradientTransformation:
        """Coupled weight decay, then Adam at learning rate `lr` (the state's structure
        does not depend on `lr`, so each epoch builds it with its own)."""
        return optax.chain(
            optax.add_decayed_weights(self.weight_decay),
            optax.scale_by_adam(eps=1e-8),
            optax.scale(-lr),
        )

    def confidence(self, params: PyTree, z: Array, logits: Array) -> Array:
        """g(x)[yhat], yhat the argmax of the logits."""
        return at_class(
            g_probs(params["g"], inputs_of(z, logits)), predicted_class(logits)
        )

    def fit(
        self,
        key: Key,
        z: Array,
        logits: Array,
        y: Array,
        cal: Array,
        th: Array,
        coverage: Coverage,
    ) -> PyTree:
        """g (and the t it was trained with) after training on the `cal` rows and the
        checkpoint choice of `selection` (module docstring). The key splits into the
        initialisation's key and the orders' key; epoch e's order uses fold_in(that
        key, e)."""
        init_key, order_key = jax.random.split(key)
        inputs = inputs_of(z, logits)
        yhat = predicted_class(logits)
        mistake = yhat != y
        params = self.init(init_key, inputs.shape[1], logits.shape[1])
        b = self.batch_size
        capacity = cal.shape[0]
        padded = -(-capacity // b) * b
        n_cal = jnp.sum(cal)
        n_batches = -(-n_cal // b)
        grad = jax.grad(colander_loss)
        mask = th if self.selection == "threshold_split" else cal

        def epoch(e, carry):
            p, s, best, best_cov = carry
            order = jnp.pad(
                cal_order(jax.random.fold_in(order_key, e), cal), (0, padded - capacity)
            )
            lr = cosine_lr(self.lr, e)

            def minibatch(i, c):
                p, s, acc = c
                rows = jax.lax.dynamic_slice(order, (i * b,), (b,))
                valid = i * b + jnp.arange(b) < n_cal
                xb = jnp.where(valid[:, None], inputs[rows], 0.0)
                g = grad(p, xb, yhat[rows], mistake[rows], valid, self.alpha, self.lam)
                if self.accumulate:
                    g = jax.tree.map(jnp.add, acc, g)
                updates, s = self.optimiser(lr).update(g, s, p)
                return optax.apply_updates(p, updates), s, g

            zero = jax.tree.map(jnp.zeros_like, p)
            p, s, _ = jax.lax.fori_loop(0, n_batches, minibatch, (p, s, zero))
            if self.selection != "none":

                def checkpoint(best_and_cov):
                    best, best_cov = best_and_cov
                    cov = coverage(
                        at_class(g_probs(p["g"], inputs), yhat), mask
                    ).astype(jnp.float32)
                    better = cov > best_cov
                    best = jax.tree.map(lambda a, o: jnp.where(better, a, o), p, best)
                    return best, jnp.where(better, cov, best_cov)

                best, best_cov = jax.lax.cond(
                    e % self.checkpoint_every == 0,
                    checkpoint,
                    lambda best_and_cov: best_and_cov,
                    (best, best_cov),
                )
            return p, s, best, best_cov

        start = (
            params,
            self.optimiser(self.lr).init(params),
            params,
            jnp.zeros((), jnp.float32),
        )
        last, _, best, _ = jax.lax.fori_loop(0, self.epochs, epoch, start)
        return last if self.selection == "none" else best


COLANDER = Colander()
"""Colander with the authors' fixed settings where those agree (CIFAR-10 ViT-small with
FMFP and MNIST LeNet with squentropy: l2 10, alpha_1 1, Adam at lr 0.01, batch 64,
checkpoints every 10 epochs on D_th; weight decay 0.01 of their 0.01 and 1, since a
coupled decay of 1 outweighs the loss's gradients), and 31 epochs of their 500: a fit on
5,000 D_cal rows is 2,449 Adam steps, and the last epoch is the fourth checkpoint (after
1, 11, 21 and 31 epochs). On a synthetic 10-class problem the D_th coverage of the
checkpoints is flat after the first few epochs."""
COLANDER_CALIBRATION_SPLIT = dataclasses.replace(
    COLANDER,
    name="colander_calibration_split",
    label="Colander, checkpoint on D_cal",
    selection="calibration_split",
)
"""`COLANDER` with its checkpoint chosen by the coverage on D_cal (algorithm.md section 14,
the audit)."""
COLANDER_LAST_EPOCH = dataclasses.replace(
    COLANDER, name="colander_last_epoch", label="Colander, last epoch", selection="none"
)
"""`COLANDER` after its last epoch, no checkpoint choice (algorithm.md section 14, the
audit)."""
