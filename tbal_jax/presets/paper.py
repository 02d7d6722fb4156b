"""The paper's published experiments on synthetic data (algorithm.md section 8) and the
project's experiments beside them (the bounds, the estimators head to head)."""

from tbal_jax.estimators import BASE_ESTIMATORS
from tbal_jax.presets.base import Experiment, axes

UNIT_BALL_N_VAL = (100,) + tuple(range(400, 4001, 400))
ESTIMATOR_N_VAL = (200, 500, 1000, 2000, 4000)
ESTIMATOR_TEST_POINTS = 20_000  # population metrics: the error's std at 1% is ~0.1%

UNIT_BALL_VAL = Experiment(
    name="unit_ball_val",
    dataset="unit_ball",
    x="n_val",
    axes=axes(n_val=UNIT_BALL_N_VAL, n_train=(500,), eps=(0.01,)),
)
UNIT_BALL_TRAIN = Experiment(
    name="unit_ball_train",
    dataset="unit_ball",
    x="n_train",
    axes=axes(
        n_val=(4000,),
        n_train=(100, 150, 200, 250) + tuple(range(300, 1001, 100)),
        eps=(0.01,),
    ),
)
UNIT_BALL_EPS = Experiment(
    name="unit_ball_eps",
    dataset="unit_ball",
    x="eps",
    axes=axes(n_val=(4000,), n_train=(500,), eps=(0.001, 0.005, 0.01, 0.03, 0.05)),
)
CIRCLES_TRAIN = Experiment(
    name="circles_train",
    dataset="circles",
    x="n_train",
    axes=axes(n_val=(2000,), n_train=tuple(range(100, 1501, 100)), eps=(0.01,)),
)
CIRCLES_SCATTER = Experiment(
    name="circles_scatter",
    dataset="circles",
    x="n_train",
    axes=axes(n_val=(2000,), n_train=(500,), eps=(0.01,), c1=(0.0,)),
    kind="scatter",
    methods=("tbal", "al"),
    seeds=1,
)
BOUNDS_VS_EMPIRICS = Experiment(
    name="bounds_vs_empirics",
    dataset="unit_ball",
    x="n_val",
    axes=axes(n_val=UNIT_BALL_N_VAL, n_train=(500,), eps=(0.01,), c1=(0.0,)),
    kind="bounds",
    methods=("tbal",),
)
ESTIMATORS_UNIT_BALL = Experiment(
    name="estimators",
    dataset="unit_ball",
    x="n_val",
    # C1 = 0.25 for the sigma and Hoeffding slacks (the published value)
    axes=axes(n_val=ESTIMATOR_N_VAL, n_train=(500,), eps=(0.01, 0.05), c1=(0.25,)),
    kind="estimators",
    methods=("tbal",),
    estimators=BASE_ESTIMATORS,  # the variants of algorithm.md section 12: --estimator
    n_test=ESTIMATOR_TEST_POINTS,
    seeds=500,
)
ESTIMATORS_CIRCLES = Experiment(
    name="estimators_circles",
    dataset="circles",
    x="n_val",
    axes=axes(n_val=ESTIMATOR_N_VAL[:-1], n_train=(500,), eps=(0.01,), c1=(0.25,)),
    kind="estimators",
    methods=("tbal",),
    estimators=BASE_ESTIMATORS,  # the variants of algorithm.md section 12: --estimator
    n_test=ESTIMATOR_TEST_POINTS,
    seeds=500,
)
