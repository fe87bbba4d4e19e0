"""How the set-up's editable install behaves for a user (issue 23, finding 13)."""

from __future__ import annotations

import subprocess
import sys

from .conftest import ROOT


def test_the_package_is_found_from_the_folder_that_holds_a_clone_named_nnx(tmp_path):
    # A clone called nnx/ in the current folder: Python used to import that folder as an empty
    # namespace package, and the README's Python example stopped with an ImportError.
    (tmp_path / "nnx").symlink_to(ROOT, target_is_directory=True)
    code = "import nnx, nnx.config; print(nnx.__file__); print(nnx.__version__)"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == str(ROOT / "nnx" / "__init__.py")
