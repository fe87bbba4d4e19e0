"""MNIST and Fashion-MNIST: the IDX format (gzip), checked against the canonical sha256 sums."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError
from .base import DataInfo, Dataset, make_dataset, unit_pixels
from .store import RemoteFile, fetch

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
_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
          "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

# IDX magic numbers: 0x0000 08 (unsigned byte) then the number of dimensions.
_IMAGES_MAGIC, _LABELS_MAGIC = 2051, 2049


def read_idx(path: str | Path) -> np.ndarray:
    """Read a gzip (or plain) IDX file of unsigned bytes into a numpy array of its shape."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read it as gzip IDX ({e}); delete it and download it again") from None
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
    mirrors = _MNIST_MIRRORS if folder == "mnist" else _FASHION_MIRRORS
    return [RemoteFile(f"{folder}/{name}", tuple(m + name for m in mirrors), _SHA256[folder][name])
            for name in _FILES]


def load_idx_set(spec, seed: int, data_dir=None) -> Dataset:
    folder = "mnist" if spec.name == "mnist" else "fashion-mnist"
    paths = fetch(idx_files(folder), data_dir)
    x_train, y_train, x_test, y_test = (read_idx(p) for p in paths)
    for images, labels, split in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(f"{folder}: {split} images {images.shape} and labels {labels.shape} do not match")
    info = DataInfo(input_shape=(28, 28, 1), task="classification", num_classes=10)
    meta = {"classes": list(FASHION_CLASSES)} if spec.name == "fashion_mnist" else {}
    return make_dataset(spec.name, info, (_scale(x_train), y_train.astype(np.int32)),
                        (_scale(x_test), y_test.astype(np.int32)), spec, seed, **meta)


def _scale(images: np.ndarray) -> np.ndarray:
    """uint8 pixels to float32 in [0, 1], with a trailing channel axis."""
    return unit_pixels(images)[..., None]
