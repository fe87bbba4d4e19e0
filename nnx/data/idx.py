"""MNIST and Fashion-MNIST: the IDX format (gzip or plain), checked against the canonical sha256 sums."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import DataError
from .base import REGISTRY, DataBase, DataFamily, DataInfo, Dataset, make_dataset, unit_pixels
from .store import LocalName, RemoteFile, fetch

_MNIST_MIRRORS = ("https://storage.googleapis.com/cvdf-datasets/mnist/",
                  "https://ossci-datasets.s3.amazonaws.com/mnist/")
_FASHION_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)

_SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
}
# The same files uncompressed (as `gunzip` leaves them), accepted in place of the .gz files: the
# sha256 of the canonical .gz files' decompressed content.
_SHA256_PLAIN = {
    "mnist": {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}
_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
          "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

# IDX magic numbers: 0x0000 08 (unsigned byte) then the number of dimensions.
_IMAGES_MAGIC, _LABELS_MAGIC = 2051, 2049


def read_idx(path: str | Path) -> np.ndarray:
    """Read a gzip (or plain) IDX file of unsigned bytes into a numpy array of its shape.

    Gzip is recognized by its magic bytes, not by the file name.
    """
    path = Path(path)
    compressed = False
    try:
        with open(path, "rb") as f:
            compressed = f.read(2) == b"\x1f\x8b"
        with (gzip.open if compressed else open)(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:
        kind = "gzip IDX" if compressed else "IDX"
        raise DataError(f"{path}: cannot read it as {kind} ({e}); delete it and download it again") from None
    if len(raw) < 8:
        raise DataError(f"{path}: truncated IDX file ({len(raw)} bytes); delete it and download it again")
    magic = struct.unpack(">I", raw[:4])[0]
    if magic not in (_IMAGES_MAGIC, _LABELS_MAGIC) and magic >> 8 != 0x08:
        raise DataError(f"{path}: not an IDX file of unsigned bytes (magic number {magic:#010x}, "
                        f"expected {_IMAGES_MAGIC:#010x} or {_LABELS_MAGIC:#010x})")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header; delete the file and download it again")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise DataError(f"{path}: truncated or padded IDX file: header says {shape} = {expected} bytes "
                        f"of data, found {len(raw) - header}; delete it and download it again")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def idx_files(folder: str) -> list[RemoteFile]:
    """The four files of `folder`: the canonical .gz, also accepted uncompressed (never downloaded so)."""
    mirrors = _MNIST_MIRRORS if folder == "mnist" else _FASHION_MIRRORS
    files = []
    for name in _FILES:
        plain = name.removesuffix(".gz")
        plain_sum = _SHA256_PLAIN.get(folder, {}).get(plain)
        also = (LocalName(f"{folder}/{plain}", plain_sum),) if plain_sum else ()
        files.append(RemoteFile(f"{folder}/{name}", tuple(m + name for m in mirrors), _SHA256[folder][name], also))
    return files


def load_idx_set(spec, seed: int, data_dir=None) -> Dataset:
    folder = "mnist" if spec.name == "mnist" else "fashion-mnist"
    paths = fetch(idx_files(folder), data_dir)
    x_train, y_train, x_test, y_test = (read_idx(p) for p in paths)
    for images, labels, split in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(f"{folder}: {split} images {images.shape} and labels {labels.shape} do not match")
    info = idx_info(spec)
    meta = {"classes": list(FASHION_CLASSES)} if spec.name == "fashion_mnist" else {}
    return make_dataset(spec.name, info, (_scale(x_train), y_train.astype(np.int32)),
                        (_scale(x_test), y_test.astype(np.int32)), spec, seed, **meta)


def _scale(images: np.ndarray) -> np.ndarray:
    """uint8 pixels to float32 in [0, 1], with a trailing channel axis."""
    return unit_pixels(images)[..., None]


class IdxSpec(DataBase):
    """MNIST and Fashion-MNIST: 28x28 grayscale images of 10 classes, from IDX files."""

    name: Literal["mnist", "fashion_mnist"]


def idx_info(spec) -> DataInfo:
    return DataInfo(input_shape=(28, 28, 1), task="classification", num_classes=10)


def idx_preprocessing(spec, dataset) -> dict:
    from .preprocessing import image_record

    classes = list(FASHION_CLASSES) if spec.name == "fashion_mnist" else [str(d) for d in range(10)]
    return image_record((28, 28), "grayscale", classes=classes,
                        note="white (255) strokes on black (0), as the IDX files hold them")


FAMILY = REGISTRY.register(DataFamily(IdxSpec, idx_info, load_idx_set, train_examples=lambda spec: 60_000,
                                      preprocessing=idx_preprocessing))
