"""Compare NYSE network settings by their VALIDATION R^2 only; the test days are never used.

Validation days are the variant's own: the last 20% of the training days for `nar` and `rnn`,
or what the --try overrides set (data.validation_split, data.validation_order). The script prints
the validation metrics of the restored best epoch, mean over seeds, for each `--try` set of overrides,
and the validation R^2 of the seeds' averaged prediction (their ensemble, as `nnx ensemble` makes it).

    PYTHONPATH=. nice -n 5 python scripts/nyse_tune.py --variant nar --seeds 2 \
        --try "" --try "model.hidden=[64]" --try "data.lags=10"
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

from nnx.config import load_experiment
from nnx.ensemble import ensemble
from nnx.runner import run_experiment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="nar")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--try", dest="tries", action="append", default=[],
                        help="space-separated KEY=VALUE overrides; repeat for each setting to compare")
    args = parser.parse_args()
    for text in args.tries or [""]:
        overrides = [*text.split(), f"seeds={args.seeds}"]
        experiment = load_experiment("experiments/nyse.yaml", overrides, only=[args.variant])
        with tempfile.TemporaryDirectory() as out:
            outcomes = run_experiment(experiment, output_dir=out)
            folders = [o.folder for o in outcomes if o.summary]
            # The seeds' averaged prediction (nnx ensemble), on the same validation days.
            together = ensemble(folders, write=False).summary["validation"].get("r2") if len(folders) > 1 else None
        r2 = [o.summary["validation"]["r2"] for o in outcomes if o.summary]
        epochs = [o.summary["best_epoch"] for o in outcomes if o.summary]
        print(f"{text or '(as in the file)':<60} validation R2 {statistics.mean(r2):.4f} "
              f"({', '.join(f'{v:.4f}' for v in r2)})  best epochs {epochs}"
              + (f"  ensemble {together:.4f}" if together is not None else ""), flush=True)


if __name__ == "__main__":
    main()
