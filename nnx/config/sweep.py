"""Sweeps: a `sweep:` section (and `--sweep KEY=a,b,c`) as a list of settings, each a run's name.

Pure functions of the validated `SweepSpec`: `points` lists the settings (a grid's combinations,
random draws from a seeded generator, or both crossed), `point_name` names one readably
(`l2=1e-4,lr=0.1`). experiment.py applies each setting to every variant like a `--set`, so its
keys are checked by the same schema and reported at the sweep's line or at the `--sweep`.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import yaml

from ..errors import ConfigError
from .schema import SweepSpec
from .yaml_lines import key_text

# Short names for a setting's keys in run names; other keys go by their last part.
SHORT_KEYS = {"learning_rate": "lr", "weight_decay": "wd"}


def parse_sweep_option(text: str) -> tuple[str, list]:
    """`--sweep KEY=a,b,c` (or `KEY=[a, b, c]`, YAML, for values that hold commas) -> (KEY, values)."""
    shown = " ".join(text.split())
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--sweep {shown}: expected KEY=VALUE,VALUE,..., e.g. --sweep regularization.l2=1e-4,1e-3")
    if not value.strip():
        raise ConfigError(f"--sweep {shown}: no values; give at least one, e.g. --sweep {key}=0.1,0.01")
    try:
        if value.strip().startswith("["):
            values = yaml.safe_load(value)
        else:
            values = [yaml.safe_load(v) if v.strip() else None for v in value.split(",")]
    except yaml.YAMLError:
        raise ConfigError(f"--sweep {shown}: the values are not valid YAML; close their brackets and quotes") from None
    if not isinstance(values, list) or not values:
        raise ConfigError(f"--sweep {shown}: give a list of values, e.g. --sweep {key}=0.1,0.01")
    if any(v is None for v in values):
        raise ConfigError(f"--sweep {shown}: an empty value between commas; give values like {key}=0.1,0.01")
    return key, values


def count(sweep: SweepSpec | None) -> int:
    """How many settings `points` would list (before building any)."""
    if sweep is None or (not sweep.grid and sweep.random is None):
        return 1
    grid = math.prod(len(v) for v in sweep.grid.values())
    return grid * (sweep.random.n if sweep.random is not None else 1)


def points(sweep: SweepSpec | None) -> list[dict[str, Any]]:
    """Every setting: {dotted key: value}; [] when there is no sweep."""
    if sweep is None or (not sweep.grid and sweep.random is None):
        return []
    keys = list(sweep.grid)
    grid = [dict(zip(keys, combo)) for combo in itertools.product(*(sweep.grid[k] for k in keys))]
    if sweep.random is None:
        return grid
    return [{**g, **r} for g in grid for r in draws(sweep.random)]


def draws(random) -> list[dict[str, Any]]:
    """`random.n` settings, reproducible from `random.seed`: one value per key per draw, in order."""
    rng = np.random.default_rng(random.seed)
    out = []
    for _ in range(random.n):
        point = {}
        for key, dist in random.space.items():
            if dist.loguniform is not None:
                low, high = dist.loguniform
                point[key] = float(math.exp(rng.uniform(math.log(low), math.log(high))))
            elif dist.uniform is not None:
                point[key] = float(rng.uniform(*dist.uniform))
            else:
                point[key] = dist.choice[int(rng.integers(len(dist.choice)))]
        out.append(point)
    return out


def point_names(settings: list[dict[str, Any]]) -> list[str]:
    """Readable, distinct names: `l2=1e-4,lr=0.1`; drawn numbers are shortened to as few significant
    digits as keep the names apart (config.yaml keeps every digit)."""
    if not settings:
        return []
    labels = _key_labels(list(settings[0]))
    for digits in (3, 4, 6, None):
        names = [point_name(s, labels, digits) for s in settings]
        if len(set(names)) == len(names) or digits is None:
            return names
    return names  # pragma: no cover


def point_name(setting: dict[str, Any], labels: dict[str, str] | None = None, digits: int | None = None) -> str:
    labels = labels or _key_labels(list(setting))
    return ",".join(f"{labels[k]}={_value_text(v, digits)}" for k, v in setting.items())


def _key_labels(keys: list[str]) -> dict[str, str]:
    """The last part of each key (learning_rate as lr), the whole key where two would look alike."""
    short = {k: SHORT_KEYS.get(k.split(".")[-1], k.split(".")[-1]) for k in keys}
    taken = [s for s in short.values()]
    return {k: (s if taken.count(s) == 1 else k) for k, s in short.items()}


def _value_text(value: Any, digits: int | None = None) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _number(value, digits)
    if isinstance(value, list):
        return "_".join(_value_text(v, digits) for v in value)
    if isinstance(value, dict):
        return "_".join(f"{key_text(k)}-{_value_text(v, digits)}" for k, v in value.items())
    return str(value)


def _number(value: float, digits: int | None) -> str:
    """The shorter of positional and scientific notation: 0.1, 1e-4, 2.5e-3, 100."""
    if not math.isfinite(value):
        return str(value)
    if digits is None:
        fixed = np.format_float_positional(value, trim="-")
        sci = np.format_float_scientific(value, trim="-", exp_digits=1)
    else:
        fixed = np.format_float_positional(value, precision=digits, unique=True, fractional=False, trim="-")
        sci = np.format_float_scientific(value, precision=digits - 1, unique=True, trim="-", exp_digits=1)
    sci = sci.replace("e+", "e")
    return fixed if len(fixed) <= len(sci) else sci
