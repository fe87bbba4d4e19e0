"""Time `data: image_folder` on the MNIST PNG export: the first load (decoding), the cached second
load, peak memory, the decode pools side by side, and the arrays against the IDX loader's.

    python scripts/export_image_folder.py /tmp/mnist_png --data-dir ../shared/data   # once: 70,000 PNGs
    python scripts/bench_image_folder.py /tmp/mnist_png --data-dir ../shared/data

Each load runs in a fresh Python process with its own empty user cache (XDG_CACHE_HOME in a
temporary folder), so the first load decodes every file and the second reads the cache the first
wrote; its peak memory is the process's maximum resident set (getrusage), the decode workers'
reported apart. The spec is the round trip's: color grayscale, image_size [28, 28], test_path, and
validation_split 0.2. The machine's load average is printed before and after: on a shared machine
other processes' work lands in these times.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _spec(folder: Path):
    from nnx.data.image_folder import ImageFolderSpec

    return ImageFolderSpec(name="image_folder", path=folder / "train", test_path=folder / "test",
                           color="grayscale", image_size=[28, 28], validation_split=0.2)


def child_load(folder: Path) -> dict:
    from nnx import data

    started = time.perf_counter()
    loaded = data.load(_spec(folder), seed=0)
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "sizes": loaded.sizes(), "cache": loaded.meta["cache"],
            "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "worker_peak_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)}


def child_pools(folder: Path, count: int) -> dict:
    from nnx.data import image_folder as imf

    spec = _spec(folder)
    listing = imf.scan_folder(spec.path)
    paths = [str(listing.root / rel) for rel in listing.files[:count]]
    workers = len(os.sched_getaffinity(0))
    out = {"files": len(paths), "cpus": workers}
    for label, kwargs in (("one process", {"workers": 1}), (f"{workers} threads", {"workers": workers, "pool": "thread"}),
                          (f"{workers} processes", {"workers": workers, "pool": "process"})):
        started = time.perf_counter()
        imf.decode_files(paths, spec, **kwargs)
        out[label] = round(time.perf_counter() - started, 2)
    return out


def child_compare(folder: Path, data_dir: str) -> dict:
    import numpy as np

    from nnx import data

    png = data.load(_spec(folder), seed=0)
    idx = data.load(data.family("mnist").spec(name="mnist", validation_split=0.2), seed=0, data_dir=data_dir)
    return {part: bool(np.array_equal(getattr(png, part), getattr(idx, part))
                       and getattr(png, part).dtype == getattr(idx, part).dtype)
            for part in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")}


def _child(folder: Path, what: str, *args, cache: str) -> dict:
    env = {**os.environ, "XDG_CACHE_HOME": cache, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, __file__, str(folder), "--child", what, *args], env=env, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{what} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="the export: FOLDER/train/<class>/*.png, FOLDER/test/<class>/*.png")
    parser.add_argument("--data-dir", help="the IDX files' folder: compare the arrays with the mnist loader's")
    parser.add_argument("--pool-files", type=int, default=10_000, help="files for the pool comparison (0: none)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        what, *rest = args.child
        result = {"load": lambda: child_load(args.folder), "pools": lambda: child_pools(args.folder, int(rest[0])),
                  "compare": lambda: child_compare(args.folder, rest[0])}[what]()
        print(json.dumps(result))
        return 0

    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())} ({os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory(prefix="nnx-bench-cache-") as cache:
        first = _child(args.folder, "load", cache=cache)
        workers = f" (decode worker processes: {first['worker_peak_mb']} MB each at most)" if first["worker_peak_mb"] else ""
        print(f"first load (decodes):  {first['seconds']:6.2f} s  peak {first['peak_mb']} MB{workers}  {first['sizes']}")
        second = _child(args.folder, "load", cache=cache)
        hit = second["cache"]["train"]["hit"] and second["cache"]["test"]["hit"]
        print(f"second load (cached):  {second['seconds']:6.2f} s  peak {second['peak_mb']} MB  cache hit: {hit}")
        if args.pool_files:
            pools = _child(args.folder, "pools", str(args.pool_files), cache=cache)
            print(f"decode only, {pools.pop('files'):,} files: "
                  + ", ".join(f"{k} {v:.2f} s" for k, v in pools.items() if k != "cpus"))
        if args.data_dir:
            same = _child(args.folder, "compare", args.data_dir, cache=cache)
            print("arrays identical to the mnist loader's (same seed, validation_split 0.2): "
                  + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in same.items()))
    print(f"load average after:  {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
