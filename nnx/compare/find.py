"""Finding run folders: from run folders, experiment folders, folders of experiments and globs."""

from __future__ import annotations

import glob
from collections.abc import Iterable
from pathlib import Path

from ..errors import ConfigError
from ..record import is_run_folder


def find_runs(paths: Iterable[str | Path] = (), root: str | Path = "outputs") -> list[Path]:
    """Run folders named by `paths`: run folders, experiment folders (their runs), folders of
    experiments, or glob patterns. With no path, every run of every experiment under `root`."""
    paths = [str(p) for p in paths]
    if not paths:
        if not Path(root).is_dir():
            raise ConfigError(f"no runs to compare: {root}/ does not exist; train an experiment first "
                              "(nnx train experiments/quickstart.yaml) or name run folders")
        paths = [str(root)]
    found: list[Path] = []
    for arg in paths:
        if glob.has_magic(arg):
            matches = [Path(m) for m in sorted(glob.glob(arg))]
        else:
            if not Path(arg).exists():
                raise ConfigError(f"{arg}: no such run or experiment folder")
            matches = [Path(arg)]
        for match in matches:
            found.extend(_runs_under(match))
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if not unique:
        raise ConfigError(f"no run folders found in {', '.join(paths)}; a run folder holds config.yaml, "
                          "status.json or summary.json (train one with: nnx train EXPERIMENT.yaml)")
    return unique


def _runs_under(path: Path, depth: int = 2) -> list[Path]:
    """A run folder, or the run folders up to `depth` levels below (experiment, then outputs/)."""
    if is_run_folder(path):
        return [path]
    if depth == 0 or not path.is_dir():
        return []
    runs = []
    for child in sorted(path.iterdir()):
        if child.is_dir() and not child.name.startswith("."):
            runs.extend(_runs_under(child, depth - 1))
    return runs
