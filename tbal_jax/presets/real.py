"""Experiments on real data: Fashion-MNIST (not in the paper), the paper's IMDB and
Tiny-ImageNet MLP presets on the user's embeddings, and a user's own .npz."""

from tbal_jax.presets.base import Experiment, axes

FASHION_MNIST_VAL = Experiment(
    name="fashion_mnist_val",
    dataset="fashion_mnist",
    x="n_val",
    axes=axes(
        n_val=(500, 1000, 2000, 4000, 6000, 8000, 10000), n_train=(1000,), eps=(0.05,)
    ),
    title="Fashion-MNIST, softmax regression",
)
FASHION_MNIST_TRAIN = Experiment(
    name="fashion_mnist_train",
    dataset="fashion_mnist",
    x="n_train",
    axes=axes(n_val=(5000,), n_train=(200, 500, 1000, 2000, 3000, 5000), eps=(0.05,)),
    title="Fashion-MNIST, softmax regression",
)
FASHION_MNIST_MLP = Experiment(
    name="fashion_mnist_mlp",
    dataset="fashion_mnist",
    x="n_val",
    axes=axes(
        n_val=(500, 1000, 2000, 4000, 10000), n_train=(1000,), eps=(0.05,), c1=(0.0,)
    ),
    methods=("tbal",),
    models=(None, "mlp_fashion"),  # softmax regression and the MLP, same seeds
    title="Fashion-MNIST, softmax regression vs MLP",
)
IMDB_VAL = Experiment(
    name="imdb_val",
    dataset="npz",
    x="n_val",
    axes=axes(n_val=tuple(range(100, 1001, 100)), n_train=(500,), eps=(0.05,)),
    models=("mlp_imdb",),
    classes=2,
    title="IMDB, MLP on your embeddings",
)
IMDB_TRAIN = Experiment(
    name="imdb_train",
    dataset="npz",
    x="n_train",
    axes=axes(n_val=(1000,), n_train=(200, 400, 600, 800, 1000), eps=(0.05,)),
    models=("mlp_imdb",),
    classes=2,
    title="IMDB, MLP on your embeddings",
)
TINY_IMAGENET_VAL = Experiment(
    name="tiny_imagenet_val",
    dataset="npz",
    x="n_val",
    axes=axes(n_val=tuple(range(2000, 10001, 2000)), n_train=(6000,), eps=(0.10,)),
    models=("mlp_tiny_imagenet",),
    classes=200,
    seeds=5,
    title="Tiny-ImageNet, MLP on your CLIP features",
)
TINY_IMAGENET_TRAIN = Experiment(
    name="tiny_imagenet_train",
    dataset="npz",
    x="n_train",
    axes=axes(n_val=(10000,), n_train=tuple(range(2000, 10001, 2000)), eps=(0.10,)),
    models=("mlp_tiny_imagenet",),
    classes=200,
    seeds=5,
    title="Tiny-ImageNet, MLP on your CLIP features",
)
NPZ = Experiment(
    name="npz",
    dataset="npz",
    x="auto",
    axes=axes(n_val=(500,), n_train=(500,), eps=(0.05,)),
)
