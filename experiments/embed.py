"""Embeddings of the paper's real datasets as the project's .npz files (algorithm.md section 7).

    python -m experiments.embed imdb --out=imdb_bge_large.npz
    python -m experiments.embed tiny_imagenet --out=tiny_imagenet_clip.npz
        [--data_dir=tiny-imagenet-200]
    common flags: [--batch_size=128] [--device=cuda|cpu] [--limit=N]

Needs the internet (models and data come from the Hugging Face Hub) and the `embed`
extra: `pip install -e ".[embed]"` (sentence-transformers, transformers, datasets, torch,
Pillow). Not run by the tests or CI. Each file is written with `np.savez` in the format
`tbal_jax.loaders.load_npz` reads, then read back with it as a check:

- `imdb`: BGE-large-en (`BAAI/bge-large-en`, 1024-d) sentence embeddings, computed by
  sentence-transformers' `encode` with its defaults as the reference code does, of the
  25,000 reviews of IMDB's training split (`stanfordnlp/imdb`); y = 1 for positive. No
  validation arrays: each seed splits 20% (5,000) off as its validation pool, leaving the
  pool N = 20,000 of algorithm.md section 7.
- `tiny_imagenet`: CLIP ViT-B/32 image features (`openai/clip-vit-base-patch32`,
  transformers' `CLIPModel.get_image_features`: the 512-d projection, not normalised) of
  Tiny-ImageNet's 100,000 training images (x, y: the pool) and its 10,000 official
  validation images (x_val, y_val: the validation pool). Images come from the Hub
  (`zh-plus/tiny-imagenet`, splits train and valid) or, with `--data_dir`, from the
  official `tiny-imagenet-200` folder (labels = the order of `wnids.txt`).

`--limit=N` embeds N evenly spaced examples of each split (so every class of a split
sorted by class is kept), to try the whole workflow in minutes before the full run.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
from absl import flags

from experiments import _cli
from experiments._cli import BadInput

IMDB_MODEL = "BAAI/bge-large-en"
IMDB_DATA = "stanfordnlp/imdb"
CLIP_MODEL = "openai/clip-vit-base-patch32"
TINY_IMAGENET_DATA = "zh-plus/tiny-imagenet"
EXTRA = 'pip install -e ".[embed]"'
EXAMPLE = "python -m experiments.embed imdb --out=imdb_bge_large.npz"
REQUIRED = {  # checked before anything downloads
    "imdb": ("torch", "datasets", "sentence_transformers"),
    "tiny_imagenet": ("torch", "datasets", "transformers", "PIL"),
}
DATASETS = tuple(REQUIRED)
FLAGS = flags.FLAGS


class MissingPackages(Exception):
    """An optional package of the `embed` extra is not installed."""


def _need(*modules: str) -> list:
    """Import the extra's packages, or say in one line which are missing."""
    loaded, missing = [], []
    for name in modules:
        try:
            loaded.append(importlib.import_module(name))
        except ImportError:
            missing.append(name)
    if missing:
        raise MissingPackages(
            f"experiments.embed needs {', '.join(missing)}; install the embed extra: "
            f"{EXTRA}"
        )
    return loaded


def _subset(n: int, limit: int | None) -> np.ndarray:
    """Indices of the examples embedded: all, or `limit` evenly spaced ones."""
    if not limit or limit >= n:
        return np.arange(n)
    return np.linspace(0, n - 1, limit).round().astype(int)


def _device(requested: str | None) -> str:
    (torch,) = _need("torch")
    return requested or ("cuda" if torch.cuda.is_available() else "cpu")


def embed_imdb(batch_size: int, device: str | None, limit: int | None) -> dict:
    """x (25,000, 1024) BGE-large-en embeddings of IMDB's training reviews, y (0/1)."""
    datasets, sentence_transformers = _need("datasets", "sentence_transformers")
    train = datasets.load_dataset(IMDB_DATA, split="train")
    train = train.select(_subset(len(train), limit))
    model = sentence_transformers.SentenceTransformer(
        IMDB_MODEL, device=_device(device)
    )
    x = model.encode(
        list(train["text"]),
        batch_size=batch_size,
        convert_to_numpy=True,
        show_progress_bar=True,
    )
    return {"x": np.asarray(x, np.float32), "y": np.asarray(train["label"], np.int32)}


def _hub_images(split: str, limit: int | None):
    (datasets,) = _need("datasets")
    data = datasets.load_dataset(TINY_IMAGENET_DATA, split=split)
    data = data.select(_subset(len(data), limit))
    return (row["image"] for row in data), np.asarray(data["label"], np.int32)


def _folder_images(root: Path, split: str, limit: int | None):
    """The official folder: train/<wnid>/images/*.JPEG; val/images/*.JPEG with labels
    in val/val_annotations.txt; class index = line of the wnid in wnids.txt."""
    (pil_image,) = _need("PIL.Image")
    wnids = {w: i for i, w in enumerate((root / "wnids.txt").read_text().split())}
    if split == "train":
        files = sorted((root / "train").glob("*/images/*.JPEG"))
        labels = [wnids[f.parent.parent.name] for f in files]
    else:
        lines = (root / "val" / "val_annotations.txt").read_text().splitlines()
        pairs = sorted(line.split("\t")[:2] for line in lines if line.strip())
        files = [root / "val" / "images" / name for name, _ in pairs]
        labels = [wnids[w] for _, w in pairs]
    keep = _subset(len(files), limit)
    return (pil_image.open(files[i]) for i in keep), np.asarray(labels, np.int32)[keep]


def _clip_features(images, batch_size: int, device: str) -> np.ndarray:
    torch, transformers = _need("torch", "transformers")
    model = transformers.CLIPModel.from_pretrained(CLIP_MODEL).to(device).eval()
    processor = transformers.CLIPProcessor.from_pretrained(CLIP_MODEL)
    out, batch = [], []

    def flush():
        pixels = processor(images=batch, return_tensors="pt")["pixel_values"]
        with torch.no_grad():
            out.append(model.get_image_features(pixel_values=pixels.to(device)).cpu())
        batch.clear()

    for image in images:
        batch.append(image.convert("RGB"))
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    return torch.cat(out).numpy().astype(np.float32)


def embed_tiny_imagenet(
    batch_size: int, device: str | None, limit: int | None, data_dir: str | None
) -> dict:
    """x (100,000, 512), y: training images; x_val (10,000, 512), y_val: validation."""
    device = _device(device)
    arrays = {}
    for split, hub_split, suffix in (("train", "train", ""), ("val", "valid", "_val")):
        if data_dir:
            images, labels = _folder_images(Path(data_dir), split, limit)
        else:
            images, labels = _hub_images(hub_split, limit)
        arrays["x" + suffix] = _clip_features(images, batch_size, device)
        arrays["y" + suffix] = labels
    return arrays


def define_flags() -> None:
    """The command line's flags (in absl's global FLAGS: called when run as a script)."""
    flags.DEFINE_string("out", None, "the .npz file to write (required)")
    flags.DEFINE_integer("batch_size", 128, "examples embedded per model call")
    flags.DEFINE_string("device", None, "torch device (default: cuda if available)")
    flags.DEFINE_integer("limit", None, "embed N evenly spaced examples of each split")
    flags.DEFINE_string(
        "data_dir",
        None,
        "tiny_imagenet: the official tiny-imagenet-200 folder (default: the Hub)",
    )


def main(argv) -> int:
    if len(argv) < 2:
        raise BadInput(f"give the dataset, {' or '.join(DATASETS)}: {EXAMPLE}")
    if len(argv) > 2:
        raise BadInput(f"unexpected argument {argv[2]!r}: {EXAMPLE}")
    name = argv[1]
    if name not in DATASETS:
        raise BadInput(f"dataset {name!r}: give {' or '.join(DATASETS)}")
    if FLAGS.out is None:
        raise BadInput(f"--out is required: {EXAMPLE}")
    out = Path(FLAGS.out)
    if out.suffix != ".npz" or not out.parent.is_dir():
        raise BadInput(f"--out={out}: give PATH.npz in an existing folder")
    try:
        _need(*REQUIRED[name])
        if name == "imdb":
            arrays = embed_imdb(FLAGS.batch_size, FLAGS.device, FLAGS.limit)
        else:
            arrays = embed_tiny_imagenet(
                FLAGS.batch_size, FLAGS.device, FLAGS.limit, FLAGS.data_dir
            )
    except MissingPackages as err:
        raise BadInput(str(err)) from None
    np.savez(out, **arrays)
    from tbal_jax.loaders import load_npz

    dataset = load_npz(out)
    print(
        f"wrote {out}: pool {dataset.n_pool}, validation pool {dataset.n_val_pool}, "
        f"{dataset.dim} features, {dataset.num_classes} classes"
    )
    return 0


if __name__ == "__main__":
    _cli.run(main, define_flags)
