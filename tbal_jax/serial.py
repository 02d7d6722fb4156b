"""Functions whose batch, under `vmap`, runs one member after another (issue 16).

`serial(f)` is `f` unbatched; under `vmap` the members of the batch run in a loop
(`lax.map`), each the unbatched program, instead of as one batched program. On XLA's
CPU backend that is faster for the MLP's training and scoring (algorithm.md section 5),
measured on a 2-core AVX-512 Xeon, jaxlib 0.10.2:

- a batched product of small matrices, ((R, 64, 64) @ (R, 64, 256) in an SGD step,
  (R, 2048, 64) @ (R, 2048, 256) in a scoring block) runs at one run's rate or below:
  the R runs' intermediates fall out of the cache, and the batch runs on one thread.
  One run's 2048-row block at a time keeps its activations in cache and its products
  reach the rate of large ones: scoring 16 runs' pools took 10.1 against 18.4 ms/run;
- every member keeps its own trip counts: a while loop under `vmap` runs until the
  batch's slowest member is done (its minibatches, its blocks of open rows), a serial
  member until it is done itself: one `mlp_fashion` fit, 94 against 113 ms/run;
- a member's result is the unbatched program's whatever the batch holds, so it cannot
  depend on how the sweep is chunked (`tbal_jax.sweep`).

On a GPU the batch is what fills the device, so there `vmap` batches as usual
(`MLP.batching`). Arguments the batch shares (not batched) are closed over, not copied
per member. Every value `f` reads that the batch may hold must be an argument: a
custom_vmap function cannot close over a batched value.
"""

from __future__ import annotations

from typing import Callable

import jax
from jax import custom_batching


def serial(f: Callable) -> Callable:
    """`f`, whose members under `vmap` run one after another (module docstring)."""

    @custom_batching.custom_vmap
    def one(*args):
        return f(*args)

    @one.def_vmap
    def _members_in_turn(axis_size, in_batched, *args):
        del axis_size
        leaves, tree = jax.tree.flatten(args)
        flags = jax.tree.leaves(in_batched)
        if not any(flags):
            out = one(*args)
            return out, jax.tree.map(lambda _: False, out)
        batched = [leaf for leaf, b in zip(leaves, flags) if b]

        def member(own):
            own = iter(own)
            full = [next(own) if b else leaf for leaf, b in zip(leaves, flags)]
            return one(*jax.tree.unflatten(tree, full))

        out = jax.lax.map(member, batched)
        return out, jax.tree.map(lambda _: True, out)

    return one
