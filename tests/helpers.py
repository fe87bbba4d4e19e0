"""Small helpers the tests share: run the CLI in-process, write tiny data files."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from nnx.cli import main


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    """Run `nnx ARGS` in this process; return (exit code, stdout, stderr)."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    out = capsys.readouterr()
    return code, out.out, out.err


def write_idx(path: Path, array: np.ndarray, magic: int | None = None, compress: bool = True) -> Path:
    """Write an array of uint8 in the IDX format (big-endian header), gzip-compressed by default."""
    array = np.asarray(array, dtype=np.uint8)
    magic = (0x0800 | array.ndim) if magic is None else magic
    raw = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


def run_folders(out: Path) -> list[Path]:
    """The run folders under an output folder (OUTPUT/<experiment>/<run>), sorted."""
    return sorted(p for p in out.glob("*/*") if p.is_dir())


def write_experiment(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


QUICK = """
name: quick
seed: 0
data: {name: digits, validation_split: 0.2}
model: {type: mlp, hidden: [32], dropout: 0.1}
training: {epochs: 2, batch_size: 64, optimizer: {name: adam, learning_rate: 0.003}}
"""


def write_default_stand_in(data_dir: Path) -> Path:
    """A small stand-in for ISLP's Default.csv (its columns, 200 rows), where default.yaml finds it:
    config tests validate the shipped experiments without the real data (tests/test_table_data.py
    has the realdata test)."""
    path = Path(data_dir) / "islp" / "Default.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("default,student,balance,income\n" + "".join(
        f"{'Yes' if i % 4 == 0 else 'No'},{'Yes' if i % 3 == 0 else 'No'},{100.5 * i},{1000.5 * i}\n"
        for i in range(200)))
    write_transfer_stand_in(data_dir)
    return path


def write_transfer_stand_in(data_dir: Path) -> Path:
    """transfer.yaml's image folder (Fashion-MNIST exported as PNGs, fashion_mnist_png_1000/), as
    two tiny classes of twenty 8x8 PNGs each in train/ and test/: enough to list and validate."""
    from PIL import Image

    root = Path(data_dir) / "fashion_mnist_png_1000"
    for split in ("train", "test"):
        for k, name in enumerate(("Bag", "Shirt")):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(20):
                Image.fromarray(np.full((8, 8), 40 * k + i, np.uint8)).save(folder / f"{10 * i + k:05d}.png")
    return root
