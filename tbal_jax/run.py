"""One TBAL run as a pure, compiled function of (key, params)  (algorithm.md section 2).

The same loop runs the paper's baselines (algorithm.md section 6), described as data by the static
`cfg.protocol` (`config.Protocol`): AL queries its whole budget without auto-labelling,
PL takes its whole budget at random and trains once; both then label once with their
final model (`final_labels`), giving AL and AL+SC, or PL and PL+SC, from one run.

`make_run(cfg)` closes over a `StaticConfig` and returns a `Simulator` whose
`run(key, params)` performs the whole loop: a fixed-length `lax.scan` over rounds with a
`done` flag, fixed-shape masks for the pool and the validation set, and a fixed-capacity
training buffer. Nothing leaves the device inside a run.

Round i of the scan (algorithm.md section 2):
  1. skip training and auto-labelling if the validation set is empty or the training set
     has one class (steps 1-2); otherwise fit the model on all human labels so far;
  2. estimate per-class thresholds on the current validation set (step 3, section 3);
  3. auto-label unlabelled points with score >= t[pred] (step 4) and drop validation
     points with score >= t[pred] (step 5);
  4. check the stopping rule for round i+1 (step 6) and, if it goes on, query its batch
     (step 0 of round i+1) with this round's model, whose pool logits are already at hand.
     With no model yet, the batch follows the seed's draw order (`tbal_jax.datasets`).

With a fitted confidence function (`tbal_jax.scores.fitted`, algorithm.md section 14)
step 2 splits the validation points it tests on into D_cal and D_th, fits g on D_cal and
estimates the thresholds on D_th; steps 3-4 score with g. AL and PL fit no g in the
loop (they never auto-label there).

Random streams: the run's key splits into a data key (`Dataset.split`) and a loop key;
round i's key is `fold_in(loop_key, i)`. The query of round i uses the round key itself
(as before models took keys, which keeps earlier results bit-identical); every other
consumer folds in its own named constant (`STREAM_FIT`, `STREAM_SPLIT`, `STREAM_SCORE`
into the round key; `STREAM_INIT`, `STREAM_FINAL` into the loop key at values no round
index takes; `STREAM_TEST` into the data key).

One module of about 380 lines on purpose: the steps of a round are closures over one
`StaticConfig` (its capacities, components and segment boundaries); as separate modules
each would take a dozen of those values as arguments.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from tbal_jax import config as config_lib
from tbal_jax.datasets import Pools
from tbal_jax.estimators.spending import round_weights
from tbal_jax.open_rows import on_open_rows
from tbal_jax.prefix import prefix_count
from tbal_jax.scores import class_value, predicted_class, split
from tbal_jax.serial import serial
from tbal_jax.types import Array, Key, PyTree


class RunState(NamedTuple):
    """The carry of the round scan."""

    pool_status: Array  # (N,) int16: UNLABELLED, QUERIED, EXCLUDED or the machine label
    val_active: Array  # (V,) bool, the current validation set
    train_x: Array  # (Q, d) training buffer; rows < n_queried are valid
    train_y: Array  # (Q,)
    n_queried: Array  # int32
    weights: PyTree  # parameters of the latest trained model (a `Model` is its recipe)
    has_model: Array  # bool
    done: Array  # bool, the loop has stopped before this round
    test_status: Array  # (T,) int16: UNLABELLED or the machine label of a test point


UNLABELLED = -1
QUERIED = -2
EXCLUDED = (
    -3
)  # a validation-pool point kept in the pool arrays (see tbal_jax.datasets.base)
STREAM_FIT = 1  # fold_in constant of the round key: the model's fit
STREAM_SPLIT = 4  # of the round key: a fitted score's D_cal / D_th split
STREAM_SCORE = 5  # of the round key: a fitted score's fit
# fold_in constants of the loop key beside the round indices 0, 1, ...: from the top of
# the uint32 range, which no round index reaches (rounds <= N_q <= the pool size)
STREAM_INIT = 2**32 - 1  # the model's initial parameters
STREAM_FINAL = 2**32 - 2  # the baselines' final labelling with a fitted score
STREAM_TEST = 3  # of the data key: the held-out test sample


class RoundRecord(NamedTuple):
    """What each round did (scan output, leading axis = round)."""

    ran: Array  # bool
    trained: Array  # bool, model trained and thresholds estimated
    val_used: Array  # validation points the thresholds were estimated on
    train_used: Array  # human labels the model was trained on
    n_auto: Array  # points auto-labelled this round
    n_auto_wrong: Array  # of which wrongly
    thresholds: Array  # (k,), +inf in rounds that did not train
    th_n_above: Array  # points of the threshold set (D_th) at or above the thresholds
    th_n_above_wrong: Array  # of which the model predicts wrongly
    # (k,) per round, by the round model's *predicted* class c, the class whose threshold
    # t[c] tests the point (region {score >= t[c], pred = c}, algorithm.md section 3);
    # 0 in rounds that did not train, and in AL and PL, whose loop estimates none:
    val_used_class: Array  # the points the thresholds were estimated on (sum: val_used)
    val_removed_class: Array  # active points in the round's region, removed (step 5)


class RunSummary(NamedTuple):
    """The metrics of algorithm.md section 1 for one run of one method."""

    auto_error: Array  # float32, NaN when nothing was auto-labelled
    coverage: Array  # n_auto / N
    n_auto: Array
    n_auto_wrong: Array
    n_queried: Array
    n_rounds: Array
    test_n_auto: Array  # held-out test points the run's rounds would auto-label
    test_n_wrong: Array  # of which wrongly (both 0 without a test sample)


class RunOutput(NamedTuple):
    """A run's final state, its per-round record, and each method's final pool labels:
    (N,) int16 arrays holding QUERIED, UNLABELLED or the machine label; and the same
    labelling replayed on the held-out test sample, (T,) per method."""

    state: RunState
    record: RoundRecord
    labels: dict
    test_labels: dict


def summarise(
    labels: Array,
    pool_y: Array,
    record: RoundRecord,
    n_pool: int,
    test_labels: Array,
    test_y: Array,
) -> RunSummary:
    """algorithm.md section 1 metrics from a method's final pool labels; coverage is over the
    pool's N = `n_pool` points. The test counts are the same labelling replayed on the
    held-out sample: its population error and coverage."""
    auto = labels >= 0
    n_auto = jnp.sum(auto)
    n_wrong = jnp.sum(auto & (labels != pool_y))
    test_auto = test_labels >= 0
    return RunSummary(
        auto_error=jnp.where(n_auto > 0, n_wrong / jnp.maximum(n_auto, 1), jnp.nan),
        coverage=n_auto / n_pool,
        n_auto=n_auto,
        n_auto_wrong=n_wrong,
        n_queried=jnp.sum(labels == QUERIED),
        n_rounds=record.ran.sum(),
        test_n_auto=jnp.sum(test_auto),
        test_n_wrong=jnp.sum(test_auto & (test_labels != test_y)),
    )


class Simulator(NamedTuple):
    """The pure functions of one static configuration."""

    cfg: config_lib.StaticConfig
    run_on_pools: callable  # (pools, key, params, test) -> RunOutput
    run: callable  # (key, params, arrays=()) -> RunOutput
    test_sample: callable  # (data key, arrays=()) -> (x, y) of the held-out sample


def round_segments(cfg: config_lib.StaticConfig) -> list[tuple[int, int, int]]:
    """Split the rounds into `cfg.round_segments` scans of (start, stop, rows).

    Before round r at most n_s + r * n_b human labels exist, so the rounds of a segment
    can train on a static prefix of the training buffer: `rows` rows instead of its full
    capacity. The rows beyond hold no labels yet (weight 0), so the model is the same;
    the early rounds, whose Newton solves are the longest, get much cheaper.
    """
    n_seg = min(cfg.round_segments, cfg.max_rounds)
    edges = [round(k * cfg.max_rounds / n_seg) for k in range(n_seg + 1)]
    first = (
        cfg.max_n_train
        if cfg.protocol.budget_up_front
        else config_lib.seed_size(cfg.max_n_train)
    )
    return [
        (a, b, min(cfg.max_n_train, first + (b - 1) * cfg.max_batch))
        for a, b in zip(edges[:-1], edges[1:])
    ]


FRESH_RHO = 0.5  # validation=fresh: round r's part holds about (1 - rho) rho^r of N_v


def validation_parts(n_val: Array, capacity: int, rounds: int) -> Array:
    """validation=fresh (algorithm.md section 12): the part, 0 to R - 1, of each of the
    `capacity` validation slots, divided once before the loop. Slots are in draw
    order, so a run of them is a random subset; part r is the slots j with
    e_r <= j < e_{r+1}, e_r = ceil(N_v (w_0 + ... + w_{r-1})), w the geometric weights
    (rho = FRESH_RHO) renormalised over the R rounds: about half of N_v for round 0, a
    quarter for round 1, ... Slots >= N_v are inactive whatever their part."""
    cum = np.cumsum(round_weights("geometric", rounds, rho=FRESH_RHO))[:-1]
    edges = jnp.ceil(n_val * jnp.asarray(cum, jnp.float32)).astype(jnp.int32)
    return jnp.searchsorted(edges, jnp.arange(capacity), side="right").astype(jnp.int32)


def two_classes_present(train_y: Array, train_mask: Array, k: int) -> Array:
    """At least two classes among the training labels (algorithm.md section 2, step 1)."""
    return jnp.sum(class_counts(train_y, train_mask, k) > 0) >= 2


def mask_counts(masks: list[Array]) -> tuple[Array, ...]:
    """The points (int32) of each 1-d mask, all in one variadic reduction: one pass
    over the data, where XLA's CPU backend makes one per `jnp.sum` (3 pool-sized
    masks: 4.6x faster than three sums under vmap)."""
    return tuple(
        jax.lax.reduce(
            [m.astype(jnp.int32) for m in masks],
            [jnp.int32(0)] * len(masks),
            lambda a, b: tuple(x + y for x, y in zip(a, b)),
            (0,),
        )
    )


def class_counts(pred: Array, mask: Array, k: int) -> Array:
    """(k,) int32: the points of `mask` by class `pred`. Two classes count class 1 and
    the rest (a scatter-add along a 2-wide axis is slow on XLA's CPU)."""
    if k == 2:
        n_all, n_one = mask_counts([mask, mask & (pred == 1)])
        return jnp.stack([n_all - n_one, n_one])
    return jnp.zeros(k, jnp.int32).at[pred].add(mask.astype(jnp.int32))


@functools.lru_cache(maxsize=32)  # bounded: compiled programs live in sweep.Sweeper
def make_run(cfg: config_lib.StaticConfig) -> Simulator:
    dataset, protocol = cfg.dataset, cfg.protocol
    model = cfg.the_model
    k = dataset.num_classes
    score = cfg.score
    select = cfg.query
    spent_rounds = cfg.max_rounds if protocol.auto_label_in_loop else 1
    estimate = cfg.estimator(
        k, cfg.max_n_val, spent_rounds, score.span(k) if score.span else None
    )
    fresh = cfg.estimator.validation == "fresh"
    q_cap, v_cap = cfg.max_n_train, cfg.max_n_val

    def thresholds(
        scores, preds, labels, active, params: config_lib.RunParams, round_index=0
    ):
        """Per-class thresholds on the current validation set (algorithm.md sections 3,
        12); `round_index` reads the round's share of delta (a guaranteed estimator's
        spending rule)."""
        return estimate(
            scores,
            preds,
            labels,
            active,
            params.eps,
            params.c1,
            params.delta,
            round_index,
        )

    def init_state(pools: Pools, loop_key: Key, params: config_lib.RunParams):
        # PL labels its whole budget at random up front; TBAL and AL start from n_s.
        n_seed = (
            params.n_train
            if protocol.budget_up_front
            else config_lib.seed_size(params.n_train)
        )
        status = jnp.where(pools.pool_rank < n_seed, QUERIED, UNLABELLED)
        if pools.pool_x.shape[0] > dataset.n_pool:  # validation points in the arrays
            status = jnp.where(pools.pool_rank < dataset.n_pool, status, EXCLUDED)
        first = pools.pool_order[:q_cap]
        return RunState(
            pool_status=status.astype(jnp.int16),
            val_active=jnp.arange(v_cap) < params.n_val,
            train_x=pools.pool_x[first],
            train_y=pools.pool_y[first],
            n_queried=n_seed.astype(jnp.int32),
            weights=model.init(
                jax.random.fold_in(loop_key, STREAM_INIT), dataset.dim, k
            ),
            has_model=jnp.array(False),
            done=jnp.array(False),
            test_status=jnp.full(cfg.n_test, UNLABELLED, jnp.int16),
        )

    def forward(weights, x, open_, features=False):
        """The logits of the rows `x` (with `features`: (z, logits)) under the model
        `weights`; for a model that says so computed on the `open_` rows only
        (`tbal_jax.open_rows`; other rows: zeros or their value), and one run after
        another under vmap (`tbal_jax.serial`)."""
        f = model.features_and_logits if features else model.logits
        if not model.skip_settled_rows:
            return f(weights, x)

        def open_rows(w, x, o):
            return on_open_rows(functools.partial(f, w), x, o)

        return (serial(open_rows) if model.serial_runs else open_rows)(
            weights, x, open_
        )

    def score_rows(weights, g, x, open_) -> tuple[Array, Array, Array]:
        """(confidence, predicted class, logits) of the `open_` rows of `x` under the
        model `weights` and, for a fitted score, its fitted parameters `g`."""
        if not score.fitted:
            logits = forward(weights, x, open_)
            return (*score(logits), logits)
        z, logits = forward(weights, x, open_, features=True)
        return score.confidence(g, z, logits), predicted_class(logits), logits

    def fit_score(key, weights, val_x, val_y, active, tested, params, round_index=0):
        """A fitted score's round (algorithm.md section 14, steps 3a-3b): split the
        `tested` validation points into D_cal and D_th, fit g on D_cal. Returns (g, the
        confidences and predictions of the `active` validation points, D_th). A fixed
        score has no g and tests on every `tested` point (a subset of `active`)."""
        if not score.fitted:
            val_score, val_pred, _ = score_rows(weights, None, val_x, active)
            return None, val_score, val_pred, tested
        z, logits = forward(weights, val_x, active, features=True)
        pred = predicted_class(logits)
        cal, th = split(jax.random.fold_in(key, STREAM_SPLIT), tested, score.nu)

        def coverage(conf, mask):
            thr = thresholds(conf, pred, val_y, mask, params, round_index)
            above = mask & (conf >= class_value(thr, pred))
            return jnp.sum(above) / jnp.maximum(jnp.sum(mask), 1)

        g = score.fit(
            jax.random.fold_in(key, STREAM_SCORE), z, logits, val_y, cal, th, coverage
        )
        return g, score.confidence(g, z, logits), pred, th

    def validation_buffer(pools: Pools) -> tuple[Array, Array]:
        """The first `v_cap` validation-pool points in draw order (N_v of them active)."""
        idx = pools.val_order[:v_cap]
        return pools.val_x[idx], pools.val_y[idx]

    def run_on_pools(pools: Pools, key: Key, params: config_lib.RunParams, test):
        """One run on drawn pools; `test` = (x, y) of the held-out sample (T points,
        T = cfg.n_test, possibly 0): every round's model and thresholds label it as
        they label the pool, so its labels measure the population error."""
        test_x, _ = test
        val_x, val_y = validation_buffer(pools)
        n_batch = config_lib.batch_size(params.n_train)
        # before any model, queries follow the draw order: lower rank, higher priority
        draw_priority = -pools.pool_rank.astype(jnp.float32)
        if fresh:  # each round tests on its own part (algorithm.md section 12)
            part = validation_parts(params.n_val, v_cap, spent_rounds)

        def one_round(state: RunState, i, rows: int):
            run_now = ~state.done
            round_key = jax.random.fold_in(key, i)
            train_mask = jnp.arange(q_cap) < state.n_queried
            n_val = jnp.sum(state.val_active)
            trained = (
                run_now
                & (n_val > 0)
                & two_classes_present(state.train_y, train_mask, k)
            )
            fitted = model.fit(
                jax.random.fold_in(round_key, STREAM_FIT),
                state.weights,
                state.train_x[:rows],
                state.train_y[:rows],
                train_mask[:rows],
            )
            params_m = jax.tree.map(
                lambda a, b: jnp.where(trained, a, b), fitted, state.weights
            )
            has_model = state.has_model | trained

            tested = state.val_active & (part == i) if fresh else state.val_active
            unlabelled = state.pool_status == UNLABELLED
            if protocol.auto_label_in_loop:
                g, val_score, val_pred, tested = fit_score(
                    round_key, params_m, val_x, val_y, state.val_active, tested, params, i
                )
                pool_score, pool_pred, pool_logits = score_rows(
                    params_m, g, pools.pool_x, unlabelled
                )
                thr = thresholds(val_score, val_pred, val_y, tested, params, i)
            else:  # AL and PL never auto-label inside the loop (algorithm.md section 6)
                pool_logits = forward(params_m, pools.pool_x, unlabelled)
                pool_pred = predicted_class(pool_logits)
                pool_score = jnp.full(pool_pred.shape, -jnp.inf)
                val_score = jnp.full(v_cap, -jnp.inf)
                val_pred = jnp.zeros(v_cap, jnp.int32)
                thr = jnp.full(k, jnp.inf)

            new_auto = (
                trained & unlabelled & (pool_score >= class_value(thr, pool_pred))
            )
            pool_status = jnp.where(
                new_auto, pool_pred.astype(jnp.int16), state.pool_status
            )
            test_status = (
                label_above(params_m, g, test_x, state.test_status, thr, trained)
                if protocol.auto_label_in_loop
                else state.test_status
            )
            val_above = trained & (val_score >= class_value(thr, val_pred))
            val_active = state.val_active & ~val_above
            if protocol.auto_label_in_loop:
                used_class = class_counts(val_pred, trained & tested, k)
                removed_class = class_counts(val_pred, state.val_active & val_above, k)
            else:  # no thresholds, no predicted classes of validation points
                used_class = removed_class = jnp.zeros(k, jnp.int32)
            th_above = val_above & tested
            th_n_above, th_n_above_wrong = mask_counts(
                [th_above, th_above & (val_pred != val_y)]
            )

            # Stopping rule for round i+1, then its query (algorithm.md section 2, steps 6, 0).
            unlabelled &= ~new_auto
            n_auto, n_auto_wrong, n_unlab = mask_counts(
                [new_auto, new_auto & (pool_pred != pools.pool_y), unlabelled]
            )
            stop = (~run_now) | (n_unlab == 0) | (state.n_queried >= params.n_train)
            bs = jnp.where(
                stop,
                0,
                jnp.minimum(
                    jnp.minimum(n_unlab, n_batch), params.n_train - state.n_queried
                ),
            )
            idx, valid = select(
                round_key,
                pool_logits,
                has_model,
                draw_priority,
                unlabelled,
                bs,
                cfg.max_batch,
            )
            slot = jnp.where(valid, state.n_queried + prefix_count(valid) - 1, q_cap)
            n_points = pools.pool_x.shape[0]
            new_state = RunState(
                pool_status=pool_status.at[jnp.where(valid, idx, n_points)].set(
                    QUERIED, mode="drop"
                ),
                val_active=val_active,
                train_x=state.train_x.at[slot].set(pools.pool_x[idx], mode="drop"),
                train_y=state.train_y.at[slot].set(pools.pool_y[idx], mode="drop"),
                n_queried=state.n_queried + jnp.sum(valid),
                weights=params_m,
                has_model=has_model,
                done=stop,
                test_status=test_status,
            )
            record = RoundRecord(
                ran=run_now,
                trained=trained,
                val_used=jnp.where(
                    trained, jnp.sum(tested) if fresh or score.fitted else n_val, 0
                ),
                train_used=jnp.where(run_now, state.n_queried, 0),
                n_auto=n_auto,
                n_auto_wrong=n_auto_wrong,
                thresholds=jnp.where(trained, thr, jnp.inf),
                th_n_above=th_n_above,
                th_n_above_wrong=th_n_above_wrong,
                val_used_class=used_class,
                val_removed_class=removed_class,
            )
            return new_state, record

        state, records = init_state(pools, key, params), []
        for start, stop, rows in round_segments(cfg):
            state, record = jax.lax.scan(
                functools.partial(one_round, rows=rows), state, jnp.arange(start, stop)
            )
            records.append(record)
        record = jax.tree.map(lambda *r: jnp.concatenate(r), *records)
        labels, test_labels = final_labels(
            key, state, pools, val_x, val_y, test_x, params
        )
        return RunOutput(state, record, labels, test_labels)

    def label_above(model_params, g, x, status, thr, on):
        """Unlabelled points of `x` with score >= t[pred] get their predicted label
        (algorithm.md section 2, step 4), where `on`; `g` is a fitted score's fit."""
        if x.shape[0] == 0:
            return status
        open_ = status == UNLABELLED
        x_score, x_pred, _ = score_rows(model_params, g, x, open_)
        new = on & open_ & (x_score >= class_value(thr, x_pred))
        return jnp.where(new, x_pred.astype(jnp.int16), status)

    def final_labels(
        key: Key,
        state: RunState,
        pools: Pools,
        val_x: Array,
        val_y: Array,
        test_x: Array,
        params: config_lib.RunParams,
    ):
        """(pool labels, test labels) per outcome. TBAL's labels are the loop's. The
        baselines (algorithm.md section 6) label once with their final model: every remaining
        point (AL, PL), or those above thresholds estimated once on the whole, never
        shrunk, validation set (AL+SC, PL+SC); with a fitted score, g is fitted on
        D_cal of that set and the thresholds are estimated on its D_th (section 14)."""
        if not protocol.final_labelling:
            return {protocol.name: state.pool_status}, {
                protocol.name: state.test_status
            }
        g, val_score, val_pred, tested = fit_score(
            jax.random.fold_in(key, STREAM_FINAL),
            state.weights,
            val_x,
            val_y,
            state.val_active,
            state.val_active,
            params,
        )
        open_ = (state.pool_status == UNLABELLED) & state.has_model
        score_, pred, _ = score_rows(state.weights, g, pools.pool_x, open_)
        thr = thresholds(val_score, val_pred, val_y, tested, params)  # R = 1
        above = score_ >= class_value(thr, pred)
        label = pred.astype(jnp.int16)
        plain, selective = protocol.outcomes
        everything = jnp.full(k, -jnp.inf)
        return {
            plain: jnp.where(open_, label, state.pool_status),
            selective: jnp.where(open_ & above, label, state.pool_status),
        }, {
            plain: label_above(
                state.weights,
                g,
                test_x,
                state.test_status,
                everything,
                state.has_model,
            ),
            selective: label_above(
                state.weights, g, test_x, state.test_status, thr, state.has_model
            ),
        }

    def test_sample(data_key: Key, arrays=()):
        """The held-out sample of a seed: `cfg.n_test` fresh points of synthetic data,
        a fixed dataset's test split (`arrays`), or none."""
        if not cfg.n_test:
            return jnp.zeros((0, dataset.dim)), jnp.zeros(0, jnp.int32)
        return dataset.test_sample(
            jax.random.fold_in(data_key, STREAM_TEST), cfg.n_test, arrays
        )

    def run(key: Key, params: config_lib.RunParams, arrays=()) -> RunOutput:
        """One run; `arrays` are a fixed dataset's `device_arrays()`."""
        data_key, loop_key = jax.random.split(key)
        pools = dataset.split(data_key, arrays)
        return run_on_pools(pools, loop_key, params, test_sample(data_key, arrays))

    return Simulator(cfg, run_on_pools, run, test_sample)
