"""Check that nnx reads Keras-layout HDF5 weight files exactly as Keras does, for the ten networks.

The real ImageNet files cannot be downloaded here, so for each architecture, with and without the
top, this script builds the Keras application with random weights (random batch-norm statistics
too), writes them in the legacy HDF5 layout of Keras' download files
(`keras.src.legacy.saving.legacy_h5_format`), checks that Keras' own `load_weights` reads that file
back into a fresh model (same outputs), loads the same file through nnx's real code path
(`nnx.models.applications.pretrained.load_pretrained(arch, weights=PATH, include_top=...)`), and
compares on random images, preprocessed by both sides' own preprocessing: the softmax outputs
with the top (max absolute difference, must be <= 1e-4), the feature maps without it (max
difference relative to the largest value). 'max p' is Keras' largest probability (a softmax near
one-hot would hide differences); 'not loaded' is the same comparison for the nnx network with its
own random weights, the control that shows the comparison can fail. One file per architecture is also rewritten with Keras 2
weight names (`kernel:0`) and Keras 2.0's 1-based counted layer names (`conv2d_1`), as the download
files have them, and read again.

Keras is not a dependency of nnx; it runs in its own venv with the JAX backend:

    python3 -m venv --system-site-packages /tmp/kvenv && /tmp/kvenv/bin/pip install keras h5py
    PYTHONPATH=. /tmp/kvenv/bin/python scripts/keras_weights_check.py [--size N] [arch ...]

Inputs are the smallest Keras allows (32 for VGG and ResNet, 75 InceptionV3, 71 Xception) unless
`--size` is given (`--size 224 resnet50` is the real size); `--full` uses 224/299 for all.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.keras_counts import KERAS_APPS  # noqa: E402
from scripts.keras_equivalence import randomize  # noqa: E402  (random weights, random batch-norm statistics)

SMALL = {"vgg16": 32, "vgg19": 32, "inception_v3": 75, "xception": 71}  # others (ResNets): 32
FULL = {"inception_v3": 299, "xception": 299}  # others: 224
KERAS_MODULES = {"vgg16": "vgg16", "vgg19": "vgg19", "resnet50": "resnet", "resnet101": "resnet",
                 "resnet152": "resnet", "resnet50v2": "resnet_v2", "resnet101v2": "resnet_v2",
                 "resnet152v2": "resnet_v2", "inception_v3": "inception_v3", "xception": "xception"}


def keras_model(arch: str, size: int, include_top: bool):
    import keras

    return getattr(keras.applications, KERAS_APPS[arch])(
        weights=None, include_top=include_top, input_shape=(size, size, 3), classifier_activation=None)


def write_legacy_h5(model, path: Path) -> None:
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)


def as_keras2(src: Path, dst: Path) -> None:
    """A copy with Keras 2's names: weights `layer/kernel:0`, counted layers from 1 (`conv2d_1`)."""
    import h5py

    auto = re.compile(r"^(conv2d|batch_normalization)(?:_(\d+))?$")

    def rename(name: str) -> str:
        m = auto.match(name)
        return f"{m.group(1)}_{int(m.group(2) or 0) + 1}" if m else name

    with h5py.File(src, "r") as f, h5py.File(dst, "w") as g:
        names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["layer_names"]]
        for key in ("keras_version", "backend"):
            g.attrs[key] = f.attrs[key]
        g.attrs["layer_names"] = [rename(n).encode() for n in names]
        for n in names:
            src_group, dst_group = f[n], g.create_group(rename(n))
            weight_names = []
            for w in src_group.attrs["weight_names"]:
                w = w.decode() if isinstance(w, bytes) else w
                new = f"{rename(n)}/{w.split('/', 1)[1]}:0"
                dst_group.create_dataset(new, data=np.asarray(src_group[w]))
                weight_names.append(new.encode())
            dst_group.attrs["weight_names"] = weight_names


def check(arch: str, size: int, include_top: bool, folder: Path, keras2: bool) -> dict:
    import importlib

    import jax
    import keras
    from flax import nnx

    from nnx.models.applications.pretrained import build_module, load_pretrained

    rng = np.random.default_rng(0)
    started = time.perf_counter()
    kmodel = keras_model(arch, size, include_top)
    randomize(kmodel, rng)
    pixels = rng.uniform(0, 255, size=(4, size, size, 3)).astype(np.float32)
    keras_pre = np.asarray(importlib.import_module(f"keras.applications.{KERAS_MODULES[arch]}")
                           .preprocess_input(pixels.copy()))
    if include_top:  # logits of standard deviation 4: a confident softmax, where differences show
        top = kmodel.get_layer("predictions")
        spread = float(np.std(np.asarray(kmodel(keras_pre, training=False))))
        top.set_weights([w * (4.0 / spread) for w in top.get_weights()])
    path = folder / f"{arch}_{size}_{'top' if include_top else 'notop'}.h5"
    write_legacy_h5(kmodel, path)
    expected = np.asarray(kmodel(keras_pre, training=False))

    fresh = keras_model(arch, size, include_top)  # Keras' own loader reads the file back
    fresh.load_weights(path)
    keras_reread = float(np.max(np.abs(np.asarray(fresh(keras_pre, training=False)) - expected)))
    del fresh
    keras.backend.clear_session()

    files = [("keras3", path)]
    if keras2:
        as_keras2(path, folder / f"k2_{path.name}")
        files.append(("keras2", folder / f"k2_{path.name}"))
    row = {"arch": arch, "size": size, "top": include_top, "keras_reread": keras_reread,
           "top_p": float(np.max(np.asarray(jax.nn.softmax(expected)))) if include_top else float("nan")}
    forward = nnx.jit(lambda m, x: m(x, train=False))

    def difference(got):
        if include_top:
            return float(np.max(np.abs(np.asarray(jax.nn.softmax(got)) - np.asarray(jax.nn.softmax(expected)))))
        return float(np.max(np.abs(got - expected)) / (np.max(np.abs(expected)) + 1e-12))

    for label, file in files:
        net = load_pretrained(arch, weights=file, include_top=include_top, input_shape=(size, size, 3))
        ours = net.preprocess(pixels)
        row["preprocess"] = float(np.max(np.abs(np.asarray(ours) - keras_pre)))
        row[label] = difference(np.asarray(forward(net.module, ours)))
        if label == "keras3":  # the control: the same network before loading (its own random weights)
            net.module = build_module(arch, include_top, (size, size, 3), 1000)
            row["control"] = difference(np.asarray(forward(net.module, ours)))
        file.unlink()
    row["seconds"] = time.perf_counter() - started
    return row


def main(argv: list[str]) -> int:
    import keras

    size_opt = None
    if "--size" in argv:
        i = argv.index("--size")
        size_opt = int(argv[i + 1])
        argv = argv[:i] + argv[i + 2:]
    full = "--full" in argv
    archs = [a for a in argv if not a.startswith("--")] or list(KERAS_APPS)
    print(f"Keras {keras.__version__} (backend {keras.backend.backend()}); "
          "with top: max |softmax difference|; without: max |difference| / max |Keras output|")
    print(f"{'network':<13} {'input':>7} {'top':>5} {'Keras re-read':>13} {'preprocess':>10} {'max p':>6} "
          f"{'nnx, Keras 3 file':>17} {'nnx, Keras 2 names':>18} {'not loaded':>10} {'s':>5}")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for arch in archs:
            size = size_opt or (FULL.get(arch, 224) if full else SMALL.get(arch, 32))
            for top in (True, False):
                r = check(arch, size, top, Path(tmp), keras2=top)
                worst = max(worst, r["keras3"], r.get("keras2", 0.0))
                print(f"{arch:<13} {size:>3}x{size:<3} {str(top):>5} {r['keras_reread']:>13.1e} "
                      f"{r['preprocess']:>10.1e} {r['top_p']:>6.2f} {r['keras3']:>17.2e} "
                      f"{r['keras2'] if 'keras2' in r else float('nan'):>18.2e} {r['control']:>10.2e} "
                      f"{r['seconds']:>5.0f}", flush=True)
    print(f"worst difference {worst:.2e} (tolerance 1e-4)")
    return 0 if worst <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
