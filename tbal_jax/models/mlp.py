"""The MLP of algorithm.md section 5, trained by optax inside the compiled run (issue 10).

`MLP` is a `Model`: tanh layers d -> widths -> k, trained from scratch every round
(algorithm.md section 2, step 2) on the run's fixed-capacity, masked training buffer, so that a
whole TBAL run with it stays one pure function that vmaps over seeds and grid cells.

Training, as the reference code trains its PyTorch MLP (algorithm.md section 5):

- initialisation: every weight and bias of a layer with `fan_in` inputs uniform on
  [-1/sqrt(fan_in), 1/sqrt(fan_in)] (PyTorch's `nn.Linear` default), drawn from the fit
  key: `fit` ignores the incoming parameters' values (it reads their shapes only);
- loss ("squentropy") on a minibatch of B valid rows: mean cross-entropy + the mean over
  all B * k entries of (logit_ij * (1 - onehot_ij))^2;
- SGD with momentum 0.9 and coupled L2 weight decay (wd * param added to the gradient
  before the momentum, as `torch.optim.SGD(weight_decay=wd)`), the learning rate of epoch
  e being lr * (1 + cos(pi * e / 100)) / 2 (`torch.optim.lr_scheduler.CosineAnnealingLR`
  with T_max = 100, stepped once per epoch), batch 64, `epochs` epochs;
- optional early stop (IMDB): once an epoch's training error (the predictions made on
  its minibatches before each step, over the valid rows, as the reference counts it) is
  <= `early_stop_error`, no further epoch runs.

Minibatches (`epoch_order`): each epoch puts the valid rows first, in an order drawn from
the epoch's key (or in buffer order, unshuffled), and cuts that order into
ceil(capacity / batch_size) minibatches of fixed shape, padded with invalid rows. The
place of a valid row in the order depends only on the key and on the row's rank among the
valid rows, so a buffer with masked rows trains exactly as the buffer of its valid rows
alone (tested). A partial minibatch averages over its valid rows. Only the non-empty
minibatches run, in a while loop, as the epochs do (`MLP.train`): under vmap, a member
whose minibatches or epochs are over while others' go on keeps its parameters and
optimiser state (momentum, weight decay) untouched, a masked no-op (tested).

Matrix products (`precision`, issue 16): every layer's product, in the forward pass and
in both products of its backward pass (training and scoring alike), is

- "float32" (the default): float32 operands at `Precision.HIGHEST`, true float32 on
  every backend. Before this setting the products passed no precision (None, that is
  `Precision.DEFAULT` unless `jax_default_matmul_precision` says otherwise), which XLA's
  CPU backend computes in float32 all the same: on CPU HIGHEST gives the old results bit
  for bit (tested), while on an NVIDIA GPU (Ampere or later) the old DEFAULT let cuBLAS
  round the operands to TF32, which is now `precision="tf32"`;
- "bfloat16": both operands rounded to bfloat16, products accumulated and returned in
  float32 (`preferred_element_type=float32`); the backward products round the incoming
  cotangent to bfloat16 the same way and return float32 gradients (`_matmul_bf16`, a
  custom VJP: JAX's own transpose would round the gradients to bfloat16). The weights,
  the optimiser, biases, tanh and the loss stay float32;
- "tf32": float32 operands at `Precision.DEFAULT`: TF32 tensor cores on an NVIDIA GPU,
  plain float32 (the same bits as "float32") on CPU.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import optax

from tbal_jax.models.base import Model
from tbal_jax.prefix import prefix_count
from tbal_jax.serial import serial
from tbal_jax.types import Array, Key, PyTree

MOMENTUM = 0.9
COSINE_PERIOD = 100  # epochs: CosineAnnealingLR's T_max in the reference code
PRECISIONS = ("float32", "bfloat16", "tf32")  # `MLP.precision` (module docstring)
BATCHINGS = ("auto", "vmap", "serial")  # `MLP.batching` (module docstring)


@jax.custom_vjp
def _matmul_bf16(a: Array, b: Array) -> Array:
    """a @ b with both operands rounded to bfloat16, accumulated and returned in float32."""
    return _matmul_bf16_fwd(a, b)[0]


def _matmul_bf16_fwd(a: Array, b: Array):
    a16, b16 = a.astype(jnp.bfloat16), b.astype(jnp.bfloat16)
    return jnp.matmul(a16, b16, preferred_element_type=jnp.float32), (a16, b16)


def _matmul_bf16_bwd(residuals, g: Array):
    """Both backward products as the forward one: bfloat16 operands, float32 results."""
    a16, b16 = residuals
    g16 = g.astype(jnp.bfloat16)
    return (
        jnp.matmul(g16, b16.T, preferred_element_type=jnp.float32),
        jnp.matmul(a16.T, g16, preferred_element_type=jnp.float32),
    )


_matmul_bf16.defvjp(_matmul_bf16_fwd, _matmul_bf16_bwd)


def matmul(a: Array, b: Array, precision: str) -> Array:
    """a @ b for 2-D float32 `a`, `b` at one of `PRECISIONS` (module docstring)."""
    if precision == "bfloat16":
        return _matmul_bf16(a, b)
    level = {"float32": jax.lax.Precision.HIGHEST, "tf32": jax.lax.Precision.DEFAULT}
    return jnp.matmul(a, b, precision=level[precision])


def cosine_lr(lr: float, epoch: Array) -> Array:
    """The learning rate of epoch `epoch` (0-based): lr * (1 + cos(pi * epoch / 100)) / 2,
    the closed form of CosineAnnealingLR(T_max=100, eta_min=0) (algorithm.md section 5)."""
    return lr * 0.5 * (1.0 + jnp.cos(jnp.pi * epoch / COSINE_PERIOD))


def squentropy(logits: Array, y: Array, valid: Array) -> tuple[Array, Array]:
    """(loss, wrong): the squentropy loss of algorithm.md section 5 averaged over the `valid` rows
    of a minibatch, and how many valid rows the logits misclassify (0 and 0 without any).

    loss = mean_i CE(logits_i, y_i) + mean_{i, j} (logits_ij * (1 - onehot(y_i)_j))^2,
    both means over the valid rows i (and all k classes j).
    """
    k = logits.shape[1]
    ce = optax.losses.softmax_cross_entropy_with_integer_labels(logits, y)
    off = jnp.where(jax.nn.one_hot(y, k, dtype=bool), 0.0, logits)
    per_row = ce + jnp.sum(off * off, axis=1) / k
    n = jnp.maximum(jnp.sum(valid), 1)
    wrong = jnp.sum(valid & (jnp.argmax(logits, axis=1) != y))
    return jnp.sum(jnp.where(valid, per_row, 0.0)) / n, wrong


def epoch_order(
    key: Key, mask: Array, batch_size: int, shuffle: bool
) -> tuple[Array, Array]:
    """One epoch's minibatches over a buffer of `mask.shape[0]` rows: (rows, valid), both
    (ceil(capacity / batch_size), batch_size). Valid rows come first, each placed by a
    random 32-bit draw of `fold_in(key, its rank among the valid rows)` (ties by rank),
    or in buffer order when not `shuffle`; the padding rows are row 0, marked invalid."""
    capacity = mask.shape[0]
    n_batches = -(-capacity // batch_size)
    invalid = (~mask).astype(jnp.int32)
    index = jnp.arange(capacity, dtype=jnp.int32)
    if shuffle:
        rank = prefix_count(mask) - 1
        draw = jax.vmap(lambda r: jax.random.bits(jax.random.fold_in(key, r)))(rank)
        _, _, order = jax.lax.sort((invalid, draw, index), num_keys=2)
    else:
        _, order = jax.lax.sort((invalid, index), num_keys=1)
    pad = n_batches * batch_size - capacity
    order = jnp.concatenate([order, jnp.zeros(pad, jnp.int32)])
    valid = jnp.arange(n_batches * batch_size) < jnp.sum(mask)
    return (
        order.reshape(n_batches, batch_size),
        valid.reshape(n_batches, batch_size),
    )


class TrainLog(NamedTuple):
    """What each epoch of a fit did (leading axis = epoch)."""

    ran: Array  # bool: the epoch trained (False after an early stop)
    error: (
        Array  # float32: its training error over the valid rows (0 if it did not run)
    )


class _Epochs(NamedTuple):
    """The carry of `MLP.train`'s loop over epochs."""

    epoch: Array  # int32, the next epoch
    weights: PyTree
    opt_state: PyTree
    stopped: Array  # bool, early-stopped
    log: TrainLog


@dataclasses.dataclass(frozen=True)
class MLP(Model):
    """tanh MLP d -> widths -> k trained as the module docstring says (algorithm.md section 5).

    `early_stop_error` None trains every epoch; `shuffle` False keeps the buffer's order
    every epoch (the reference's IMDB loader does not shuffle, its Tiny-ImageNet one does).
    `precision` ("float32", "bfloat16" or "tf32") is that of every matrix product, in
    training and in scoring (module docstring): `dataclasses.replace(MLP_FASHION,
    precision="bfloat16")`.
    """

    name: str = "mlp"
    widths: tuple[int, ...] = (2000, 1500)
    epochs: int = 75
    lr: float = 0.1
    weight_decay: float = 1e-3
    batch_size: int = 64
    early_stop_error: float | None = None
    shuffle: bool = True
    label: str = ""
    precision: str = "float32"
    batching: str = "auto"
    skip_settled_rows: ClassVar[bool] = True  # about 10^5 FLOPs a row (base.py)

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}"
            )
        if self.batching not in BATCHINGS:
            raise ValueError(
                f"batching must be one of {', '.join(BATCHINGS)}, got {self.batching!r}"
            )
        if not all(isinstance(w, int) and w >= 1 for w in self.widths):
            raise ValueError(f"widths must be positive integers, got {self.widths}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be at least 1")
        if not (self.lr > 0 and self.weight_decay >= 0):
            raise ValueError("lr must be > 0 and weight_decay >= 0")

    def init(self, key: Key, dim: int, k: int) -> PyTree:
        """Layers as a tuple of {"w": (fan_in, fan_out), "b": (fan_out,)}, every entry
        uniform on +-1/sqrt(fan_in)."""
        sizes = (dim, *self.widths, k)
        layers = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            kw, kb = jax.random.split(jax.random.fold_in(key, i))
            bound = 1.0 / math.sqrt(fan_in)
            layers.append(
                {
                    "w": jax.random.uniform(
                        kw, (fan_in, fan_out), jnp.float32, -bound, bound
                    ),
                    "b": jax.random.uniform(kb, (fan_out,), jnp.float32, -bound, bound),
                }
            )
        return tuple(layers)

    def logits(self, weights: PyTree, x: Array) -> Array:
        return self.features_and_logits(weights, x)[1]

    def features_and_logits(self, weights: PyTree, x: Array) -> tuple[Array, Array]:
        """(last hidden layer, logits)."""
        h = x
        for layer in weights[:-1]:
            h = jnp.tanh(matmul(h, layer["w"], self.precision) + layer["b"][None, :])
        last = weights[-1]
        return h, matmul(h, last["w"], self.precision) + last["b"][None, :]

    def optimiser(self, lr: Array) -> optax.GradientTransformation:
        """Coupled weight decay, then SGD with momentum at learning rate `lr` (the state's
        structure does not depend on `lr`, so each epoch builds it with its own)."""
        return optax.chain(
            optax.add_decayed_weights(self.weight_decay),
            optax.sgd(lr, momentum=MOMENTUM),
        )

    def step(
        self, weights: PyTree, opt_state, xb: Array, yb: Array, valid: Array, lr: Array
    ):
        """One SGD step on a minibatch with at least one `valid` row: returns
        (weights, opt_state, wrong), wrong = the valid rows misclassified before the step.
        Invalid rows are zeroed, so whatever they hold cannot reach the gradient."""
        xb = jnp.where(valid[:, None], xb, 0.0)
        grads, wrong = jax.grad(
            lambda p: squentropy(self.logits(p, xb), yb, valid), has_aux=True
        )(weights)
        updates, opt_state = self.optimiser(lr).update(grads, opt_state, weights)
        return optax.apply_updates(weights, updates), opt_state, wrong

    def train(
        self, key: Key, weights: PyTree, x: Array, y: Array, mask: Array
    ) -> tuple[PyTree, TrainLog]:
        """A fresh model (shapes from `weights`) trained on the rows of `x`, `y` where
        `mask`: (weights, per-epoch log). The key splits into the initialisation's key
        and the minibatch orders' key; epoch e's order uses fold_in(that key, e). An
        epoch gathers its rows in that order once and each step slices its minibatch
        (one gather of the buffer, not one per step: the same rows, 3% faster a fit).

        Both loops are while loops: over the epochs until `epochs` or an early stop, and
        within an epoch over its non-empty minibatches only, ceil(valid rows /
        batch_size) of them. Unbatched they stop there. Under vmap a while loop runs
        until every member is done and carries the finished members' whole state
        (parameters and optimiser state) through unchanged (JAX's batching of
        `lax.while_loop`): the empty minibatches and the epochs after an early stop are
        masked no-ops, and they cost nothing when all members agree, as the seeds of one
        grid cell do (they hold as many labels each round)."""
        init_key, order_key = jax.random.split(key)
        weights = self.init(init_key, x.shape[1], weights[-1]["b"].shape[0])
        n_rows = jnp.sum(mask)
        n_batches = -(-n_rows // self.batch_size)

        def epoch_body(carry: _Epochs) -> _Epochs:
            rows, valid = epoch_order(
                jax.random.fold_in(order_key, carry.epoch),
                mask,
                self.batch_size,
                self.shuffle,
            )
            lr = cosine_lr(self.lr, carry.epoch)
            xe, ye = x[rows], y[rows]

            def minibatch(i, c):
                p, s, wrong = c
                p, s, w = self.step(p, s, xe[i], ye[i], valid[i], lr)
                return p, s, wrong + w

            p, s, wrong = jax.lax.fori_loop(
                0,
                n_batches,
                minibatch,
                (carry.weights, carry.opt_state, jnp.zeros((), jnp.int32)),
            )
            error = wrong / jnp.maximum(n_rows, 1)
            stopped = (
                False
                if self.early_stop_error is None
                else error <= self.early_stop_error
            )
            return _Epochs(
                carry.epoch + 1,
                p,
                s,
                stopped,
                TrainLog(
                    carry.log.ran.at[carry.epoch].set(True),
                    carry.log.error.at[carry.epoch].set(error),
                ),
            )

        def keep_going(carry: _Epochs) -> Array:
            return (carry.epoch < self.epochs) & ~carry.stopped

        start = _Epochs(
            jnp.zeros((), jnp.int32),
            weights,
            self.optimiser(self.lr).init(weights),
            jnp.array(False),
            TrainLog(jnp.zeros(self.epochs, bool), jnp.zeros(self.epochs, jnp.float32)),
        )
        end = jax.lax.while_loop(keep_going, epoch_body, start)
        return end.weights, end.log

    @property
    def serial_runs(self) -> bool:
        """Whether runs batched by `vmap` train and score one after another
        (`tbal_jax.serial`): `batching` "serial", or "auto" on a CPU backend."""
        if self.batching == "auto":
            return jax.default_backend() == "cpu"
        return self.batching == "serial"

    def fit(self, key: Key, weights: PyTree, x: Array, y: Array, mask: Array) -> PyTree:
        """`train`'s parameters: a fresh model every call (algorithm.md section 2, step 2);
        under vmap the runs train one after another where `serial_runs`."""
        fit = lambda *a: self.train(*a)[0]  # noqa: E731
        return (serial(fit) if self.serial_runs else fit)(key, weights, x, y, mask)


MLP_TINY_IMAGENET = MLP(
    "mlp_tiny_imagenet",
    epochs=75,
    lr=0.1,
    weight_decay=1e-3,
    shuffle=True,
    label="MLP 2000-1500",
)
"""algorithm.md section 5, Tiny-ImageNet: lr 0.1, weight decay 1e-3, 75 epochs, shuffled."""

MLP_IMDB = MLP(
    "mlp_imdb",
    epochs=20,
    lr=0.01,
    weight_decay=5e-4,
    early_stop_error=0.001,
    shuffle=False,
    label="MLP 2000-1500",
)
"""algorithm.md section 5, IMDB: lr 0.01, weight decay 5e-4, up to 20 epochs, stopped after the
first epoch whose training error is <= 0.1%; not shuffled (the reference's default)."""

MLP_FASHION = MLP(
    "mlp_fashion",
    widths=(256, 128),
    epochs=30,
    lr=0.05,
    weight_decay=1e-3,
    label="MLP 256-128",
)
"""Fashion-MNIST (not in the paper), narrow enough for a CPU: 64 -> 256 -> 128 -> 10, 30
epochs at lr 0.05. On 1,000 random training images it is about 81% accurate on the
10,000 test images (2 keys), as accurate as the paper's 2000 -> 1500 widths (80%) at 1/40
of their cost (70 ms against 2.8 s a fit, unvmapped, on this 2-core CPU); the linear
`softmax_logistic` is 79% accurate there."""

PRESETS = (MLP_TINY_IMAGENET, MLP_IMDB, MLP_FASHION)
