"""Pretrained ImageNet networks: Keras' weight files, each family's preprocessing, class names.

The weight files are the Keras applications' HDF5 files, from Keras' servers, found like every
data file (`--data-dir`, `$NNX_DATA_DIR`, the user cache; under `keras-applications/`), downloaded
into the cache on first use and checked against the md5 sums Keras publishes in
`keras/src/applications/*.py` (checked against keras-team/keras at 3422977, 2026-08). A weight file
of your own (a path) is read the same way, without a checksum.

    model, preprocess, classes = load_pretrained("resnet50")          # weights="imagenet", top on
    probabilities = jax.nn.softmax(model(preprocess(pixels)))           # pixels: (n, 224, 224, 3) RGB 0..255
    classify_images(["cat.jpg"], "resnet50", top=5)                     # [(path, [(class, p), ...]), ...]
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...data.store import RemoteFile, fetch
from ...errors import ConfigError, DataError
from . import APPLICATION_INPUT_SHAPES

BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"
FOLDER = "keras-applications"

# Keras' (dir, md5 with top, md5 without top), from keras/src/applications/{resnet,vgg16,vgg19,
# inception_v3,xception}.py (resnet_v2 uses resnet.py's table).
KERAS_FILES = {
    "resnet50": ("resnet", "2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": ("resnet", "f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    "resnet152": ("resnet", "100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    "resnet50v2": ("resnet", "3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917"),
    "resnet101v2": ("resnet", "6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5"),
    "resnet152v2": ("resnet", "a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33"),
    "vgg16": ("vgg16", "64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc"),
    "vgg19": ("vgg19", "cbe5617147190e668d6c5d5026f83318", "253f8cb515780f3b799900260a226db6"),
    "inception_v3": ("inception_v3", "9a0d58056eeedaa3f26cb7ebd46da564", "bcbd6486424b2319ff4ef7d526e38f63"),
    "xception": ("xception", "0a58e3b7378bc2990ea3b43d5981f1f6", "b0042744bf5b25fce3cb969f33bebb97"),
}
CLASS_INDEX = RemoteFile(f"{FOLDER}/imagenet_class_index.json",
                         ("https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json",),
                         sha256="", md5="c2c37ea517e94d9795004a39431a14cb")


def weights_file(arch: str, include_top: bool = True) -> RemoteFile:
    """Keras' ImageNet weight file of `arch`, with or without its top."""
    folder, with_top, without_top = KERAS_FILES[arch]
    name = f"{arch}_weights_tf_dim_ordering_tf_kernels{'' if include_top else '_notop'}.h5"
    return RemoteFile(f"{FOLDER}/{name}", (f"{BASE_URL}{folder}/{name}",), sha256="",
                      md5=with_top if include_top else without_top)


# --------------------------------------------------------------------------------------------
# Preprocessing, exactly as each family's keras.applications.<family>.preprocess_input


CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)


def preprocess_caffe(x):
    """ResNet v1 and VGG ("caffe"): RGB to BGR, then the ImageNet channel means subtracted (no scaling)."""
    return x[..., ::-1] - CAFFE_MEAN_BGR


def preprocess_tf(x):
    """ResNet v2, InceptionV3 and Xception ("tf"): scaled from [0, 255] to [-1, 1]."""
    return x / 127.5 - 1.0


def preprocess_fn(arch: str):
    """The preprocessing of `arch`: pixels (..., H, W, 3), RGB, float in [0, 255] -> network input."""
    return preprocess_caffe if arch.startswith("vgg") or arch in ("resnet50", "resnet101", "resnet152") \
        else preprocess_tf


# --------------------------------------------------------------------------------------------
# Class names


def read_class_names(path: str | Path) -> list[str]:
    """A JSON list of names, or the ImageNet index format {"0": ["n01440764", "tench"], ...}."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: cannot read class names ({e}); give a JSON list of names, "
                        "or the ImageNet index format {\"0\": [\"n01440764\", \"tench\"], ...}") from None
    if isinstance(data, list) and all(isinstance(n, str) for n in data):
        return data
    if isinstance(data, dict) and sorted(data, key=lambda k: int(k) if str(k).isdigit() else -1) == \
            [str(i) for i in range(len(data))]:
        names = [data[str(i)] for i in range(len(data))]
        if all(isinstance(n, str) or (isinstance(n, list) and n and isinstance(n[-1], str)) for n in names):
            return [n if isinstance(n, str) else n[-1] for n in names]
    raise DataError(f"{path}: class names must be a JSON list of strings, or the ImageNet index format "
                    "{\"0\": [\"n01440764\", \"tench\"], ...} with keys 0..n-1")


def imagenet_class_names(data_dir=None) -> list[str]:
    """The 1000 ImageNet class names of Keras' index (downloaded on first use, md5-checked)."""
    return read_class_names(fetch([CLASS_INDEX], data_dir)[0])


# --------------------------------------------------------------------------------------------
# The network


@dataclass
class Pretrained:
    """A network with its weights, the preprocessing its weights expect, and its class names."""

    arch: str
    module: object
    preprocess: object
    class_names: list[str] | None  # None without the top
    input_shape: tuple[int, int, int]


def build_module(arch: str, include_top: bool = True, input_shape=None, classes: int = 1000, seed: int = 0):
    """The bare nnx module of `arch` (random weights), as the registry builds it."""
    from flax import nnx

    from ...data.base import DataInfo
    from .. import build, family

    shape = tuple(input_shape or APPLICATION_INPUT_SHAPES[arch])
    spec = family(arch).spec(type=arch, include_top=include_top, classes=classes)
    return build(spec, DataInfo(shape, "classification", classes), nnx.Rngs(seed))


def load_weights(module, arch: str, weights, include_top: bool = True, data_dir=None) -> Path:
    """Load `weights` ('imagenet' or a path to a Keras HDF5 file) into `module`; returns the file read."""
    from .weights import load_h5

    path = fetch([weights_file(arch, include_top)], data_dir)[0] if weights == "imagenet" else _own_file(weights)
    load_h5(arch, module, path)
    return path


def _own_file(weights) -> Path:
    path = Path(weights)
    if not path.is_file():
        raise ConfigError(f"weight file {path} not found; give 'imagenet' or the path of a Keras .h5 weight file")
    return path


def load_pretrained(arch: str, weights="imagenet", include_top: bool = True, *, class_names=None,
                    input_shape=None, data_dir=None) -> Pretrained:
    """`arch` with `weights` ('imagenet', or a path to a Keras HDF5 file of your own, read without a
    checksum), its preprocessing and its class names: ImageNet's for 'imagenet' with the top;
    else those of `class_names` (a file: JSON list or ImageNet index format), else numbered."""
    if arch not in KERAS_FILES:
        raise ConfigError(f"unknown pretrained network {arch!r}; choose one of {', '.join(KERAS_FILES)}")
    shape = tuple(input_shape or APPLICATION_INPUT_SHAPES[arch])
    names = read_class_names(class_names) if class_names else None
    if weights != "imagenet" and include_top and names is None:
        classes = _top_size(_own_file(weights))
    else:
        classes = len(names) if names is not None and weights != "imagenet" else 1000
    module = build_module(arch, include_top, shape, classes)
    load_weights(module, arch, weights, include_top, data_dir)
    if include_top and names is None:
        names = imagenet_class_names(data_dir) if weights == "imagenet" else [str(i) for i in range(classes)]
    if include_top and len(names) != classes:
        raise ConfigError(f"{class_names}: {len(names)} class names for a network with {classes} outputs")
    return Pretrained(arch, module, preprocess_fn(arch), names if include_top else None, shape)


def _top_size(path) -> int:
    """The number of outputs of a user's weight file: its `predictions` layer's bias."""
    from .weights import WeightsError, read_h5

    layers = read_h5(path)
    top = layers.get("predictions")
    if not top:
        raise WeightsError(f"{path}: no 'predictions' layer, so no top; use include_top false, "
                           "or a file saved from a network with its classifier")
    return int(np.asarray(top[-1][1]).shape[-1])


def classify_images(paths, arch: str = "resnet50", weights="imagenet", *, top: int = 5, class_names=None,
                    resize: str = "stretch", batch_size: int = 32, data_dir=None, pretrained=None):
    """The `top` classes and probabilities of each image: [(path, [(name, probability), ...]), ...].

    Each image is decoded as RGB and resized to the network's input (224x224, or 299x299 for
    InceptionV3 and Xception) by `resize`: 'stretch' as Keras' `load_img(target_size=...)` does
    (but bilinear, not Keras' default nearest), or 'crop' (the largest centred square first).
    """
    import jax
    from flax import nnx

    net = pretrained or load_pretrained(arch, weights, True, class_names=class_names, data_dir=data_dir)
    height, width, _ = net.input_shape
    forward = nnx.jit(lambda m, x: jax.nn.softmax(m(x, train=False), axis=-1))
    out = []
    paths = [str(p) for p in paths]
    for start in range(0, len(paths), batch_size):
        chunk = paths[start:start + batch_size]
        pixels = np.stack([_decode(p, (height, width), resize) for p in chunk]).astype(np.float32)
        probabilities = np.asarray(forward(net.module, net.preprocess(pixels)))
        for path, p in zip(chunk, probabilities, strict=True):
            best = np.argsort(-p)[:top]
            out.append((path, [(net.class_names[i], float(p[i])) for i in best]))
    return out


def _decode(path: str, size, resize: str) -> np.ndarray:
    from ...data.image_folder import BadImage, decode_image

    if not Path(path).is_file():
        raise DataError(f"{path}: no such image file")
    try:
        return decode_image(path, size, "rgb", resize)
    except BadImage as e:
        raise DataError(f"{path}: {e}") from None
