"""Data parallelism with jax.sharding: a mesh with one `data` axis over the local (or global) devices.

Parameters and optimizer state are replicated; each batch is split along its first axis over the
devices, and XLA inserts the gradient all-reduce. One device is the same code with no mesh.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
from jax.sharding import NamedSharding, PartitionSpec

from ..errors import ConfigError


@dataclass(frozen=True)
class Placement:
    mesh: jax.sharding.Mesh | None = None

    @property
    def size(self) -> int:
        return 1 if self.mesh is None else self.mesh.size

    def replicate(self, tree):
        """Put arrays on every device of the mesh (or leave them to JAX's default device)."""
        if self.mesh is None:
            return tree
        sharding = NamedSharding(self.mesh, PartitionSpec())
        return jax.tree.map(lambda a: _put_global(a, sharding), tree)

    def shard_batch(self, x, axis: int = 0):
        """Inside jit: split a batch over the devices along `axis`."""
        if self.mesh is None:
            return x
        spec = PartitionSpec(*([None] * axis), "data")
        return jax.lax.with_sharding_constraint(x, NamedSharding(self.mesh, spec))


def _put_global(array, sharding: NamedSharding):
    if jax.process_count() == 1:
        return jax.device_put(array, sharding)
    # Several hosts: every process holds the same full array; build the global replicated array.
    import numpy as np

    host = np.asarray(array)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def one_device(devices: int | str | None) -> bool:
    """Whether a `--devices` value asks for plain single-device training (None: the flag not given)."""
    return devices in (None, 1, "1")


def placement(devices: int | str | None, batch_size: int, examples: int | None = None) -> Placement:
    """The placement for `--devices N|all` (None or 1: a single device). A training split of fewer
    `examples` than `batch_size` trains in batches of all of them, which must split too."""
    available = jax.devices()
    if one_device(devices):
        return Placement()
    n = len(available) if devices == "all" else int(devices)
    if n < 1 or n > len(available):
        choices = "1 or all" if len(available) == 1 else f"1 to {len(available)}, or all"
        raise ConfigError(f"--devices {devices}: JAX sees {len(available)} {available[0].platform} "
                          f"device{'s' if len(available) > 1 else ''} here; use --devices {choices}")
    if n == 1:
        return Placement()
    if examples is not None and examples < batch_size:
        if examples % n:
            raise ConfigError(f"the training split's {examples} examples (fewer than training.batch_size "
                              f"{batch_size}, so one batch) do not split over {n} devices; use more data "
                              f"or --devices with a divisor of {examples}")
    elif batch_size % n:
        raise ConfigError(f"training.batch_size {batch_size} does not split over {n} devices; "
                          f"use a multiple of {n}")
    # Auto axes: XLA propagates the batch sharding and inserts the gradient all-reduce itself.
    auto = (jax.sharding.AxisType.Auto,)
    return Placement(jax.make_mesh((n,), ("data",), axis_types=auto, devices=available[:n]))
