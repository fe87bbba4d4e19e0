"""Check that a trained MNIST (or Fashion-MNIST) run predicts PNG files as it predicts the arrays.

    python scripts/predict_pngs_check.py RUN [--limit N] [--data-dir DIR]

Exports the first N test images (default all 10,000) as PNG files with
scripts/export_image_folder.py, predicts them as a user would (`nnx predict RUN FOLDER`, here
`nnx.predict.predict`), predicts the run's own test split (`--split test`), and prints how many
labels agree, and the split's accuracy beside the recorded one.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--limit", type=int, default=10_000)
    parser.add_argument("--data-dir")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT / "scripts"))
    from export_image_folder import main as export

    from nnx.predict import open_run, predict

    run = open_run(args.run, args.data_dir)
    with tempfile.TemporaryDirectory() as tmp:
        export([tmp, "--dataset", run.spec.data.name, "--limit", str(args.limit),
                *(["--data-dir", args.data_dir] if args.data_dir else [])])
        files = predict(run, [Path(tmp) / "test"])
    index = np.array([int(Path(name).stem) for name in files.names])  # <index>.png: its row in the IDX file
    split = predict(run, split="test")
    agree = int((files.predicted == split.predicted[index]).sum())
    print(f"{agree} of {len(index)} PNG files predicted with the label of their array "
          f"(max |logit difference| {np.abs(files.outputs - split.outputs[index]).max():.3g}); notes: {len(files.notes)}")
    print(f"--split test accuracy {split.metrics['accuracy']!r}, recorded {split.recorded['accuracy']!r}: "
          f"{'equal' if split.metrics['accuracy'] == split.recorded['accuracy'] else 'DIFFERENT'}")
    return 0 if agree == len(index) else 1


if __name__ == "__main__":
    sys.exit(main())
