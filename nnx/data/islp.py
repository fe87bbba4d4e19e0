"""Two small ISLP data sets that ship inside the package: Hitters (regression) and NYSE (time series).

Both CSV files are byte-for-byte ISLP 0.6.0's (`nnx/data/files/`). A copy in the data folder
(`islp/Hitters.csv` or `Hitters.csv` under --data-dir, $NNX_DATA_DIR or the cache) is used instead
when there is one, so a user can point nnx at their own copy.
"""

from __future__ import annotations

import csv
import importlib.resources
import io
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from ..errors import DataError
from .base import REGISTRY, DataBase, DataFamily, DataInfo, Dataset, make_dataset
from .store import search_dirs


def read_csv(name: str, data_dir=None) -> tuple[list[dict[str, str]], str]:
    """The rows of an ISLP CSV file as dicts, and where it was read from."""
    for folder in search_dirs(data_dir):
        for path in (folder / "islp" / name, folder / name):
            if path.is_file():
                return _parse(path.read_text(encoding="utf-8"), str(path)), str(path)
    resource = importlib.resources.files("nnx.data") / "files" / name
    if not resource.is_file():
        raise DataError(f"{name}: not found in the data folders nor inside the package; "
                        "reinstall nnx, or put a copy of ISLP's file in the data folder under islp/")
    return _parse(resource.read_text(encoding="utf-8"), f"nnx/data/files/{name}"), f"package:{name}"


def _parse(text: str, source: str) -> list[dict[str, str]]:
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows:
        raise DataError(f"{source}: no rows; expected ISLP's CSV file with a header line")
    return rows


def _column(rows, name: str, source: str, kind=float) -> np.ndarray:
    if name not in rows[0]:
        raise DataError(f"{source}: no column '{name}'; expected ISLP's file (columns: {', '.join(rows[0])})")
    try:
        return np.array([kind(r[name]) for r in rows])
    except ValueError as e:
        raise DataError(f"{source}: column '{name}' has a bad value ({e}); expected ISLP's file") from None


# --------------------------------------------------------------------------------------------
# Hitters: Salary of 263 baseball players (section 3 of the notes, ISLP lab 10.9.1)

HITTERS_NUMERIC = ["AtBat", "Hits", "HmRun", "Runs", "RBI", "Walks", "Years", "CAtBat", "CHits", "CHmRun",
                   "CRuns", "CRBI", "CWalks"]
HITTERS_LATE = ["PutOuts", "Assists", "Errors"]
# Two-level factors, one indicator each (the first level is the baseline), as ISLP's ModelSpec does.
HITTERS_FACTORS = {"League": "N", "Division": "W", "NewLeague": "N"}
HITTERS_COLUMNS = [*HITTERS_NUMERIC, "League[N]", "Division[W]", *HITTERS_LATE, "NewLeague[N]"]


def hitters_design(rows: list[dict[str, str]], source: str = "Hitters.csv") -> tuple[np.ndarray, np.ndarray]:
    """Drop the players without a salary; the design matrix in ISLP's column order, and Salary."""
    rows = [r for r in rows if r.get("Salary", "").strip() not in ("", "NA")]
    if not rows:
        raise DataError(f"{source}: no row has a Salary; expected ISLP's Hitters.csv")
    indicator = {f"{name}[{level}]": (_column(rows, name, source, str) == level).astype(np.float64)
                 for name, level in HITTERS_FACTORS.items()}
    x = np.stack([indicator[c] if c in indicator else _column(rows, c, source) for c in HITTERS_COLUMNS], axis=1)
    return x, _column(rows, "Salary", source)


def standardize(train: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
    """Scale every array by the mean and sd (ddof 0) of `train` alone, as StandardScaler does."""
    mean, sd = train.mean(axis=0), train.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return tuple((a - mean) / sd for a in (train, *others))


def hitters_split(x: np.ndarray, y: np.ndarray, test_size: float, split_seed: int, scale: bool = True):
    """ISLP's split, `train_test_split(X, Y, test_size=1/3, random_state=1)`, then scaling on train."""
    from sklearn.model_selection import train_test_split

    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_size, random_state=split_seed)
    if scale:
        x_tr, x_te = standardize(x_tr, x_te)
    return x_tr, y_tr, x_te, y_te


def load_hitters(spec, seed: int, data_dir=None) -> Dataset:
    rows, source = read_csv("Hitters.csv", data_dir)
    x, y = hitters_design(rows, source)
    x_tr, y_tr, x_te, y_te = hitters_split(x, y, spec.test_size, spec.split_seed, spec.standardize)
    info = hitters_info(spec)
    f32 = lambda a: a.astype(np.float32)  # noqa: E731
    return make_dataset("hitters", info, (f32(x_tr), f32(y_tr)), (f32(x_te), f32(y_te)), spec, seed,
                        columns=HITTERS_COLUMNS, source=source)


# --------------------------------------------------------------------------------------------
# NYSE: daily log trading volume (sections 5-6 of the notes, ISLP lab 10.9.6)

NYSE_SERIES = ["DJ_return", "log_volume", "log_volatility"]  # ISLP's order; log_volume is the target
WEEKDAYS = ["mon", "tues", "wed", "thur", "fri"]


def lagged(series: np.ndarray, lags: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs `series[t-lags:t]` (oldest day first) and their day index t, for t = lags .. T-1.

    Day t's input holds days t-lags, ..., t-1 only: never day t itself, never a later day.
    """
    days = np.arange(lags, len(series))
    window = days[:, None] - lags + np.arange(lags)[None, :]  # (N, lags): t-lags .. t-1
    return series[window], days


def nyse_arrays(rows: list[dict[str, str]], lags: int, day_of_week: bool, layout: str,
                source: str = "NYSE.csv") -> dict[str, np.ndarray]:
    """Standardized series (training days' mean and sd), lagged inputs, targets and the split."""
    raw = np.stack([_column(rows, c, source) for c in NYSE_SERIES], axis=1)
    train_day = _column(rows, "train", source, str) == "TRUE"
    if len(raw) <= lags or not train_day[lags:].any() or train_day[lags:].all():
        raise DataError(f"{source}: need training and test days after the first {lags} lags")
    mean, sd = raw[train_day].mean(axis=0), raw[train_day].std(axis=0)
    z = (raw - mean) / sd
    x, days = lagged(z, lags)  # (N, lags, 3)
    y = z[days, NYSE_SERIES.index("log_volume")]
    if day_of_week:
        weekday = _column(rows, "day_of_week", source, str)[days]
        unknown = sorted(set(weekday) - set(WEEKDAYS))
        if unknown:
            raise DataError(f"{source}: unknown day_of_week values {unknown}; expected {WEEKDAYS}")
        dow = (weekday[:, None] == np.array(WEEKDAYS)[None, :]).astype(np.float64)  # the target day's
        if layout == "sequence":
            x = np.concatenate([x, np.broadcast_to(dow[:, None, :], (len(x), lags, len(WEEKDAYS)))], axis=2)
    x = x.reshape(len(x), -1) if layout == "flat" else x
    if day_of_week and layout == "flat":
        x = np.concatenate([x, dow], axis=1)
    return {"x": x, "y": y, "train": train_day[days], "days": days, "mean": mean, "sd": sd}


def load_nyse(spec, seed: int, data_dir=None) -> Dataset:
    rows, source = read_csv("NYSE.csv", data_dir)
    a = nyse_arrays(rows, spec.lags, spec.day_of_week, spec.layout, source)
    x, y, train = a["x"].astype(np.float32), a["y"].astype(np.float32), a["train"]
    info = nyse_info(spec)
    if x.shape[1:] != info.input_shape:
        raise DataError(f"{source}: the lagged inputs have shape {x.shape[1:]}, not {info.input_shape}")
    meta = {"source": source, "lags": spec.lags, "layout": spec.layout}
    if spec.validation_order == "random":
        return make_dataset("nyse", info, (x[train], y[train]), (x[~train], y[~train]), spec, seed, **meta)
    # Chronological: the validation days are the last training days, as the test days follow the
    # training days. (A random draw puts validation days between training days whose lag windows
    # overlap theirs, and flatters every model.)
    x_tr, y_tr = x[train], y[train]
    if spec.train_subset is not None and spec.train_subset < len(x_tr):
        x_tr, y_tr = x_tr[-spec.train_subset:], y_tr[-spec.train_subset:]
    n_val = int(round(len(x_tr) * spec.validation_split))
    cut = len(x_tr) - n_val
    return Dataset("nyse", info, x_tr[:cut], y_tr[:cut], x_tr[cut:], y_tr[cut:], x[~train], y[~train], meta=meta)


def data_file(name: str) -> Path:
    """The packaged copy of an ISLP file (for scripts and tests)."""
    return Path(str(importlib.resources.files("nnx.data") / "files" / name))


class HittersSpec(DataBase):
    """ISLP's Hitters: the 263 players with a salary; regression of Salary on 19 predictors."""

    name: Literal["hitters"]
    test_size: float = Field(1 / 3, gt=0, lt=1, description="fraction held out as the test set")
    split_seed: int = Field(1, description="random_state of the train/test split (the ISLP lab's 1)")
    standardize: bool = Field(True, description="scale predictors with the training part's mean and sd")


def hitters_info(spec) -> DataInfo:
    return DataInfo(input_shape=(len(HITTERS_COLUMNS),), task="regression")


class NYSESpec(DataBase):
    """ISLP's NYSE: predict today's log_volume from the previous `lags` days of three series."""

    name: Literal["nyse"]
    lags: int = Field(5, ge=1, le=100, description="previous days in each input")
    day_of_week: bool = Field(False, description="add the target day's weekday as 5 indicators")
    layout: Literal["flat", "sequence"] = Field(
        "flat", description="flat: (N, lags*3 [+5]); sequence: (N, lags, 3 [+5]), oldest day first")
    validation_order: Literal["chronological", "random"] = Field(
        "chronological", description="validation days: the last training days, or a random draw of them")


def nyse_info(spec) -> DataInfo:
    per_day = len(NYSE_SERIES) + len(WEEKDAYS) * spec.day_of_week
    shape = (spec.lags, per_day) if spec.layout == "sequence" else (spec.lags * len(NYSE_SERIES) + len(WEEKDAYS) * spec.day_of_week,)
    return DataInfo(input_shape=shape, task="regression")


def hitters_preprocessing(spec, dataset) -> dict:
    """Hitters.csv's columns (League == "N" an indicator, ...), standardized with the training
    part's mean and sd, as the loader did (recomputed from the same rows and split)."""
    from .preprocessing import features_record

    source = dataset.meta["source"]  # the file the loader read: a --data-dir copy, or the package's
    text = (importlib.resources.files("nnx.data") / "files" / "Hitters.csv").read_text(encoding="utf-8") \
        if source.startswith("package:") else Path(source).read_text(encoding="utf-8")
    x, y = hitters_design(_parse(text, source), source)
    x_tr = hitters_split(x, y, spec.test_size, spec.split_seed, scale=False)[0]
    mean, sd = (x_tr.mean(axis=0), x_tr.std(axis=0)) if spec.standardize else (None, None)
    levels = {f"{name}[{level}]": (name, level) for name, level in HITTERS_FACTORS.items()}
    return {**features_record(HITTERS_COLUMNS, mean, sd, levels), "target": "Salary"}


def nyse_preprocessing(spec, dataset) -> dict:
    return {"kind": "series", "lags": spec.lags, "layout": spec.layout, "day_of_week": spec.day_of_week,
            "target": "log_volume (standardized by the training days)"}


HITTERS = REGISTRY.register(DataFamily(HittersSpec, hitters_info, load_hitters, preprocessing=hitters_preprocessing))
NYSE = REGISTRY.register(DataFamily(NYSESpec, nyse_info, load_nyse, preprocessing=nyse_preprocessing))
