"""Process start-up for commands that compute: device choice, compilation cache, several hosts.

Everything here that sets JAX's environment runs before JAX is imported, so the CLI calls it
first; nothing here is imported by `nnx --help`.
"""

from __future__ import annotations

import os
import sys

from .errors import ConfigError

CACHE_OFF = {"0", "off", "false", "no"}


def select_device(device: str) -> None:
    """Must run before JAX is imported: picks the platform JAX initializes."""
    if device == "cpu":
        os.environ["JAX_PLATFORMS"] = "cpu"


def check_device(device: str) -> None:
    """`--device gpu|tpu` on a machine whose JAX sees none is a usage error."""
    import jax

    backend = jax.default_backend()
    if device in ("gpu", "tpu") and backend != device:
        extra = "jax[cuda13]" if device == "gpu" else "jax[tpu]"  # the extras of JAX's own install guide
        raise ConfigError(f"--device {device}: no {device.upper()} visible to JAX (it sees: {backend}); "
                          f"install JAX with {device.upper()} support (pip install -U \"{extra}\"; see the README) "
                          "or use --device cpu")


def start(device: str = "auto") -> None:
    """What every computing command does first: the compilation cache, several hosts, the device."""
    use_compilation_cache()
    start_distributed()
    select_device(device)
    check_device(device)


def compilation_cache_dir(environ=os.environ) -> str | None:
    """Where XLA's compiled programs are kept between runs, or None for nowhere.

    `NNX_COMPILATION_CACHE` names the folder, or turns the cache off (`off`); unset, it is
    `~/.cache/nnx/jax` (beside the data cache). A `JAX_COMPILATION_CACHE_DIR` the user set is
    JAX's own setting and is left alone.
    """
    choice = environ.get("NNX_COMPILATION_CACHE", "").strip()
    if choice.lower() in CACHE_OFF or environ.get("JAX_COMPILATION_CACHE_DIR"):
        return None
    if choice:
        return choice
    from .data.store import cache_dir

    return str(cache_dir() / "jax")


def use_compilation_cache() -> None:
    """Keep compiled programs between runs: a second run of an experiment skips most of its compile
    (a 1-epoch MNIST MLP run, launch to exit on 2 CPU cores: 7.5 s cold, 3.8-4.7 s warm).

    Sets JAX's environment variables, so it must run before JAX is imported. A folder that cannot
    be created or written only costs time: the run goes on without the cache.
    """
    folder = compilation_cache_dir()
    if folder is None:
        return
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return
    if os.access(folder, os.W_OK):
        os.environ["JAX_COMPILATION_CACHE_DIR"] = folder
        # Every program, not only those over JAX's default 1 s of compile: the small ones add up.
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")


def start_distributed() -> None:
    """Several hosts: when the coordinator is named in the environment, join the JAX cluster.

    Reads NNX_COORDINATOR (host:port), NNX_NUM_PROCESSES and NNX_PROCESS_ID; on a managed cluster
    (SLURM, TPU pods) `jax.distributed.initialize()` finds them itself when NNX_DISTRIBUTED=1.
    """
    coordinator = os.environ.get("NNX_COORDINATOR")
    if not coordinator and os.environ.get("NNX_DISTRIBUTED") != "1":
        return
    import jax

    # CPU processes talk through Gloo (GPUs use NCCL regardless); set before any backend starts.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if coordinator:
        jax.distributed.initialize(coordinator_address=coordinator,
                                   num_processes=int(os.environ["NNX_NUM_PROCESSES"]),
                                   process_id=int(os.environ["NNX_PROCESS_ID"]))
    else:
        jax.distributed.initialize()


def primary_writes(output_dir, quiet):
    """With several processes, process 0 writes the run folders and reports; the others train
    alongside it and write into a scratch folder, removed when the process exits."""
    if "jax" not in sys.modules:
        return output_dir, quiet
    import jax

    if jax.process_count() == 1 or jax.process_index() == 0:
        return output_dir, quiet
    import atexit
    import shutil
    import tempfile

    scratch = tempfile.mkdtemp(prefix=f"nnx-process{jax.process_index()}-")
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    return scratch, True
