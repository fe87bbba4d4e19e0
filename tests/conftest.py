"""Shared test set-up: never download, and see several CPU devices for the data-parallel tests."""

import os

# Before JAX is imported anywhere: 8 CPU devices for the sharding tests, CPU only.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ["NNX_NO_DOWNLOAD"] = "1"
# In-process CLI runs would share one JAX compilation cache across tests; the cache has its own test.
os.environ["NNX_COMPILATION_CACHE"] = "off"

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"


@pytest.fixture
def real_data_dir() -> Path:
    """The shared real data folder (NNX_DATA_DIR), or skip."""
    path = os.environ.get("NNX_DATA_DIR")
    if not path or not Path(path).is_dir():
        pytest.skip("NNX_DATA_DIR does not point at the real data folder")
    return Path(path)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Each test gets an empty user cache, so nothing leaks between tests or from the machine."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def six_reference(tmp_path_factory):
    """The six-run experiment of tests/launch_helpers.py trained in this process: what every
    launcher (--jobs, --continue, SLURM) must reproduce."""
    from .launch_helpers import reference

    return reference(tmp_path_factory)
