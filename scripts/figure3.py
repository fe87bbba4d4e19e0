"""Figure 3 of the notes (Keras' table of ImageNet networks), measured on this machine with nnx.

For each of the ten architectures, at its ImageNet input size with the top: size in MB (its
float32 weights, batch-norm statistics included, in MiB: the size of Keras' .h5 file), parameters
(as Keras counts them), depth (layers with weights, as Keras' table counts: conv, batch norm,
dense; a separable convolution is one) and milliseconds per inference step at batch 32 on the CPU
(one compiled forward pass, `train=False`, on random images; the median of --reps timed steps after
one untimed step that compiles), beside Keras' own numbers from keras.io/api/applications (their
CPU: a 92-core AMD EPYC; batch 32; their GPU column is not reproduced without a GPU).

    PYTHONPATH=. python3 scripts/figure3.py [--reps N] [--batch B] [--markdown] [arch ...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# keras.io/api/applications: size MB, parameters (millions), depth, CPU ms, GPU ms (batch 32)
KERAS = {
    "xception": (88, 22.9, 81, 109.4, 8.1), "vgg16": (528, 138.4, 16, 69.5, 4.2),
    "vgg19": (549, 143.7, 19, 84.8, 4.4), "resnet50": (98, 25.6, 107, 58.2, 4.6),
    "resnet50v2": (98, 25.6, 103, 45.6, 4.4), "resnet101": (171, 44.7, 209, 89.6, 5.2),
    "resnet101v2": (171, 44.7, 205, 72.7, 5.4), "resnet152": (232, 60.4, 311, 127.4, 6.5),
    "resnet152v2": (232, 60.4, 307, 107.5, 6.6), "inception_v3": (92, 23.9, 189, 42.2, 6.9),
}


def measure(arch: str, batch: int, reps: int) -> dict:
    import jax
    import numpy as np
    from flax import nnx

    from nnx.models.applications import APPLICATION_INPUT_SHAPES
    from nnx.models.applications.pretrained import build_module
    from nnx.models.applications.weights import keras_layers

    abstract = nnx.eval_shape(lambda: build_module(arch))  # ImageNet size, 1000 classes, with the top
    leaves = jax.tree.leaves(nnx.state(abstract, nnx.Param, nnx.BatchStat))
    params = sum(int(np.prod(a.shape)) for a in leaves)
    size_mb = sum(int(np.prod(a.shape)) * np.dtype(a.dtype).itemsize for a in leaves) / 2**20
    depth = len(keras_layers(arch, abstract))
    if reps == 0:  # counts only
        return {"arch": arch, "size_mb": size_mb, "params": params, "depth": depth, "ms": float("nan"),
                "ms_all": [], "compile_s": float("nan")}
    module = build_module(arch)
    shape = APPLICATION_INPUT_SHAPES[arch]
    x = jax.random.uniform(jax.random.key(0), (batch, *shape), minval=-1.0, maxval=1.0)
    graphdef, state = nnx.split(module)
    forward = jax.jit(lambda s, x: nnx.merge(graphdef, s)(x, train=False))
    started = time.perf_counter()
    forward(state, x).block_until_ready()  # compiles
    compile_s = time.perf_counter() - started
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        forward(state, x).block_until_ready()
        times.append(1000 * (time.perf_counter() - started))
    return {"arch": arch, "size_mb": size_mb, "params": params, "depth": depth, "ms": statistics.median(times),
            "ms_all": times, "compile_s": compile_s}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archs", nargs="*")
    parser.add_argument("--reps", type=int, default=3, help="timed steps; 0: size, parameters and depth only")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    import jax

    archs = args.archs or list(KERAS)
    print(f"jax {jax.__version__} on {jax.devices()[0].device_kind} ({jax.device_count()} device); batch {args.batch}; "
          f"median of {args.reps} steps after a compiling one", flush=True)
    if args.markdown:
        print("| network | size MB (Keras) | parameters (Keras) | depth (Keras) | CPU ms/step (Keras) | steps measured, ms |")
        print("|---|---|---|---|---|---|")
    for arch in archs:
        r = measure(arch, args.batch, args.reps)
        k = KERAS[arch]
        steps = ", ".join(f"{t:.0f}" for t in r["ms_all"])
        if args.markdown:
            print(f"| {arch} | {r['size_mb']:.0f} ({k[0]}) | {r['params'] / 1e6:.1f}M ({k[1]}M) | {r['depth']} ({k[2]}) "
                  f"| {r['ms']:.0f} ({k[3]}) | {steps} |", flush=True)
        else:
            print(f"{arch:<13} {r['size_mb']:6.0f} MB ({k[0]})  {r['params']:>11,} ({k[1]}M)  depth {r['depth']:>3} ({k[2]})"
                  f"  {r['ms']:8.0f} ms/step ({k[3]})  [{steps}; compile {r['compile_s']:.0f} s]", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
