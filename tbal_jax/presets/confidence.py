"""Confidence functions in the loop (algorithm.md section 14): the model's own score
against temperature scaling, top-label histogram binning, scaling-binning and Colander
(the paper's sequel), and the audit of Colander's checkpoint selection.

Colander's repository runs with C_1 = 0.25 and eps = 5% (1% on the circles); the
presets keep those. The presets on the user's embeddings also take its threshold rule
(`sigma_min10`: the sigma slack, more than 10 points above a candidate); the others
compare the paper's rule (more than 25) with a guaranteed one. `colander_tiny_imagenet` and `colander_20ng` take the user's
embeddings (`--data`) with the repository's N_t and N_v (its `*_common_fixed.json`:
Tiny-ImageNet 10,000 and 8,000; 20 Newsgroups 2,000 and 1,600). The repository also
holds N_hyp_v validation points out for its hyperparameter search (2,000 and 600);
here the hyperparameters are fixed in advance, so nothing is held out for a search.
"""

from tbal_jax.presets.base import Experiment, axes

CONFIDENCE_SCORES = (
    "max_prob",
    "temperature",
    "top_label_histogram",
    "scaling_binning",
    "colander",
)
# the model's own score is the reference: its thresholds see the whole validation set
AUDIT_SCORES = (
    "max_prob",
    "colander",
    "colander_calibration_split",
    "colander_last_epoch",
)

CONFIDENCE_FASHION_MNIST = Experiment(
    name="confidence_fashion_mnist",
    dataset="fashion_mnist_heldout",
    x="n_val",
    axes=axes(n_val=(2000, 5000, 10000), n_train=(1000,), eps=(0.05,), c1=(0.25,)),
    kind="confidence",
    methods=("tbal",),
    estimators=("sigma", "ltt"),
    models=(None, "mlp_fashion"),  # softmax regression and the MLP, same seeds
    scores=CONFIDENCE_SCORES,
    seeds=5,
    title="Fashion-MNIST (test images held out)",
)
CONFIDENCE_CIRCLES = Experiment(
    name="confidence_circles",
    dataset="circles",
    x="n_val",
    axes=axes(n_val=(500, 1000, 2000), n_train=(500,), eps=(0.01,), c1=(0.25,)),
    kind="confidence",
    methods=("tbal",),
    scores=CONFIDENCE_SCORES,
    n_test=20_000,
    seeds=10,
    title="Circles, the linear model",
)
COLANDER_AUDIT = Experiment(
    name="colander_audit",
    dataset="fashion_mnist_heldout",
    x="n_val",
    axes=axes(n_val=(2000, 5000, 10000), n_train=(1000,), eps=(0.05,), c1=(0.25,)),
    kind="colander_audit",
    methods=("tbal",),
    scores=AUDIT_SCORES,
    seeds=10,
    title="Fashion-MNIST, softmax regression + Colander",
)
COLANDER_TINY_IMAGENET = Experiment(
    name="colander_tiny_imagenet",
    dataset="npz",
    x="n_val",
    axes=axes(n_val=(8000,), n_train=(10000,), eps=(0.05,), c1=(0.25,)),
    kind="confidence",
    methods=("tbal",),
    models=("mlp_tiny_imagenet",),
    estimators=("sigma_min10",),  # the sequel's threshold rule
    scores=("max_prob", "colander"),
    classes=200,
    seeds=5,
    title="Tiny-ImageNet, MLP on your CLIP features",
)
COLANDER_20NG = Experiment(
    name="colander_20ng",
    dataset="npz",
    x="n_val",
    axes=axes(n_val=(1600,), n_train=(2000,), eps=(0.05,), c1=(0.25,)),
    kind="confidence",
    methods=("tbal",),
    estimators=("sigma_min10",),
    scores=("max_prob", "colander"),
    classes=20,
    seeds=5,
    title="20 Newsgroups, softmax regression on your embeddings",
)
