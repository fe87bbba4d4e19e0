#!/usr/bin/env bash
# Train the MNIST MLP (30 epochs) and the MNIST CNN on a GPU with the same YAML files as on the CPU,
# and print the wall times. Needs JAX with CUDA (pip install -U "jax[cuda12]") and the MNIST files
# in $NNX_DATA_DIR (or --data-dir / the cache).
#   NNX_DATA_DIR=/path/to/data bash scripts/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out="${NNX_GPU_CHECK_OUT:-outputs/gpu_check}"
python -c 'import jax; d = jax.devices()[0]; print("device:", d.platform, d.device_kind)'
for exp in experiments/mnist_mlp.yaml experiments/mnist_cnn.yaml; do
  [ -f "$exp" ] || { echo "skip $exp (not in this checkout)"; continue; }
  start=$(date +%s.%N)
  python -m nnx train "$exp" --device gpu -q -o "$out"
  end=$(date +%s.%N)
  python - "$exp" "$start" "$end" "$out" <<'PY'
import json, sys, pathlib
exp, start, end, out = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), pathlib.Path(sys.argv[4])
name = pathlib.Path(exp).stem
run = sorted((out / name).iterdir())[-1]
s = json.loads((run / "summary.json").read_text())
print(f"{exp}: {end - start:.1f} s wall (launch to exit), {s['seconds']:.1f} s training, "
      f"{s['epochs']} epochs, test error {s['test']['error']:.2%}, device {s['device']}")
PY
done
