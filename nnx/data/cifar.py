"""CIFAR-10 and CIFAR-100: the canonical "python version" archives (pickled batches in a tar.gz).

The archives are read in memory with tarfile and pickle (encoding='bytes', as they were written by
Python 2), never extracted to disk. They are checked against their sha256 first, and the unpickler
only accepts the few types those files hold (dicts, lists, numbers, bytes and numpy arrays), so a
tampered file cannot run code. Images become float32 in [0, 1], (N, 32, 32, 3).

CIFAR is not in the offline data folder of this project: put `cifar-10-python.tar.gz` in
`<data dir>/cifar10/` and `cifar-100-python.tar.gz` in `<data dir>/cifar100/`, or let nnx download
them into the cache (about 163 MB and 161 MB).
"""

from __future__ import annotations

import io
import pickle
import tarfile
import zlib
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from ..errors import DataError
from .base import REGISTRY, DataBase, DataFamily, DataInfo, Dataset, make_dataset, unit_pixels
from .store import RemoteFile, fetch

ARCHIVES = {
    "cifar10": RemoteFile("cifar10/cifar-10-python.tar.gz",
                          ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
                          "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"),
    "cifar100": RemoteFile("cifar100/cifar-100-python.tar.gz",
                           ("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",),
                           "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"),
}

# Members of each archive: training batches, test batch, metadata (with the class names).
_LAYOUT = {
    "cifar10": (tuple(f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)),
                "cifar-10-batches-py/test_batch", "cifar-10-batches-py/batches.meta"),
    "cifar100": (("cifar-100-python/train",), "cifar-100-python/test", "cifar-100-python/meta"),
}
_NUM_CLASSES = {("cifar10", "fine"): 10, ("cifar100", "fine"): 100, ("cifar100", "coarse"): 20}
_LABEL_KEYS = {("cifar10", "fine"): (b"labels", b"label_names"),
               ("cifar100", "fine"): (b"fine_labels", b"fine_label_names"),
               ("cifar100", "coarse"): (b"coarse_labels", b"coarse_label_names")}


class _SafeUnpickler(pickle.Unpickler):
    """Only what CIFAR's pickles hold: numpy arrays (and bytes written by Python 3's protocol 2)."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name} in a CIFAR batch")
        if module == "numpy.core.multiarray" and np.lib.NumpyVersion(np.__version__) >= "2.0.0":
            module = "numpy._core.multiarray"  # the same function, without numpy 2's deprecation warning
        return super().find_class(module, name)


def _unpickle(raw: bytes) -> dict:
    return _SafeUnpickler(io.BytesIO(raw), encoding="bytes").load()


def read_cifar_archive(path: str | Path, name: str, label_mode: str = "fine"):
    """(x_train, y_train, x_test, y_test, class names) from a CIFAR python tar.gz, read in memory."""
    path = Path(path)
    train_members, test_member, meta_member = _LAYOUT[name]
    label_key, names_key = _LABEL_KEYS[(name, label_mode)]
    title = "CIFAR-10" if name == "cifar10" else "CIFAR-100"
    try:
        with tarfile.open(path, "r:gz") as tar:
            def load(member: str) -> dict:
                try:
                    f = tar.extractfile(member)
                except KeyError:
                    f = None
                if f is None:
                    raise DataError(f"{path}: no '{member}' in the archive; is it the {title} python version "
                                    f"({ARCHIVES[name].urls[0]})? Delete it and download it again")
                batch = _unpickle(f.read())
                if not isinstance(batch, dict):
                    raise DataError(f"{path}: '{member}' is not a CIFAR batch (a {type(batch).__name__})")
                return batch

            train = [_decode(load(m), label_key, path, m) for m in train_members]
            x_test, y_test = _decode(load(test_member), label_key, path, test_member)
            meta = load(meta_member)
    except DataError:
        raise
    except (OSError, EOFError, tarfile.TarError, zlib.error, pickle.UnpicklingError, ValueError, TypeError,
            AttributeError, IndexError) as e:
        raise DataError(f"{path}: cannot read it as the {title} python archive ({type(e).__name__}: {e}); "
                        "delete it and download it again") from None
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    classes = [c.decode() if isinstance(c, bytes) else str(c) for c in meta.get(names_key, [])]
    num_classes = _NUM_CLASSES[(name, label_mode)]
    for labels, split in ((y_train, "train"), (y_test, "test")):
        if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
            raise DataError(f"{path}: {split} labels outside 0..{num_classes - 1}; the archive is corrupted: "
                            "delete it and download it again")
    return x_train, y_train, x_test, y_test, classes


def _decode(batch: dict, label_key: bytes, path: Path, member: str) -> tuple[np.ndarray, np.ndarray]:
    """A batch's rows of 3072 bytes (1024 red, 1024 green, 1024 blue, row-major) as (N, 32, 32, 3) uint8."""
    data, labels = batch.get(b"data"), batch.get(label_key)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        what = f"shape {data.shape}, {data.dtype}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"{path}: '{member}' has no (N, 3072) uint8 image rows ({what}); "
                        "the archive is corrupted: delete it and download it again")
    if labels is None or len(labels) != len(data):
        raise DataError(f"{path}: '{member}' has {len(data)} images but "
                        f"{'no' if labels is None else len(labels)} {label_key.decode()}; "
                        "the archive is corrupted: delete it and download it again")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), np.asarray(labels, dtype=np.int32)


def load_cifar_set(spec, seed: int, data_dir=None) -> Dataset:
    (path,) = fetch([ARCHIVES[spec.name]], data_dir)
    x_train, y_train, x_test, y_test, classes = read_cifar_archive(path, spec.name, spec.label_mode)
    return make_dataset(spec.name, cifar_info(spec), (unit_pixels(x_train), y_train), (unit_pixels(x_test), y_test), spec, seed,
                        classes=classes)


class CifarSpec(DataBase):
    """CIFAR-10 and CIFAR-100 (32x32 colour images), from the canonical python-pickle archives."""

    name: Literal["cifar10", "cifar100"]
    label_mode: Literal["fine", "coarse"] = Field("fine", description="cifar100: 100 fine classes or 20 coarse")

    @model_validator(mode="after")
    def _coarse_only_for_cifar100(self):
        if self.name == "cifar10" and self.label_mode != "fine":
            raise ValueError("label_mode 'coarse' exists only for cifar100 (its 20 superclasses)")
        return self


def cifar_info(spec) -> DataInfo:
    return DataInfo(input_shape=(32, 32, 3), task="classification",
                    num_classes=_NUM_CLASSES[(spec.name, spec.label_mode)])


def cifar_preprocessing(spec, dataset) -> dict:
    from .preprocessing import image_record

    return image_record((32, 32), "rgb", classes=dataset.meta.get("classes"))


FAMILY = REGISTRY.register(DataFamily(CifarSpec, cifar_info, load_cifar_set, train_examples=lambda spec: 50_000,
                                      preprocessing=cifar_preprocessing))
