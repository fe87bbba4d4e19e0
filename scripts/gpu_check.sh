#!/usr/bin/env bash
# Train the chapter's networks on a GPU with the same YAML files as on the CPU, and print the times:
#   the MNIST MLP (30 epochs; target on an H100/H200: 3 s including compilation),
#   the MNIST CNN (target: test accuracy 99.5% within 15 s; the seconds to the first epoch at 99.5%
#   validation accuracy are printed from metrics.jsonl),
#   the IMDB LSTM (imdb_rnn.yaml's lstm variant),
#   vectorized seeds: the MNIST MLP with 4 seeds in one program (training.parallel_seeds).
# Needs JAX with CUDA (pip install -U "jax[cuda13]", or "jax[cuda12]" for an older driver) and the
# MNIST and IMDB files in $NNX_DATA_DIR (or the cache). A case whose data is absent is skipped.
#   NNX_DATA_DIR=/path/to/data bash scripts/gpu_check.sh [mlp cnn lstm seeds]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${NNX_GPU_CHECK_OUT:-outputs/gpu_check}"
python -c 'import jax; d = jax.devices()[0]; print("device:", d.platform, d.device_kind, "| jax", jax.__version__)'
python -c 'import jax, sys; sys.exit(jax.default_backend() != "gpu")' \
  || { echo "gpu_check: JAX sees no GPU; install it with pip install -U \"jax[cuda13]\" (see the README)" >&2; exit 2; }
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(mlp cnn lstm seeds)
for case in "${cases[@]}"; do
  case "$case" in
    mlp)   args=(experiments/mnist_mlp.yaml) ;;
    cnn)   args=(experiments/mnist_cnn.yaml) ;;
    lstm)  args=(experiments/imdb_rnn.yaml --only lstm) ;;
    seeds) args=(experiments/mnist_mlp.yaml --set seeds=4 --set training.parallel_seeds=true) ;;
    *) echo "unknown case $case (mlp, cnn, lstm, seeds)" >&2; exit 2 ;;
  esac
  dir="$out/$case"
  rm -rf "$dir"
  start=$(date +%s.%N)
  code=0
  NNX_NO_DOWNLOAD=1 python -m nnx train "${args[@]}" --device gpu -q -o "$dir" || code=$?
  end=$(date +%s.%N)
  if [ "$code" -ne 0 ]; then echo "$case: nnx train exited $code (see above); skipped"; continue; fi
  python - "$case" "$start" "$end" "$dir" <<'PY'
import json, pathlib, sys
case, start, end, out = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), pathlib.Path(sys.argv[4])
runs = sorted(p for p in out.glob("*/*") if (p / "summary.json").is_file())
for run in runs:
    s = json.loads((run / "summary.json").read_text())
    test = s["test"]
    score = f"test error {test['error']:.2%}" if "error" in test else f"test {test}"
    line = (f"{case} {s['run']}: {s['seconds']:.1f} s training, {s['epochs']} epochs, {score}, "
            f"device {s['device']}, parallel seeds {s['parallel_seeds']}")
    if case == "cnn":  # seconds to the first epoch at 99.5% validation accuracy (compilation included)
        elapsed, reached = 0.0, None
        for m in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()):
            elapsed += m["seconds"]
            if reached is None and m.get("validation", {}).get("accuracy", 0) >= 0.995:
                reached = (m["epoch"], elapsed)
        line += (f"; validation 99.5% at epoch {reached[0]}, {reached[1]:.1f} s of epochs" if reached
                 else "; validation never reached 99.5%")
    print(line)
print(f"{case}: {end - start:.1f} s wall (launch to exit, {len(runs)} run{'s' if len(runs) != 1 else ''})")
PY
done
