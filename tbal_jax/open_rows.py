"""A row-wise function computed on the rows whose outcome is still open (issue 16).

From round 1 on, much of a round's scoring (algorithm.md section 2, steps 3-4 and the
query of step 0) is of rows whose score can no longer change anything: pool points
already auto-labelled or queried, validation points already removed (step 5), test
points already labelled. For a model whose forward pass costs far more per row than
moving the row (the MLP: about 10^5 FLOPs a row against d floats read),
`on_open_rows` gathers the open rows to the front, in their order, and runs the
function on `block` rows at a time, in a loop whose trip count is the number of blocks
the open rows fill. Under `vmap` the loop runs as many blocks as the chunk's fullest run
needs, so the saving is the share of rows every run of the chunk has settled.

Shapes stay fixed: the result has the full shape, and a settled row holds either zeros
or the function's own value for it; callers read open rows only.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from tbal_jax.types import Array, PyTree

BLOCK = 2048  # rows a block: large enough for full-rate matrix products on a CPU


def on_open_rows(
    f: Callable[[Array], PyTree], x: Array, open_: Array, block: int | None = None
) -> PyTree:
    """`f(x)` (each output with a leading axis of x's rows) where only the rows with
    `open_` are needed; the others hold zeros or f's value (module docstring). `block`
    rows at a time (None: `BLOCK` when called)."""
    block = block or BLOCK
    n = x.shape[0]
    if n <= block:  # a single block: nothing to skip
        return f(x)
    n_blocks = -(-n // block)
    # open rows first, each group in its order; padded with n (gathers clip, scatters drop)
    order = jnp.argsort(~open_, stable=True).astype(jnp.int32)
    order = jnp.concatenate([order, jnp.full(n_blocks * block - n, n, jnp.int32)])
    filled = (jnp.sum(open_, dtype=jnp.int32) + block - 1) // block
    shapes = jax.eval_shape(f, jax.ShapeDtypeStruct((block, *x.shape[1:]), x.dtype))
    out = jax.tree.map(lambda s: jnp.zeros((n, *s.shape[1:]), s.dtype), shapes)

    def one_block(b, out):
        idx = jax.lax.dynamic_slice(order, (b * block,), (block,))
        values = f(jnp.take(x, idx, axis=0, mode="clip"))
        return jax.tree.map(lambda o, v: o.at[idx].set(v, mode="drop"), out, values)

    return jax.lax.fori_loop(0, filled, one_block, out)
