"""docs/extending.md's promise, run: a data set and a model family are one module each.

The two modules of the doc are written into a copy of the package, with no other edit, and a
real `nnx train`, `--dry-run` and `count-params` then use them (a subprocess: the registries are
read once, when the package is imported)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

from .conftest import ROOT

EXPERIMENT = """
data: {name: moons, samples: 200}
model: {type: linear_net, rank: 2}
training: {epochs: 2, batch_size: 32, optimizer: adam}
"""


def test_the_docs_data_set_and_model_family_need_no_other_edit(tmp_path):
    package = tmp_path / "copy" / "nnx"
    shutil.copytree(ROOT / "nnx", package, ignore=shutil.ignore_patterns("__pycache__"))
    blocks = re.findall(r"```python\n# (nnx/\S+)\n(.*?)```", (ROOT / "docs" / "extending.md").read_text(), re.S)
    assert [path for path, _ in blocks] == ["nnx/data/moons.py", "nnx/models/linear_net.py"]
    for path, code in blocks:
        (tmp_path / "copy" / path).write_text(code)
    (tmp_path / "exp.yaml").write_text(EXPERIMENT)
    (tmp_path / "ols.yaml").write_text(EXPERIMENT.replace("type: linear_net, rank: 2", "type: linear_regression"))
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "copy"), "NNX_COMPILATION_CACHE": "off"}
    env.pop("XLA_FLAGS", None)

    def nnx(*args):
        return subprocess.run([sys.executable, "-m", "nnx", *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300)

    # linear_regression learns regression only: the new data set's declared task is checked like any other.
    refused = nnx("train", "ols.yaml", "--dry-run")
    assert refused.returncode == 2 and "model.type: linear_regression does not fit data set moons" in refused.stderr
    done = nnx("train", "exp.yaml", "-o", "out", "-q")
    assert done.returncode == 0, done.stderr
    assert "linear_net" in done.stdout and "test auc" in done.stdout  # a binary task: AUC reported
    counted = nnx("count-params", "exp.yaml")
    assert counted.returncode == 0 and "Total params: 9" in counted.stdout, counted.stderr  # 2*2+2 + 2*1+1
