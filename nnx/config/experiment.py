"""An experiment file in, one validated RunSpec per variant and seed out.

The file is read once (safe loader, line of every key remembered). Overrides of the top level
and of variants are written into it, and its top level is validated (`ExperimentFile`). Then each
variant is merged over the base sections, the section overrides are applied, and the result is
validated as a `RunSpec`; a problem is reported at the file line or the `--set` it came from.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .. import checks
from ..errors import ConfigError
from ..record.metrics import flatten  # noqa: F401  (nnx.config.flatten, as before)
from . import overrides as ov
from . import sweep as sweep_
from .messages import did_you_mean, validate
from .schema import (
    MAX_NAME,
    MAX_RUNS,
    MAX_SEED,
    MAX_SWEEP_RUNS,
    SECTIONS,
    TAGS,
    ExperimentFile,
    LauncherSpec,
    RunSpec,
    SweepSpec,
    expand_shorthands,
)
from .yaml_lines import Claims, Origins, VariantLines, key_text, read_yaml


@dataclass
class Experiment:
    """A validated experiment: its name, its source, and one RunSpec per variant, sweep setting
    and seed (in that order: variants outermost, seeds innermost)."""

    name: str
    path: Path | None
    runs: list[RunSpec]
    description: str = ""
    variants: list[str] = field(default_factory=list)
    sweep: SweepSpec | None = None
    launcher: LauncherSpec = field(default_factory=LauncherSpec)  # resources of SLURM tasks


def load_experiment(
    path: str | Path,
    overrides: Iterable[str] = (),
    seed: int | None = None,
    only: Iterable[str] = (),
    only_option: str = "--only",
    data_dir=None,
    sweeps: Iterable[str] = (),
    max_runs: int | None = MAX_RUNS,
) -> Experiment:
    """Read, validate and expand an experiment file. Raises ConfigError with file:line.
    `data_dir` (--data-dir) is searched for a data set's relative file paths (see _paths_from).
    `sweeps`: `--sweep KEY=a,b,c` options, added to the file's sweep grid. An experiment of more
    than `max_runs` runs is refused before any is built (None: no limit; the CLI's --yes)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such file; give the path of an experiment YAML file")
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder, not an experiment file; give the path of a .yaml file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (is it binary?); give a YAML experiment file") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read it ({e.strerror})") from None
    return parse_experiment(text, source=str(path), default_name=path.stem, overrides=overrides,
                            seed=seed, only=only, path=path, only_option=only_option, data_dir=data_dir,
                            sweeps=sweeps, max_runs=max_runs)


def parse_experiment(
    text: str,
    source: str = "<string>",
    default_name: str = "experiment",
    overrides: Iterable[str] = (),
    seed: int | None = None,
    only: Iterable[str] = (),
    path: Path | None = None,
    only_option: str = "--only",
    data_dir=None,
    sweeps: Iterable[str] = (),
    max_runs: int | None = MAX_RUNS,
) -> Experiment:
    """An experiment from YAML text; `only_option` names the option that chose the variants."""
    raw, lines = read_yaml(text, source)
    if raw is None:
        raise ConfigError(f"{source}: the file is empty; an experiment needs at least `data:` and `model:`")
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}:1: the top level must be a mapping of keys (data:, model:, ...), "
                          f"not a {type(raw).__name__}")
    sections, top = ov.split(ov.parse_overrides(overrides))

    # The top level and the variants, with their overrides, validated as an ExperimentFile.
    ov.check_variants_exist(top, raw.get("variants"), source)
    file_claims = Claims()
    ov.apply_all(raw, top + _sweep_options(sweeps), file_claims)
    file_origins = Origins(source, lines, file_claims)
    file = validate(ExperimentFile, raw, file_origins)
    name = file.name or default_name
    seeds = list(range(file.seed, file.seed + file.seeds)) if isinstance(file.seeds, int) else file.seeds
    if seed is not None:
        seeds = [seed + s - seeds[0] for s in seeds]
        if not all(0 <= s <= MAX_SEED for s in seeds):
            span = f" (with `seeds` this gives {seeds[0]}..{seeds[-1]})" if len(seeds) > 1 else ""
            raise ConfigError(f"--seed {seed}: seeds are integers from 0 to {MAX_SEED}{span}")
    variants = list(file.variants) or ["default"]
    only = list(only)
    for name_ in only:
        if name_ not in variants:
            raise ConfigError(f"{only_option} {name_}: no such variant; the variants are {', '.join(variants)}"
                              + did_you_mean(name_, variants))
    base = expand_shorthands({k: raw[k] for k in SECTIONS if k in raw})
    chosen = [v for v in variants if not only or v in only]
    settings = _sweep_settings(file.sweep, sections, file_origins, len(chosen) * len(seeds), max_runs)

    runs = []
    for variant in chosen:
        own_sections = expand_shorthands(file.variants.get(variant) or {})
        variant_base = _merge_variant(base, own_sections, variant, Origins(source, lines, file_claims))
        for setting, setting_name, setting_overrides in settings or [(None, None, [])]:
            merged = copy.deepcopy(variant_base) if settings else variant_base
            run_claims, own = Claims(), file_claims.under(("variants", variant))
            ov.apply_all(merged, setting_overrides + sections, run_claims)
            run_name = variant
            if setting is not None:
                run_name = setting_name if variants == ["default"] else f"{variant},{setting_name}"
                if len(run_name) > MAX_NAME:  # a long setting: its values are in config.yaml's sweep:
                    run_name = f"{variant},sweep{len(runs) // len(seeds):04d}"
                merged["sweep"] = {"variant": variant, "values": setting, "vectorize": file.sweep.vectorize}
            merged.update(experiment=name, variant=run_name, seed=seeds[0])
            origins = Origins(source, VariantLines(lines, variant), run_claims, own,
                              variant=variant if len(variants) > 1 else None, variant_sections=own_sections)
            spec = _paths_from(validate(RunSpec, merged, origins), path, data_dir)
            for where, message in checks.problems(spec, own=file.variants.get(variant) or {}):
                raise ConfigError(origins.where(where) + message)  # the first; fixing it shows the next
            for s in seeds:
                runs.append(spec.model_copy(update={"seed": s, "seeds_in_name": len(seeds) if len(seeds) > 1 else None}))
    return Experiment(name=name, path=path, runs=runs, description=file.description, variants=chosen,
                      sweep=file.sweep, launcher=file.launcher)


def _sweep_options(texts: Iterable[str]) -> list[ov.Override]:
    """`--sweep KEY=a,b,c` as an override of the file's `sweep.grid.KEY` (validated with the file)."""
    out = []
    for text in texts:
        key, values = sweep_.parse_sweep_option(text)
        out.append(ov.Override(" ".join(text.split()), ("sweep", "grid", key), values, replace=True,
                               option="--sweep"))
    return out


def _sweep_settings(sweep: SweepSpec | None, sections: list[ov.Override], origins: Origins, runs_per_setting: int,
                    max_runs: int | None) -> list[tuple[dict, str, list[ov.Override]]]:
    """(setting, its name, its overrides) for every setting of the sweep; [] without one. Each
    setting is applied to a variant as `--set`s are (after the variant, before the `--set`s), so
    its keys are checked by the schema and reported at the sweep's line or its `--sweep`."""
    if sweep is None or (not sweep.grid and sweep.random is None):
        return []
    where = {**{k: ("sweep", "grid", k) for k in sweep.grid},
             **({k: ("sweep", "random", "space", k) for k in sweep.random.space} if sweep.random else {})}
    for key, path in where.items():
        keys = tuple(key.split("."))
        if keys[0] not in SECTIONS or len(keys) < 2 or not all(keys):
            hint = " (for seeds, use seeds: N)" if keys[0] in ("seed", "seeds") else did_you_mean(keys[0], SECTIONS)
            raise ConfigError(f"{origins.where(path)}sweep key {key_text(key)}: give a dotted key of a run's "
                              f"sections ({', '.join(SECTIONS)}), e.g. regularization.l2{hint}")
        for o in sections:
            if o.keys[:len(keys)] == keys or keys[:len(o.keys)] == o.keys:
                raise ConfigError(f"--set {o.text}: {key_text(key)} is also swept ({origins.where(path).rstrip(': ')}"
                                  "); drop one of the two")
    total = sweep_.count(sweep) * runs_per_setting
    if total > MAX_SWEEP_RUNS:
        raise ConfigError(f"{origins.where(('sweep',))}sweep: {total:,} runs, more than the {MAX_SWEEP_RUNS:,} one "
                          "experiment may hold; split the sweep into several experiments")
    if max_runs is not None and total > max_runs:
        raise ConfigError(f"{origins.where(('sweep',))}sweep: {total:,} runs (settings x variants x seeds), more "
                          f"than {max_runs:,}; pass --yes to start them all, or --dry-run to list them")
    settings = sweep_.points(sweep)
    out = []
    for setting, setting_name in zip(settings, sweep_.point_names(settings)):
        overrides = []
        for key, value in setting.items():
            path = where[key]
            owner = origins.override(path)
            option = owner.option if owner is not None else origins.file_where(path) + "sweep"
            overrides.append(ov.Override(f"{key}={json.dumps(value)}", tuple(key.split(".")), value, False, option))
        out.append((setting, setting_name, overrides))
    return out


def _paths_from(spec: RunSpec, experiment_file: Path | None, data_dir=None) -> RunSpec:
    """A data set's relative file paths (`data.path: my.csv`), and a weight file's (`model.weights:
    my.h5`), are relative to the experiment file's
    folder, so an experiment runs from any folder; the run's config.yaml records them absolute.
    One that is not there is looked for under the same relative path in the data folders
    (--data-dir, $NNX_DATA_DIR, the cache: `path: islp/Default.csv`), as the shipped data sets are."""
    base = experiment_file.parent if experiment_file is not None else Path.cwd()
    resolved = {name: _resolve(value, base, data_dir) for name, value in spec.data if isinstance(value, Path)
                and not value.is_absolute()}
    if resolved:
        spec = spec.model_copy(update={"data": spec.data.model_copy(update=resolved)})
    weights = getattr(spec.model, "weights", None)  # a weight file of one's own (model.weights: my.h5)
    if isinstance(weights, Path) and not weights.is_absolute():
        spec = spec.model_copy(update={"model": spec.model.model_copy(
            update={"weights": _resolve(weights, base, data_dir)})})
    return spec


def _resolve(value: Path, base: Path, data_dir) -> Path:
    """`value` beside the experiment file; else the first data folder that has it; else beside the
    file (where the data set's loader will say it is missing)."""
    here = (base / value).resolve()
    if not here.exists():
        from ..data.store import search_dirs

        for folder in search_dirs(data_dir):
            if (folder / value).exists():
                return (folder / value).resolve()
    return here


def _merge_variant(base: dict, override: dict, variant: str, origins: Origins) -> dict:
    """The base sections with a variant merged over them."""
    if len(variant) > MAX_NAME:
        raise ConfigError(origins.where(("variants", variant))
                          + f"variants.{key_text(variant[:20])}...: a name of {len(variant)} characters; "
                            f"use at most {MAX_NAME}")
    for key in sorted(set(override) - set(SECTIONS), key=str):
        raise ConfigError(origins.where(("variants", variant, key))
                          + f"variants.{key_text(variant)}.{key_text(key)}: unknown key; a variant overrides "
                          + ", ".join(SECTIONS) + did_you_mean(str(key), SECTIONS))
    merged = copy.deepcopy(base)
    for section, tag in TAGS.items():
        # A variant that changes the model type or the data set replaces that section whole:
        # the other keys of the old kind would not apply to the new one.
        new, old = override.get(section), merged.get(section)
        if isinstance(new, dict) and isinstance(old, dict) and new.get(tag, old.get(tag)) != old.get(tag):
            merged[section] = {}
    return ov.deep_merge(merged, override)


def load_run_config(path: str | Path) -> RunSpec:
    """Read back a run folder's resolved config.yaml."""
    path = Path(path)
    raw, lines = read_yaml(path.read_text(encoding="utf-8"), str(path))
    return validate(RunSpec, raw, Origins(str(path), lines))


def apply_overrides(spec: RunSpec, overrides: Iterable[str]) -> RunSpec:
    """A RunSpec with `--set KEY=VALUE` overrides applied (the same rules as for a file), validated."""
    parsed = ov.parse_overrides(overrides)
    if not parsed:
        return spec
    for o in parsed:
        if o.keys[0] not in SECTIONS:
            raise ConfigError(f"--set {o.text}: a run's config has the sections {', '.join(SECTIONS)}; "
                              f"{key_text(o.keys[0])!s} is not one of them{did_you_mean(str(o.keys[0]), SECTIONS)}")
    raw = spec.model_dump(mode="json")
    claims = Claims()
    ov.apply_all(raw, parsed, claims)
    return validate(RunSpec, raw, Origins("the run's config.yaml", {}, claims)).model_copy(
        update={"seeds_in_name": spec.seeds_in_name})


def dump_run_config(spec: RunSpec) -> str:
    """The YAML a run folder's config.yaml holds: every key, defaults filled in."""
    return yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False)
