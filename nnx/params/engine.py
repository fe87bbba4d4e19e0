"""count-params: the parameters of a model, layer by layer, from the very module `train` builds.

The model is built abstractly (`nnx.eval_shape`): every array is a `jax.ShapeDtypeStruct`, so a
138M-parameter VGG16 costs no memory. A forward pass on an abstract input (`nnx.eval_shape` again)
records each submodule's output shape. Counting then walks the module tree:

- Keras convention (default): `nnx.Param` leaves are trainable parameters, `nnx.BatchStat`
  leaves (batch-norm moving mean and variance) are non-trainable parameters, as Keras counts them.
- torch convention: how PyTorch reports the same architecture. Batch-norm running statistics are
  buffers, not parameters; recurrent cells have two bias vectors per gate (`b_ih` and `b_hh`, so an
  LSTM has 4*(in*h + h*h + 2h)); and a convolution whose output goes only into batch norm has
  no bias (the norm's shift makes it redundant; torchvision builds every conv-BN pair with
  `bias=False`). The last rule is a difference of architecture, not of counting: it is what makes
  Keras's ResNet50 (25,636,712 with conv biases and moving statistics) come out as torchvision's
  25,557,032.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

CONVENTIONS = {
    "keras": "counted as Keras does: batch-norm moving statistics are non-trainable parameters",
    "torch": "counted as PyTorch reports the same architecture: batch-norm running statistics are buffers "
             "(not counted), recurrent cells have two bias vectors per gate, and a convolution feeding only "
             "straight into batch norm has no bias (as in torchvision)",
}


# --------------------------------------------------------------------------------------------
# The result


@dataclass
class Layer:
    """One node of the module tree: its own parameters plus its children's."""

    name: str
    type: str
    depth: int
    output_shape: Any = None  # a shape tuple (batch as None), a list of them, or None if unknown
    trainable: int = 0
    non_trainable: int = 0
    children: list[Layer] = field(default_factory=list)
    note: str = ""
    path: tuple = ()

    @property
    def params(self) -> int:
        return self.trainable + self.non_trainable

    def walk(self, max_depth: int = 0):
        """This layer's descendants, depth first, down to max_depth (0: all)."""
        for child in self.children:
            if max_depth and child.depth > max_depth:
                continue
            yield child
            yield from child.walk(max_depth)

    def as_dict(self) -> dict:
        return {"name": self.name, "type": self.type, "depth": self.depth,
                "output_shape": _shape_json(self.output_shape), "params": self.params,
                "trainable": self.trainable, "non_trainable": self.non_trainable,
                **({"note": self.note} if self.note else {})}


@dataclass
class Summary:
    model: str
    convention: str
    input_shape: tuple
    root: Layer
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.root.params

    @property
    def trainable(self) -> int:
        return self.root.trainable

    @property
    def non_trainable(self) -> int:
        return self.root.non_trainable

    def as_dict(self, depth: int = 0) -> dict:
        return {"model": self.model, "convention": self.convention, "input_shape": list(self.input_shape),
                "output_shape": _shape_json(self.root.output_shape), "total": self.total,
                "trainable": self.trainable, "non_trainable": self.non_trainable,
                "layers": [layer.as_dict() for layer in self.root.walk(depth)],
                "notes": [*layer_notes(self), *self.notes]}  # as the table prints them


def _shape_json(shape):
    if shape is None:
        return None
    if isinstance(shape, list):
        return [_shape_json(s) for s in shape]
    return list(shape)


def format_shape(shape) -> str:
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return "[" + ", ".join(format_shape(s) for s in shape) + "]"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


# --------------------------------------------------------------------------------------------
# Counting a module


def abstract_model(spec, info):
    """The Flax module `nnx train` would build for (spec, info), with no array allocated."""
    from flax import nnx

    from .. import models

    with _cheap_tracer_errors():
        return nnx.eval_shape(lambda: models.build(spec, info, nnx.Rngs(0)))


def summarize(model, input_shape, *, name: str = "model", convention: str = "keras",
              input_dtype: str = "float32") -> Summary:
    """Count a Flax NNX module (concrete or abstract) for an input of `input_shape` (no batch axis)."""
    if convention not in CONVENTIONS:
        raise ConfigError(f"--convention {convention}: unknown; use one of {', '.join(CONVENTIONS)}")
    notes: list[str] = []
    try:
        trace = _trace(model, tuple(input_shape), input_dtype)
    except Exception as e:  # an honest '?' rather than a failure: the counts do not need the trace
        trace = None
        notes.append(f"output shapes unknown: the forward pass on an input of shape "
                     f"{tuple(input_shape)} failed ({type(e).__name__}: {_shorten(str(e).splitlines()[0], 120)})")
    root = _count(model, (), 0, convention, trace, notes, set())
    root.name = name
    return Summary(name, convention, tuple(input_shape), root, notes)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _count(module, path: tuple, depth: int, convention: str, trace, notes: list, seen: set) -> Layer:
    from flax import nnx

    layer = Layer(".".join(str(p) for p in path), type(module).__name__, depth, path=path)
    if trace is not None:
        layer.output_shape = trace.shapes.get(path)
    seen.add(id(module))
    order = []
    for key, value in _items(module):
        if isinstance(value, nnx.Variable):
            if id(value) in seen:
                continue  # a shared variable counts once
            seen.add(id(value))
            size = _size(value)
            if isinstance(value, nnx.BatchStat):
                if convention == "keras":
                    layer.non_trainable += size
            elif isinstance(value, _frozen_param()):  # a frozen base's weight: Keras counts it non-trainable
                layer.non_trainable += size
            elif isinstance(value, nnx.Param):
                if (convention == "torch" and key == "bias" and trace is not None
                        and path in trace.conv_into_bn):
                    layer.note = "convolution bias dropped (its output feeds batch norm)"
                    continue
                layer.trainable += size
        elif isinstance(value, nnx.Module) and id(value) not in seen:
            for sub_key, sub in _flatten_containers(key, value):
                if id(sub) in seen:
                    continue
                child = _count(sub, path + sub_key, depth + 1, convention, trace, notes, seen)
                order.append(child)
    if convention == "torch":
        extra = _torch_recurrent_extra(module)
        if extra:
            layer.trainable += extra
            layer.note = "second bias vector per gate added (torch's b_hh)"
    first_call = trace.first_call if trace is not None else {}
    # Children in the order the forward pass first calls them; those never called keep their place after.
    keyed = sorted(((first_call.get(c.path, math.inf), i), c) for i, c in enumerate(order))
    layer.children = [c for _, c in keyed]
    for child in layer.children:
        layer.trainable += child.trainable
        layer.non_trainable += child.non_trainable
    return layer


def _frozen_param():
    from ..models.applications.transfer import FrozenParam

    return FrozenParam


def _items(module):
    """A module's attributes in definition order (Flax's own iterators sort them by name)."""
    return [(k, v) for k, v in vars(module).items() if not k.startswith("_")]


def _flatten_containers(key, value):
    """nnx.List and nnx.Dict (so also nnx.Sequential.layers) are transparent: items are children key.i."""
    from flax import nnx

    containers = tuple(c for c in (getattr(nnx, "List", None), getattr(nnx, "Dict", None)) if c)
    if isinstance(value, containers):
        items = value.items() if hasattr(value, "items") else enumerate(value)
        for k, v in items:
            if isinstance(v, nnx.Module):
                for sub_key, sub in _flatten_containers(k, v):
                    yield (key, *sub_key), sub
        return
    yield (key,), value


def _size(variable) -> int:
    import jax

    value = variable.get_value() if hasattr(variable, "get_value") else variable.value
    return sum(math.prod(getattr(leaf, "shape", ())) for leaf in jax.tree.leaves(value))


# Flax recurrent cells and their gate counts: torch's RNN/LSTM/GRU hold gates*(in*h + h*h + 2h).
def _recurrent_cells():
    from flax import nnx

    cells = {"SimpleCell": 1, "LSTMCell": 4, "OptimizedLSTMCell": 4, "GRUCell": 3}
    return [(getattr(nnx, name), gates) for name, gates in cells.items() if hasattr(nnx, name)]


def _torch_recurrent_extra(module) -> int:
    for cls, gates in _recurrent_cells():
        if isinstance(module, cls):
            i, h = module.in_features, module.hidden_features
            flax_count = _subtree_params(module)
            return gates * (i * h + h * h + 2 * h) - flax_count
    return 0


def _subtree_params(module) -> int:
    import jax
    from flax import nnx

    state = nnx.state(module, nnx.Param)
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(state))


# --------------------------------------------------------------------------------------------
# Output shapes: one abstract forward pass, recording what each submodule returns


@dataclass
class _Trace:
    shapes: dict = field(default_factory=dict)        # path -> output shape
    first_call: dict = field(default_factory=dict)    # path -> order of the first call
    conv_into_bn: set = field(default_factory=set)    # paths of convolutions whose output a BatchNorm normalizes


def _trace(model, input_shape: tuple, input_dtype: str) -> _Trace:
    import jax
    import jax.numpy as jnp
    from flax import nnx

    result = _Trace()
    x = jax.ShapeDtypeStruct((1, *input_shape), jnp.dtype(input_dtype))

    def forward(m, x):
        paths = _paths(m)
        calls: list = []  # (path, module, args, output); outputs stay referenced, so `is` is safe
        with _recording({type(mod) for mod in paths.values()}, calls):
            out = m(x)
        by_id = {id(mod): p for p, mod in paths.items()}
        conv_outputs, consumers = {}, {}
        for i, (module, args, output) in enumerate(calls):  # in the order the calls returned
            path = by_id.get(id(module))
            if path is None:
                continue
            result.first_call.setdefault(path, i)
            result.shapes.setdefault(path, _shape_of(output))
            for arg in args:
                hit = conv_outputs.get(id(arg))
                if hit is not None and hit[1] is arg:
                    consumers.setdefault(hit[0], []).append(module)
            if isinstance(module, nnx.Conv):
                conv_outputs[id(output)] = (path, output)
        # A bias is redundant when batch norm is the only module its convolution's output goes into.
        result.conv_into_bn = {path for path, users in consumers.items()
                               if all(isinstance(u, nnx.BatchNorm) for u in users)}
        result.shapes[()] = _shape_of(out)
        return out

    with _cheap_tracer_errors():
        nnx.eval_shape(forward, model, x)
    return result


def _paths(model) -> dict:
    """path -> module for every module of the tree, with containers made transparent."""
    from flax import nnx

    out = {(): model}
    seen = {id(model)}

    def visit(module, path):
        for key, value in _items(module):
            if isinstance(value, nnx.Module):
                for sub_key, sub in _flatten_containers(key, value):
                    if id(sub) not in seen:
                        seen.add(id(sub))
                        out[path + sub_key] = sub
                        visit(sub, path + sub_key)

    visit(model, ())
    return out


def _shape_of(output):
    import jax

    leaves = [leaf for leaf in jax.tree.leaves(output) if hasattr(leaf, "shape")]
    shapes = [(None, *leaf.shape[1:]) if leaf.shape else () for leaf in leaves]
    if not shapes:
        return None
    return shapes[0] if len(shapes) == 1 else shapes


@contextlib.contextmanager
def _recording(classes, calls: list):
    """Wrap `__call__` of the classes that define it, recording (module, args, output) per call.

    Only the outermost call of a module is recorded (a subclass calling super().__call__ counts once).
    """
    owners = set()
    for cls in classes:
        for klass in cls.__mro__:
            if "__call__" in vars(klass):
                owners.add(klass)
                break
    active: set = set()

    def wrap(original):
        def __call__(self, *args, **kwargs):
            if id(self) in active:
                return original(self, *args, **kwargs)
            active.add(id(self))
            try:
                out = original(self, *args, **kwargs)
            finally:
                active.discard(id(self))
            calls.append((self, args, out))
            return out
        return __call__

    saved = {klass: vars(klass)["__call__"] for klass in owners}
    try:
        for klass, original in saved.items():
            type.__setattr__(klass, "__call__", wrap(original))
        yield
    finally:
        for klass, original in saved.items():
            type.__setattr__(klass, "__call__", original)


@contextlib.contextmanager
def _cheap_tracer_errors():
    """Speed up abstract tracing of large models (ResNet152: 19 s -> 3 s on a 2-core CPU).

    Flax's `Variable.set_value` (every `rngs.params()` call updates a counter) reads
    `getattr(tracer, "sharding", None)`; on a tracer that raises an AttributeError whose message
    JAX builds by walking the whole jaxpr traced so far, so building a deep model is quadratic.
    The message is discarded by getattr; we skip building it while we trace. Only the text of an
    error message changes, and only inside this block.
    """
    try:
        from jax._src.interpreters import partial_eval as pe
        tracer = pe.DynamicJaxprTracer
        original = tracer.__dict__["_origin_msg"]
    except (ImportError, AttributeError, KeyError):
        yield
        return
    tracer._origin_msg = lambda self: ""
    try:
        yield
    finally:
        tracer._origin_msg = original


def layer_notes(summary: Summary) -> list[str]:
    """The torch convention's changes, grouped: what was dropped or added, and where."""
    groups: dict[str, list[str]] = {}
    for layer in summary.root.walk():
        if layer.note:
            groups.setdefault(layer.note, []).append(layer.name)
    return [f"{note}: {len(names)} layer{'s' if len(names) > 1 else ''} ({', '.join(names[:3])}"
            f"{', ...' if len(names) > 3 else ''})" for note, names in groups.items()]
