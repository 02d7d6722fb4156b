"""`tbal_jax.prefix`: the blocked cumulative sums equal jnp.cumsum (exactly for counts)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tbal_jax.prefix import EXACT_COUNT, prefix_count, prefix_sum


@pytest.mark.parametrize("n", [1, 31, 32, 33, 500, 1024, 1025, 4000])
def test_prefix_count_is_cumsum_exactly(n):
    rng = np.random.default_rng(n)
    masks = rng.random((3, n)) < [[0.0], [0.3], [1.0]]  # none, some, all set
    got = jax.jit(jax.vmap(prefix_count))(jnp.asarray(masks))
    assert got.dtype == jnp.int32
    np.testing.assert_array_equal(np.asarray(got), np.cumsum(masks, axis=1))


def test_prefix_count_refuses_what_float32_cannot_count():
    too_long = jax.ShapeDtypeStruct((EXACT_COUNT + 1,), jnp.bool_)
    with pytest.raises(ValueError, match="at most 16,777,216"):
        jax.eval_shape(prefix_count, too_long)


def test_prefix_sum_is_cumsum_within_rounding():
    x = np.random.default_rng(0).random(3000).astype(np.float32)
    np.testing.assert_allclose(
        np.asarray(prefix_sum(jnp.asarray(x))),
        np.cumsum(x, dtype=np.float64),
        rtol=1e-5,
    )
