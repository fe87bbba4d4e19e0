"""Keras-layout weights into nnx's ImageNet architectures: the layer map and the HDF5 reader.

A Keras application's layers have fixed names (VGG `block1_conv1`, ResNet `conv2_block1_1_conv`,
Xception `block2_sepconv1`), except the layers Keras names by counting (`conv2d`, `conv2d_1`, ...
and `batch_normalization`, ...): all of InceptionV3's and Xception's four residual projections.
Their numbers depend on what else the Keras session had built (Keras 2.0 started at `conv2d_1`,
Keras 3 at `conv2d`), but their order is the order Keras' code created them, so those are matched
by rank among the file's layers of that kind. Inside a layer, weights go by order, as Keras' own
loader does, so Keras 2 names (`conv1_conv/kernel:0`) and Keras 3 legacy names
(`conv1_conv/kernel`) both read.

`keras_layers(arch, module)` lists (Keras layer name, nnx module) in Keras' creation order;
`assign(...)` checks every shape and that every weight is used exactly once, then writes them all
(nothing is written when anything is wrong); `read_h5(path)` reads the legacy HDF5 layout
(root attribute `layer_names`, possibly split into `layer_names0`, ...; a group per layer with
`weight_names`; or all of it under `model_weights` in a whole-model file).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ...errors import DataError

# Keras' counted default names; Keras 1 spelled them convolution2d_N and batchnormalization_N
AUTO = re.compile(r"^(conv2d|convolution2d|batch_normalization|batchnormalization)(?:_(\d+))?$")
KIND = {"convolution2d": "conv2d", "batchnormalization": "batch_normalization"}


class WeightsError(DataError):
    """A weight file that does not fit the network (a layer missing or left over, a shape differs)."""


# --------------------------------------------------------------------------------------------
# The layer map: (Keras layer name, nnx module); ("conv2d", k) / ("batch_normalization", k) for the
# k-th counted name


def keras_layers(arch: str, module) -> list[tuple]:
    if arch.startswith("vgg"):
        return _vgg(module)
    if arch.startswith("resnet"):
        return _resnet_v2(module) if arch.endswith("v2") else _resnet_v1(module)
    if arch == "inception_v3":
        return _inception_v3(module)
    if arch == "xception":
        return _xception(module)
    raise ValueError(f"no Keras layer map for {arch}")


def _top(module, *names) -> list[tuple]:
    return [(n, getattr(module, n)) for n in names if getattr(module, n, None) is not None]


def _vgg(m) -> list[tuple]:
    out = []
    for b in range(1, m.blocks + 1):
        block = getattr(m, f"block{b}")
        out += [(f"block{b}_conv{i}", getattr(block, f"conv{i}")) for i in range(1, block.convs + 1)]
    return out + (_top(m, "fc1", "fc2", "predictions") if m.include_top else [])


def _stages(m):
    for s in range(2, 6):
        stage = getattr(m, f"conv{s}")
        for j in range(1, stage.count + 1):
            yield f"conv{s}_block{j}", getattr(stage, f"block{j}")


def _resnet_v1(m) -> list[tuple]:
    out = [("conv1_conv", m.conv1), ("conv1_bn", m.conv1_bn)]
    for prefix, block in _stages(m):
        parts = ([("0", block.shortcut)] if block.shortcut is not None else []) + [
            ("1", block.conv1), ("2", block.conv2), ("3", block.conv3)]
        for k, convbn in parts:
            out += [(f"{prefix}_{k}_conv", convbn.conv), (f"{prefix}_{k}_bn", convbn.bn)]
    return out + _top(m, "predictions")


def _resnet_v2(m) -> list[tuple]:
    out = [("conv1_conv", m.conv1)]
    for prefix, block in _stages(m):
        out.append((f"{prefix}_preact_bn", block.preact_bn))
        if block.shortcut is not None:
            out.append((f"{prefix}_0_conv", block.shortcut))
        for k, convbn in (("1", block.conv1), ("2", block.conv2)):
            out += [(f"{prefix}_{k}_conv", convbn.conv), (f"{prefix}_{k}_bn", convbn.bn)]
        out.append((f"{prefix}_3_conv", block.conv3))
    return out + [("post_bn", m.post_bn)] + _top(m, "predictions")


def _inception_v3(m) -> list[tuple]:
    from .inception_v3 import Branch, Split

    convbns = [getattr(m, f"conv{i}") for i in range(1, 6)]

    def walk(branch):
        if isinstance(branch, Split):
            return walk(branch.stem) + [branch.a, branch.b]
        assert isinstance(branch, Branch)
        return [getattr(branch, f"conv{i}") for i in range(1, branch.count + 1)]

    for i in range(11):
        mixed = getattr(m, f"mixed{i}")
        for name in mixed.names:  # branches in the order Keras' code creates them
            convbns += walk(getattr(mixed, name))
    out = []
    for k, convbn in enumerate(convbns):
        out += [(("conv2d", k), convbn.conv), (("batch_normalization", k), convbn.bn)]
    return out + _top(m, "predictions")


def _xception(m) -> list[tuple]:
    out = [("block1_conv1", m.block1_conv1.conv), ("block1_conv1_bn", m.block1_conv1.bn),
           ("block1_conv2", m.block1_conv2.conv), ("block1_conv2_bn", m.block1_conv2.bn)]
    residuals = 0
    for b in range(2, 14):
        block = getattr(m, f"block{b}")
        if hasattr(block, "residual"):  # Keras leaves the residual projections unnamed
            out += [(("conv2d", residuals), block.residual.conv),
                    (("batch_normalization", residuals), block.residual.bn)]
            residuals += 1
        for i in (1, 2, 3):
            sep = getattr(block, f"sepconv{i}", None)
            if sep is not None:
                out += [(f"block{b}_sepconv{i}", sep.sepconv), (f"block{b}_sepconv{i}_bn", sep.bn)]
    out += [(n, getattr(m, n)) for n in ("block14_sepconv1", "block14_sepconv1_bn",
                                         "block14_sepconv2", "block14_sepconv2_bn")]
    return out + _top(m, "predictions")


# --------------------------------------------------------------------------------------------
# Checking and writing


def _targets(module) -> list[tuple[str, object, callable]]:
    """(what, nnx variable, Keras array -> nnx array) for each weight of a Keras layer, in Keras'
    order: kernel then bias; gamma (when scaled), beta, moving mean, moving variance;
    depthwise kernel, pointwise kernel (then bias)."""
    from flax import nnx

    from .layers import SeparableConv

    same = np.asarray
    if isinstance(module, SeparableConv):
        # Keras keeps a depthwise kernel as (h, w, in, multiplier); Flax's grouped conv as (h, w, 1, in)
        out = [("depthwise_kernel", module.depthwise.kernel, lambda a: np.transpose(a, (0, 1, 3, 2))),
               ("pointwise_kernel", module.pointwise.kernel, same)]
        return out + ([("bias", module.pointwise.bias, same)] if module.pointwise.bias is not None else [])
    if isinstance(module, (nnx.Conv, nnx.Linear)):
        return [("kernel", module.kernel, same)] + ([("bias", module.bias, same)] if module.bias is not None else [])
    if isinstance(module, nnx.BatchNorm):
        return ([("gamma", module.scale, same)] if module.scale is not None else []) + [
            ("beta", module.bias, same), ("moving_mean", module.mean, same), ("moving_variance", module.var, same)]
    raise TypeError(f"no Keras weights for {type(module).__name__}")


def _resolve_auto(names: list[str]) -> dict:
    """Counted names by rank within their kind: {("conv2d", 0): 'conv2d_1', ...}."""
    ranked: dict[str, list[tuple[int, str]]] = {}
    for n in names:
        match = AUTO.match(n)
        if match:
            kind = KIND.get(match.group(1), match.group(1))
            ranked.setdefault(kind, []).append((int(match.group(2) or 0), n))
    return {(kind, k): n for kind, items in ranked.items() for k, (_, n) in enumerate(sorted(items))}


def assign(arch: str, module, layers: dict[str, list[tuple[str, np.ndarray]]], source: str) -> int:
    """Write `layers` ({Keras layer name: [(weight name, array), ...]}, layers without weights
    ignored) into `module`; every shape is checked and every weight used exactly once, else a
    WeightsError naming `source` and the layer. Nothing is written unless all fit. Returns the
    number of weights written."""
    import jax.numpy as jnp

    layers = {name: ws for name, ws in layers.items() if ws}
    auto = _resolve_auto(list(layers))
    pending, used = [], set()
    for key, target in keras_layers(arch, module):
        name = auto.get(key) if isinstance(key, tuple) else key
        shown = name or (f"{key[0]} number {key[1] + 1}" if isinstance(key, tuple) else key)
        if name is None or name not in layers:
            raise WeightsError(f"{source}: no layer {shown} (needed by {arch}); is it a weight file of another "
                               "network, or with/without the top (include_top)?")
        weights, wanted = layers[name], _targets(target)
        if len(weights) != len(wanted):
            raise WeightsError(f"{source}: layer {name} has {len(weights)} weights "
                               f"({', '.join(w for w, _ in weights)}), {arch} expects {len(wanted)} "
                               f"({', '.join(w for w, _, _ in wanted)})")
        for (wname, array), (what, variable, convert) in zip(weights, wanted, strict=True):
            value = convert(np.asarray(array))
            if value.shape != tuple(variable.shape):
                raise WeightsError(f"{source}: layer {name} weight {wname} ({what}) has shape "
                                   f"{tuple(np.asarray(array).shape)}, {arch} expects {tuple(variable.shape)}"
                                   f"{' (as Keras stores it)' if convert is not np.asarray else ''}")
            pending.append((variable, value))
        used.add(name)
    extra = [n for n in layers if n not in used]
    if extra:
        shown = ", ".join(extra[:5]) + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
        raise WeightsError(f"{source}: layer{'s' if len(extra) > 1 else ''} {shown} not in {arch}"
                           f"{' without its top' if getattr(module, 'predictions', True) is None else ''}; "
                           "is it a weight file of another network, or with/without the top (include_top)?")
    for variable, value in pending:
        variable[...] = jnp.asarray(value, dtype=variable[...].dtype)
    return len(pending)


def _names(group, attr: str) -> list[str]:
    """A name-list attribute, possibly split by Keras into attr0, attr1, ... (HDF5's 64 KiB limit)."""
    if attr in group.attrs:
        values = list(group.attrs[attr])
    else:
        values, i = [], 0
        while f"{attr}{i}" in group.attrs:
            values += list(group.attrs[f"{attr}{i}"])
            i += 1
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def read_h5(path: str | Path) -> dict[str, list[tuple[str, np.ndarray]]]:
    """{layer name: [(weight name, array), ...]} of a Keras legacy HDF5 weight file, in file order."""
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            group = f
            if not _names(f, "layer_names") and "model_weights" in f:  # a whole-model file (model.save)
                group = f["model_weights"]
            names = _names(group, "layer_names")
            if not names:
                raise WeightsError(f"{path}: not a Keras weight file (no layer_names attribute); "
                                   "save one with Keras' model.save_weights('....h5') or legacy_h5_format")
            out = {}
            for name in names:
                g = group[name]
                out[name] = [(w, np.asarray(g[w])) for w in _names(g, "weight_names")]
            return out
    except OSError as e:
        raise WeightsError(f"{path}: not a readable HDF5 file ({e}); is it a Keras .h5 weight file?") from None
    except KeyError as e:
        raise WeightsError(f"{path}: a layer or weight listed in the file is not in it ({e}); "
                           "the file is damaged") from None


def load_h5(arch: str, module, path: str | Path) -> int:
    """Read a Keras-layout HDF5 file into `module` (an nnx `arch`, with or without its top)."""
    return assign(arch, module, read_h5(path), str(path))
