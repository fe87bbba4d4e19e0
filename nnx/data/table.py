"""Your own table: a CSV, TSV or Parquet file, one row per example, one column to predict.

    data: {name: table, path: Default.csv, target: default}

Read with pandas (the format from the file's extension). The test part is `test_path` (another
file with the same columns) or a random `test_split` of the rows, drawn with `split_seed` (fixed,
so runs with different seeds share one test set). Everything below is fitted on the training
part only (the validation split included: it is carved out of the training part afterwards):

- **task** (`task: auto`): a target of strings or booleans, or of at most `max_levels` distinct
  integers, is a classification (binary when it has 2 classes); any other numeric target is a
  regression. Classes are the training part's values, sorted; `Dataset.meta["classes"]` keeps
  their names, labels are their indices.
- **categorical** (`categorical: auto`): string and boolean columns, and integer columns (as the
  file stores them: `3`, not `3.0`; empty cells allowed) with at most `max_levels` distinct values
  in the training part, are one-hot encoded, one 0/1
  column per training category, in sorted order (`student[No]`, `student[Yes]`); a category the
  training part lacks is an error (`unknown_category: error`) or an all-zero row (`ignore`). A
  list names the categorical columns; every other feature must then be numeric.
- **numeric** columns are standardized with the training part's mean and sd (ddof 0; sd 1 for a
  constant column).
- **missing** values (pandas' empty, NA, NaN, null, ...): `error` names the column and first row;
  `drop` drops those rows (before the split); `mean` fills a numeric feature with the training
  mean and a categorical one with its most frequent training category (a missing target is an
  error unless `drop`).
- **text** (`text: review`): the features are that column only, through IMDB's tokenizer,
  vocabulary (from the training part) and bag-of-words or sequence representation (`nnx/data/imdb.py`).

What the fit found is recorded as plain JSON in `Dataset.meta["preprocessing"]` (it lands in the
run's summary.json), and `transform(preprocessing, frame)` applies it to a new frame.
"""

from __future__ import annotations

import dataclasses
import json
from collections import OrderedDict
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from ..errors import DataError
from . import text
from .base import REGISTRY, DataBase, DataFamily, DataInfo, Dataset, make_dataset
from .imdb import ImdbSpec, process, text_preprocessing
from .store import search_dirs

FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet", ".pq": "parquet"}
COMPRESSED = (".gz", ".bz2", ".zip", ".xz")  # pandas reads these CSV/TSV files as they are
TEXT_KEYS = ("representation", "num_words", "maxlen", "bigrams", "lowercase", "strip_html", "strip_punctuation")
PREPROCESSING_VERSION = 1


def file_format(path: Path) -> str | None:
    """'csv', 'tsv' or 'parquet' from the extension (`x.csv.gz` is a CSV), or None."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSED:
        suffixes = suffixes[:-1]
    kind = FORMATS.get(suffixes[-1]) if suffixes else None
    return None if kind == "parquet" and path.suffix.lower() in COMPRESSED else kind


def _text_field(name: str):
    """The IMDB loader's declaration of a text setting, reused as it is."""
    return ImdbSpec.model_fields[name]


class TableSpec(DataBase):
    """Your own table (CSV, TSV or Parquet, read with pandas): one column to predict from the others."""

    name: Literal["table"]
    path: Path = Field(description="the CSV, TSV or Parquet file (by extension); relative to the experiment "
                                   "file, else looked for in the data folders")
    target: str = Field(description="the column to predict")
    features: Literal["all"] | list[str] = Field("all", description="the input columns; all: every other column")
    categorical: Literal["auto"] | list[str] = Field(
        "auto", description="one-hot encoded columns; auto: strings, booleans, and integers with at most "
                            "max_levels distinct values")
    max_levels: int = Field(10, ge=2, description="auto rules: an integer column with at most this many distinct "
                                                  "values is categorical (a target: classes)")
    task: Literal["auto", "classification", "binary", "regression"] = Field(
        "auto", description="auto: strings, booleans or few distinct integers -> classification (binary if 2 "
                            "classes); other numbers -> regression")
    test_split: float = Field(0.2, gt=0, lt=1, description="fraction of the rows held out as the test set "
                                                           "(unused with test_path)")
    test_path: Path | None = Field(None, description="a file with the same columns as the test set, instead "
                                                     "of test_split")
    split_seed: int = Field(0, ge=0, description="draws the test split; fixed, so every seed shares one test set")
    missing: Literal["error", "drop", "mean"] = Field(
        "error", description="a missing value: error, drop its row, or fill with the training mean (mode)")
    unknown_category: Literal["error", "ignore"] = Field(
        "error", description="a category the training part lacks: error, or ignore (an all-zero one-hot row)")
    text: str | None = Field(None, description="a text column: the only feature, tokenized as IMDB's reviews")
    representation: Literal["bow", "sequence"] = _text_field("representation")
    num_words: int = _text_field("num_words")
    maxlen: int = _text_field("maxlen")
    bigrams: bool = _text_field("bigrams")
    lowercase: bool = _text_field("lowercase")
    strip_html: bool = _text_field("strip_html")
    strip_punctuation: bool = _text_field("strip_punctuation")

    @field_validator("path", "test_path")
    @classmethod
    def _known_format(cls, value: Path | None):
        if value is not None and file_format(value) is None:
            raise ValueError(f"'{value}' is not a .csv, .tsv or .parquet file (by its extension); "
                             "convert it, or rename it if it is one")
        return value

    @model_validator(mode="after")
    def _consistent(self):
        if self.bigrams and self.representation != "bow":
            raise ValueError("bigrams apply to representation: bow only; set bigrams: false for sequences")
        if self.text is not None and (self.features != "all" or self.categorical != "auto"):
            raise ValueError("with text: the text column is the only feature; leave features and categorical out")
        if isinstance(self.features, list):
            if not self.features:
                raise ValueError("features: give at least one column, or all")
            if self.target in self.features:
                raise ValueError(f"features: '{self.target}' is the target; it cannot also be a feature")
            if isinstance(self.categorical, list) and set(self.categorical) - set(self.features):
                extra = sorted(set(self.categorical) - set(self.features))
                raise ValueError(f"categorical: {', '.join(extra)} not among the features")
        return self


# --------------------------------------------------------------------------------------------
# Reading


def locate(path: Path, key: str, data_dir=None) -> Path:
    """The file: as given (an experiment's relative path is already resolved), else a relative
    path under the data folders."""
    if path.is_file():
        return path
    dirs = search_dirs(data_dir)
    if not path.is_absolute():
        for folder in dirs:
            if (folder / path).is_file():
                return folder / path
    if path.is_dir():
        raise DataError(f"{path}: is a folder; data.{key} must be a CSV, TSV or Parquet file")
    raise DataError(f"{path}: no such file (data.{key}); a relative path is looked for beside the experiment file, "
                    f"then in the data folders ({', '.join(str(d) for d in dirs)}); fix data.{key} or put the file "
                    "there")


_FRAMES: OrderedDict = OrderedDict()  # (path, size, mtime) -> DataFrame, the last few files read
_PREPARED: OrderedDict = OrderedDict()  # (settings, files) -> _Prepared
_KEEP = 4


def _remember(cache: OrderedDict, key, make):
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    value = cache[key] = make()
    while len(cache) > _KEEP:
        cache.popitem(last=False)
    return value


def _stamp(path: Path) -> tuple:
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def read_table(path: Path):
    """The file as a pandas DataFrame (read once per process while it is unchanged; do not modify it)."""
    return _remember(_FRAMES, _stamp(path), lambda: _read(path))


def _read(path: Path):
    import pandas as pd

    kind = file_format(path)
    try:
        if kind == "parquet":
            frame = pd.read_parquet(path, dtype_backend="numpy_nullable")
        else:
            frame = pd.read_csv(path, sep="\t" if kind == "tsv" else ",", low_memory=False,
                                dtype_backend="numpy_nullable")
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty; a table needs a header line and at least one row") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start}); save it as UTF-8 {kind.upper()}") \
            from None
    except (pd.errors.ParserError, ValueError, OSError) as e:  # pyarrow's errors are ValueError and OSError
        reason = " ".join(str(e).split()) or type(e).__name__
        raise DataError(f"{path}: cannot read it as {kind.upper()} ({reason[:300]}); check that it is one") from None
    frame.columns = [str(c) for c in frame.columns]
    if len(frame) == 0:
        raise DataError(f"{path}: no rows, only the header ({', '.join(frame.columns)}); the table is empty")
    return frame


def _row(source: Path, i: int) -> str:
    """Row i (0-based, as read) of a file, as its user finds it."""
    return f"row {i + 1}" + (f" (line {i + 2})" if file_format(source) != "parquet" else "")


def _did_you_mean(name: str, options) -> str:
    from ..config.messages import did_you_mean

    return did_you_mean(name, list(options))


def _check_columns(frame, names, source: Path, key_of) -> None:
    for name in names:
        if name not in frame.columns:
            shown = ", ".join(frame.columns[:30]) + (", ..." if len(frame.columns) > 30 else "")
            raise DataError(f"{source}: no column '{name}' (data.{key_of(name)}); its columns are {shown}"
                            + _did_you_mean(name, frame.columns))


# --------------------------------------------------------------------------------------------
# Kinds of columns


def _value(v):
    """A cell as plain JSON: str, bool, int (a whole float too) or float."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _sort_key(v):
    return (1, v) if isinstance(v, str) else (0, v)


def _bad_number(col, source: Path, column: str, hint: str) -> None:
    """A column of numbers with a few words in it: name the first."""
    import pandas as pd

    present = col.dropna()
    numbers = pd.to_numeric(present, errors="coerce")
    bad = numbers.isna()
    if len(present) and bad.any() and not bad.all() and bad.mean() <= 0.5:
        i = bad.idxmax()
        raise DataError(f"{source}: column '{column}' holds numbers but {_row(source, i)} has {present.loc[i]!r}; "
                        f"fix the value{hint}")


def kind_of(col, source: Path, column: str, check: bool = True) -> str:
    """'bool', 'text', 'integer' or 'float'. A text column that is mostly numbers is an error (with
    `check`): a typo in a numeric column, not a column of categories."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(col):
        return "bool"
    if pd.api.types.is_numeric_dtype(col):  # read with nullable dtypes: integers with gaps stay integers
        if check and pd.api.types.is_float_dtype(col):
            infinite = np.isinf(col.to_numpy(np.float64, na_value=np.nan))
            if infinite.any():  # no mean, sd or network takes it: found here, before any is computed
                i = col.index[int(np.argmax(infinite))]
                raise DataError(f"{source}: column '{column}' has an infinite value ({col.loc[i]}) at "
                                f"{_row(source, i)}; fix the value, or leave the cell empty (data.missing)")
        return "integer" if pd.api.types.is_integer_dtype(col) else "float"
    present = col.dropna()
    if len(present) and all(isinstance(v, (bool, np.bool_)) for v in present):
        return "bool"
    if check:
        _bad_number(col, source, column, f", or list '{column}' in data.categorical to treat it as categories")
        numbers = pd.to_numeric(present, errors="coerce")
        if len(present) and numbers.notna().all():  # numbers written as text (a part of a column that has a typo)
            return kind_of(numbers, source, column)
    return "text"


# --------------------------------------------------------------------------------------------
# Fit and transform: pure functions of frames and plain dicts (nnx predict reuses transform)


def fit(spec, train, features: list[str], source: Path, kinds: dict[str, str] | None = None) -> dict:
    """The preprocessing of `features` fitted on the training frame: a plain JSON dict. `kinds`:
    each column's kind_of, if already found on the whole file."""
    import pandas as pd

    out = []
    for column in features:
        col = train[column]
        kind = (kinds or {}).get(column) or kind_of(col, source, column, check=_checked(spec, column))
        if isinstance(spec.categorical, list):
            categorical = column in spec.categorical
            if not categorical and kind == "text":
                raise DataError(f"{source}: column '{column}' holds text, not numbers; list it in data.categorical "
                                "or leave it out of data.features")
        else:
            categorical = kind in ("bool", "text") or (kind == "integer" and col.nunique() <= spec.max_levels)
        present = col.dropna()
        if categorical:
            values = [_value(v) for v in present]
            categories = sorted(set(values), key=_sort_key)
            entry = {"column": column, "kind": "categorical", "categories": categories}
            if spec.missing == "mean":
                counts = {}
                for v in values:
                    counts[v] = counts.get(v, 0) + 1
                entry["fill"] = min(categories, key=lambda c: (-counts[c], _sort_key(c))) if categories else None
        else:
            numbers = pd.to_numeric(present).to_numpy(np.float64, na_value=np.nan)
            mean = float(numbers.mean()) if len(numbers) else 0.0
            sd = float(numbers.std()) if len(numbers) else 0.0
            entry = {"column": column, "kind": "numeric", "mean": mean, "sd": sd if sd > 0 else 1.0}
        out.append(entry)
    return {"features": out, "missing": spec.missing, "unknown_category": spec.unknown_category,
            "columns": output_columns(out)}


def _checked(spec, column: str) -> bool:
    """Whether a column of text that is mostly numbers is refused: not when it is listed categorical."""
    return not (isinstance(spec.categorical, list) and column in spec.categorical)


def output_columns(features: list[dict]) -> list[str]:
    """The model's input columns, in order: a numeric column, or column[category] per category."""
    names = []
    for f in features:
        names += [f"{f['column']}[{c}]" for c in f["categories"]] if f["kind"] == "categorical" else [f["column"]]
    return names


def transform(preprocessing: dict, frame, source: Path | str = "table") -> np.ndarray:
    """The (n, columns) float32 inputs of a frame, by a fitted preprocessing (missing: mean fills;
    any other rule refuses a missing value, as `drop` removed those rows before the fit)."""
    import pandas as pd

    source = Path(source)
    blocks = []
    for f in preprocessing["features"]:
        column = f["column"]
        if column not in frame.columns:
            raise DataError(f"{source}: no column '{column}' (a feature of the training data)"
                            + _did_you_mean(column, frame.columns))
        col = frame[column]
        missing = col.isna().to_numpy()
        if missing.any() and preprocessing["missing"] != "mean":
            i = frame.index[int(np.argmax(missing))]
            raise DataError(f"{source}: column '{column}' has no value at {_row(source, i)}; fill it in, or set "
                            "data.missing: drop (drop such rows) or mean (fill with the training mean)")
        if f["kind"] == "numeric":
            numbers = pd.to_numeric(col, errors="coerce") if not pd.api.types.is_numeric_dtype(col) else col
            numbers = numbers.to_numpy(np.float64, na_value=np.nan)
            bad = (np.isnan(numbers) & ~missing) | np.isinf(numbers)  # inf: a number no network can take
            if bad.any():
                i = int(np.argmax(bad))
                raise DataError(f"{source}: column '{column}' holds numbers but {_row(source, frame.index[i])} has "
                                f"{col.iloc[i]!r}; fix the value")
            numbers = np.where(missing, f["mean"], numbers)
            blocks.append(((numbers - f["mean"]) / f["sd"])[:, None])
        else:
            index = {c: k for k, c in enumerate(f["categories"])}
            hot = np.zeros((len(col), len(index)), np.float64)
            for r, v in enumerate(col.to_numpy(object)):
                v = f.get("fill") if missing[r] else _value(v)
                k = index.get(v)
                if k is not None:
                    hot[r, k] = 1.0
                elif preprocessing["unknown_category"] == "error" and not missing[r]:
                    shown = ", ".join(map(str, f["categories"][:20]))
                    raise DataError(f"{source}: column '{column}' has category {v!r} at {_row(source, frame.index[r])}, "
                                    f"which the training part does not have ({shown}); set data.unknown_category: "
                                    "ignore to encode it as all zeros, or fix the value")
            blocks.append(hot)
    x = np.concatenate(blocks, axis=1) if blocks else np.zeros((len(frame), 0))
    return x.astype(np.float32)


def fit_target(spec, col, source: Path) -> tuple[str, list | None]:
    """The task and, for a classification, the sorted classes of the training part's target."""
    column = spec.target
    kind = kind_of(col, source, column, check=spec.task in ("auto", "regression"))
    present = col.dropna()
    if spec.task == "regression" or (spec.task == "auto" and (
            kind == "float" or (kind == "integer" and present.nunique() > spec.max_levels))):
        if kind in ("text", "bool"):
            raise DataError(f"{source}: the target '{column}' holds {kind} values, not numbers; a regression needs "
                            "numbers (set data.task: classification, or auto)")
        return "regression", None
    classes = sorted({_value(v) for v in present}, key=_sort_key)
    if len(classes) < 2:
        raise DataError(f"{source}: the target '{column}' has one class ({classes[0]!r}) in the training part; "
                        "a classifier needs at least two: check the column, or the rows kept")
    if spec.task == "binary" and len(classes) != 2:
        raise DataError(f"{source}: data.task is binary but the target '{column}' has {len(classes)} classes in the "
                        "training part; set data.task: classification (or auto)")
    return ("binary" if len(classes) == 2 and spec.task in ("auto", "binary") else "classification"), classes


def transform_target(task: str, classes: list | None, col, source: Path | str = "table") -> np.ndarray:
    """Class indices (int32) or regression values (float32) of a target column."""
    import pandas as pd

    source = Path(source)
    if task == "regression":
        numbers = pd.to_numeric(col, errors="coerce").to_numpy(np.float64, na_value=np.nan)
        bad = (np.isnan(numbers) & col.notna().to_numpy()) | np.isinf(numbers)
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(f"{source}: the target '{col.name}' holds numbers but {_row(source, col.index[i])} has "
                            f"{col.iloc[i]!r}; fix the value")
        return numbers.astype(np.float32)
    index = {c: k for k, c in enumerate(classes)}
    labels = np.empty(len(col), np.int32)
    for r, v in enumerate(col.to_numpy(object)):
        k = index.get(_value(v))
        if k is None:
            raise DataError(f"{source}: the target '{col.name}' has class {_value(v)!r} at "
                            f"{_row(source, col.index[r])}, which the training part does not have "
                            f"({', '.join(map(str, classes[:20]))}); fix it, or drop that row")
        labels[r] = k
    return labels


def transform_text(preprocessing: dict, texts) -> np.ndarray:
    """A text column's ids by a fitted text preprocessing (its vocabulary and settings), as the
    loader encoded the training and test parts."""
    p = preprocessing
    tokenize = text.Tokenizer(p["lowercase"], p["strip_html"], p["strip_punctuation"], p["bigrams"])
    vocab = text.Vocabulary(p["words"])
    ids = [vocab.encode(tokenize(t)) for t in texts]
    if p["representation"] == "sequence":
        return text.pad_sequences(ids, p["maxlen"])
    # A bag's width is padding, not a model's shape (a bag-of-words model sums the rows of the
    # ids present): a new review with more distinct words than any training review widens it.
    longest = max((len({i for i in d if i >= text.RESERVED}) for d in ids), default=0)
    return text.bag_of_words(ids, max(p["width"], longest))


# --------------------------------------------------------------------------------------------
# The loader


@dataclasses.dataclass(frozen=True)
class _Prepared:
    info: DataInfo
    train: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    meta: dict[str, Any]


def prepare(spec, data_dir=None) -> _Prepared:
    """Read, split, fit and transform; once per process for the same settings and unchanged files
    (info and load share it)."""
    source = locate(spec.path, "path", data_dir)
    test_source = locate(spec.test_path, "test_path", data_dir) if spec.test_path is not None else None
    settings = spec.model_dump(mode="json", exclude={"validation_split", "train_subset"})
    key = (json.dumps(settings, sort_keys=True), _stamp(source), test_source and _stamp(test_source))
    return _remember(_PREPARED, key, lambda: _prepare(spec, source, test_source))


def _used(spec, frame, source: Path) -> list[str]:
    def key_of(name):
        return "target" if name == spec.target else "text" if name == spec.text else "features"

    if spec.text is not None:
        features = [spec.text]
    elif spec.features == "all":
        features = [c for c in frame.columns if c != spec.target]
    else:
        features = list(spec.features)
    _check_columns(frame, [spec.target, *features], source, key_of)
    if isinstance(spec.categorical, list):
        _check_columns(frame, spec.categorical, source, lambda name: "categorical")
    if not features:
        raise DataError(f"{source}: no column besides the target '{spec.target}'; a table needs features")
    return features


def _missing_rows(spec, frame, used: list[str], source: Path):
    """Apply the missing rule before the split: drop rows, or refuse the first missing value."""
    missing = frame[used].isna()
    if spec.missing == "drop":
        keep = ~missing.any(axis=1)
        frame = frame[keep]
        if len(frame) == 0:
            raise DataError(f"{source}: every row has a missing value in {', '.join(used)}; no row is left by "
                            "data.missing: drop")
        return frame, int((~keep).sum())
    check = used if spec.missing == "error" else [spec.target]
    rows = missing[check].any(axis=1).to_numpy()
    if rows.any():
        i = int(np.argmax(rows))
        column = next(c for c in check if missing[c].iloc[i])
        if column == spec.target:
            how = "drop (drop such rows)" if spec.missing == "mean" else \
                "drop (drop such rows) or mean (fill features with the training mean; a target is never filled)"
            raise DataError(f"{source}: the target '{column}' has no value at {_row(source, frame.index[i])}; fill "
                            f"it in, or set data.missing: {how}")
        raise DataError(f"{source}: column '{column}' has no value at {_row(source, frame.index[i])}; fill it in, or "
                        "set data.missing: drop (drop such rows) or mean (fill with the training mean)")
    return frame, 0


def _prepare(spec, source: Path, test_source: Path | None) -> _Prepared:
    frame = read_table(source)
    features = _used(spec, frame, source)
    frame, dropped = _missing_rows(spec, frame, [spec.target, *features], source)
    split: dict[str, Any]
    if test_source is not None:
        test = read_table(test_source)
        _check_columns(test, [spec.target, *features], test_source, lambda name: "test_path")
        test, test_dropped = _missing_rows(spec, test, [spec.target, *features], test_source)
        train = frame
        split = {"test_path": str(test_source), "test_dropped_missing": test_dropped}
    else:
        n = len(frame)
        n_test = int(round(n * spec.test_split))
        if n_test == 0 or n_test == n:
            raise DataError(f"{source}: data.test_split {spec.test_split:g} of {n} rows leaves "
                            f"{'no test' if n_test == 0 else 'no training'} row; use more rows, change test_split, "
                            "or give test_path")
        order = np.random.default_rng(spec.split_seed).permutation(n)
        train, test = frame.iloc[np.sort(order[n_test:])], frame.iloc[np.sort(order[:n_test])]
        split = {"test_split": spec.test_split, "split_seed": spec.split_seed}
    test_name = test_source or source
    task, classes = fit_target(spec, train[spec.target], source)
    y_train = transform_target(task, classes, train[spec.target], source)
    y_test = transform_target(task, classes, test[spec.target], test_name)
    num_classes = None if classes is None else len(classes)
    target = {"target": spec.target, "task": task, "classes": classes}
    if spec.text is not None:
        x_train, x_test, preprocessing = _text(spec, train, test, y_train, y_test, source, test_name)
        info = DataInfo(input_shape=tuple(x_train.shape[1:]), task=task, num_classes=num_classes,
                        vocab_size=spec.num_words + text.RESERVED)
    else:  # a column's kind from the whole file: a typo among numbers is found wherever it is
        kinds = {c: kind_of(frame[c], source, c, check=_checked(spec, c)) for c in features}
        preprocessing = fit(spec, train, features, source, kinds)
        x_train, x_test = transform(preprocessing, train, source), transform(preprocessing, test, test_name)
        info = DataInfo(input_shape=(x_train.shape[1],), task=task, num_classes=num_classes)
    preprocessing = {"version": PREPROCESSING_VERSION, **target, **preprocessing}
    meta = {"preprocessing": preprocessing,
            "source": {"path": str(source), "format": file_format(source), "rows": int(len(frame) + dropped),
                       "dropped_missing": dropped},
            "split": {**split, "train_rows": int(len(train)), "test_rows": int(len(test))}}
    if classes is not None:
        meta["classes"] = classes
    return _Prepared(info, (x_train, y_train), (x_test, y_test), meta)


def _text(spec, train, test, y_train, y_test, source: Path, test_source: Path):
    col = train[spec.text]
    if kind_of(col, source, spec.text, check=False) != "text":
        raise DataError(f"{source}: the text column '{spec.text}' holds {kind_of(col, source, spec.text, False)} "
                        "values, not text; name a column of text in data.text")
    import pandas as pd

    texts = {name: ["" if pd.isna(v) else str(v) for v in part[spec.text].to_numpy(object)]
             for name, part in (("train", train), ("test", test))}
    arrays = process({"train": (texts["train"], y_train), "test": (texts["test"], y_test)}, spec)
    width = int(arrays["x_train"].shape[1])
    preprocessing = {"text": spec.text, **text_preprocessing(spec, spec.num_words + text.RESERVED, width),
                     "maxlen": spec.maxlen, "words": [str(w) for w in arrays["words"]]}
    return arrays["x_train"], arrays["x_test"], preprocessing


def table_info(spec) -> DataInfo:
    """From the file: its header, target and features (read once per process, shared with the loader)."""
    return prepare(spec).info


def load_table(spec, seed: int, data_dir=None) -> Dataset:
    p = prepare(spec, data_dir)
    return make_dataset("table", p.info, p.train, p.test, spec, seed, **p.meta)


def table_preprocessing(spec, dataset) -> dict:
    """The fit recorded by the loader (columns, means and sds, categories; or a text column's vocabulary)."""
    fitted = dict(dataset.meta["preprocessing"])
    return {"kind": "table", "table_version": fitted.pop("version"), **fitted}


FAMILY = REGISTRY.register(DataFamily(TableSpec, table_info, load_table,
                                      train_examples=lambda spec: len(prepare(spec).train[0]),
                                      preprocessing=table_preprocessing))
