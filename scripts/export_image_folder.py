"""Write MNIST or Fashion-MNIST as PNG files in class folders, for `data: {name: image_folder}`.

    python scripts/export_image_folder.py OUT [--dataset mnist|fashion_mnist] [--data-dir DIR] [--limit N]

reads the IDX files (from --data-dir, $NNX_DATA_DIR or the user cache, checked against their
sha256 as `data: mnist` reads them) and writes

    OUT/train/<class>/<index>.png     the 60,000 training images
    OUT/test/<class>/<index>.png      the 10,000 test images

where <class> is the digit (MNIST) or Fashion-MNIST's class name made filesystem-safe
(`T-shirt/top` -> `T-shirt_top`, `Ankle boot` -> `Ankle_boot`), and <index> is the image's
position in its IDX file, zero-padded to five digits. image_folder orders a folder's images by file
name across classes, so the export is read back in the IDX files' order: `image_folder` with
`color: grayscale, image_size: [28, 28]` gives the IDX loader's arrays, bit for bit, in its order.
`--limit N` writes only the first N images of each split (a small export for a quick check).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def safe_name(name: str) -> str:
    """A class name as a folder name: anything but letters, digits, '-' and '.' becomes '_'."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", name).strip("_") or "_"


def class_names(dataset: str) -> list[str]:
    from nnx.data.idx import FASHION_CLASSES

    return [safe_name(c) for c in FASHION_CLASSES] if dataset == "fashion_mnist" else [str(d) for d in range(10)]


def export_split(images: np.ndarray, labels: np.ndarray, classes: list[str], folder: Path) -> int:
    """Write uint8 images (N, H, W) as folder/<class>/<index:05d>.png; the number written."""
    from PIL import Image

    for name in classes:
        (folder / name).mkdir(parents=True, exist_ok=True)
    for i, (image, label) in enumerate(zip(images, labels)):
        Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8), mode="L").save(
            folder / classes[int(label)] / f"{i:05d}.png")
    return len(images)


def export(dataset: str, out: Path, data_dir=None, limit: int | None = None) -> dict[str, int]:
    from nnx.data.idx import idx_files, read_idx
    from nnx.data.store import fetch

    paths = fetch(idx_files("mnist" if dataset == "mnist" else "fashion-mnist"), data_dir)
    x_train, y_train, x_test, y_test = (read_idx(p) for p in paths)
    classes = class_names(dataset)
    written = {}
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        written[split] = export_split(x[:limit], y[:limit], classes, out / split)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the folder to write train/ and test/ into")
    parser.add_argument("--dataset", choices=("mnist", "fashion_mnist"), default="mnist")
    parser.add_argument("--data-dir", help="where the IDX files are (default: $NNX_DATA_DIR, the user cache)")
    parser.add_argument("--limit", type=int, help="only the first N images of each split")
    args = parser.parse_args(argv)
    from nnx.errors import NnxError

    started = time.perf_counter()
    try:
        written = export(args.dataset, args.out, args.data_dir, args.limit)
    except NnxError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{args.out}: {written['train']:,} train + {written['test']:,} test PNG files "
          f"({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
