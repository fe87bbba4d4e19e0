"""The preprocessing record: what a new input must go through to look like a run's training data.

Written at training time to the run folder's `preprocessing.json` by each data family's
`DataFamily.preprocessing(spec, dataset)` hook, and applied by `nnx predict`, which never guesses.
Every record has `version`, `kind`, `data` (the data set's name), `task`, `classes` (names, or
None for a regression) and `input_shape`; the rest depends on the kind:

    image     image_size [H, W], channels, color (grayscale | rgb), resize (stretch | crop | pad),
              resize_rule (in words), scale (pixels are divided by it): MNIST, Fashion-MNIST,
              CIFAR, digits, image folders. Another size is resized by `resize`, colour is
              converted to the model's channels (nnx/data/image_folder.py's decode_image).
    table     a table's fitted preprocessing (nnx/data/table.py: columns, standardization means
              and sds, one-hot categories, target; or a text column's vocabulary)
    text      a text's tokenizer settings and vocabulary (`words`, ids from 2 on): IMDB
    features  `columns`: each model input is a file column (or `column == level`, an indicator),
              then (value - mean) / sd: Hitters, the synthetic blobs
    series    a time series (NYSE): a day's input is built from the days before it, so a run
              predicts its own splits only (`--split`)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError

RECORD_FILE = "preprocessing.json"
VERSION = 1
KINDS = ("image", "table", "text", "features", "series")
PIXEL_SCALE = 255.0  # every image family: uint8 pixels / 255 -> float32 in [0, 1] (base.unit_pixels)


def record(spec, dataset) -> dict | None:
    """The record of a loaded data set (None when its family has no hook): the hook's fields and
    the common ones."""
    from . import family

    hook = family(spec).preprocessing
    if hook is None:
        return None
    info = dataset.info
    fields = hook(spec, dataset)
    assert fields.get("kind") in KINDS, fields.get("kind")
    classes = fields.pop("classes", None) or dataset.meta.get("classes")
    if classes is None and info.task != "regression":
        classes = [str(c) for c in range(info.num_classes or 2)]
    return {"version": VERSION, "kind": fields.pop("kind"), "data": dataset.name, "task": info.task,
            "classes": None if info.task == "regression" else [str(c) for c in classes],
            "input_shape": list(info.input_shape), **fields}


# --------------------------------------------------------------------------------------------
# Records of the built-in kinds (the families' hooks call these)


def image_record(image_size, color: str, resize: str = "stretch", note: str | None = None, **extra) -> dict:
    from .image_folder import RESIZE_RULES

    fields = {"kind": "image", "image_size": [int(image_size[0]), int(image_size[1])],
              "channels": 1 if color == "grayscale" else 3, "color": color, "resize": resize,
              "resize_rule": RESIZE_RULES[resize], "scale": PIXEL_SCALE, **extra}
    if note:
        fields["note"] = note
    return fields


def features_record(names: list[str], mean=None, sd=None, levels: dict | None = None) -> dict:
    """Columns read from a table, each standardized: `levels` maps an indicator's name
    (League[N]) to (its column, the level that gives 1)."""
    mean = np.zeros(len(names)) if mean is None else np.asarray(mean, np.float64)
    sd = np.ones(len(names)) if sd is None else np.asarray(sd, np.float64)
    columns = []
    for name, m, s in zip(names, mean, sd, strict=True):
        entry = {"name": name, "column": name, "mean": float(m), "sd": float(s) if s > 0 else 1.0}
        if levels and name in levels:
            entry["column"], entry["level"] = levels[name]
        columns.append(entry)
    return {"kind": "features", "columns": columns}


# --------------------------------------------------------------------------------------------
# Applying a record to new inputs


def image_array(source, rec: dict, name: str | None = None) -> tuple[np.ndarray, str | None]:
    """One image file as the model saw its training images: float32 (H, W, C) in [0, 1], and a
    note when it had to be changed to get there (resized, colour converted). A file that is not a
    readable image is a DataError naming it."""
    from PIL import Image

    from .image_folder import BadImage, decode_image

    name = name or str(source)
    height, width = rec["image_size"]
    try:
        with Image.open(source) as img:  # the header only: the size and mode, for the note
            size, mode = img.size, img.mode
    except Exception:  # noqa: BLE001 - decode_image below says what is wrong with it
        size, mode = None, None
    try:
        pixels = decode_image(source, (height, width), rec["color"], rec["resize"])
    except BadImage as e:
        raise DataError(f"{name}: {e}; give PNG, JPEG, BMP, GIF or WebP images") from None
    changes = []
    if size is not None and size != (width, height):
        changes.append(f"{size[0]}x{size[1]} resized to {width}x{height} ({rec['resize']}: {rec['resize_rule']})")
    if rec["color"] == "grayscale" and mode not in (None, "L", "1", "I;16", "I;16B", "I;16L", "I", "F", "LA"):
        changes.append("colour converted to grayscale (luma)")
    elif rec["color"] == "rgb" and mode in ("L", "1", "LA", "I;16", "I"):
        changes.append("gray replicated to 3 channels")
    scaled = pixels.astype(np.float32)
    scaled /= np.float32(rec["scale"])
    return scaled, (f"{name}: " + "; ".join(changes)) if changes else None


def table_array(rec: dict, frame, source: str) -> np.ndarray:
    """The model inputs of a table's rows by a `table` or `features` record; a missing column or
    an unknown category is a DataError naming it."""
    if rec["kind"] == "table":
        from .table import transform, transform_text

        if rec.get("text"):
            column = rec["text"]
            if column not in frame.columns:
                raise DataError(f"{source}: no column '{column}' (the text column of the training data); "
                                "name it so, or give the texts with --text")
            texts = ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
                     for v in frame[column].to_numpy(object)]
            _check_texts(texts, source)
            return transform_text(rec, texts)
        return transform(rec, frame, source)
    return _features(rec, frame, source)


def _features(rec: dict, frame, source: str) -> np.ndarray:
    import pandas as pd

    from .table import _did_you_mean

    out = np.empty((len(frame), len(rec["columns"])), np.float64)
    for j, c in enumerate(rec["columns"]):
        column = c["column"]
        if column not in frame.columns:
            raise DataError(f"{source}: no column '{column}' (an input of the training data)"
                            + _did_you_mean(column, frame.columns))
        col = frame[column]
        if "level" in c:
            values = (col.astype(str).to_numpy() == str(c["level"])).astype(np.float64)
        else:
            values = pd.to_numeric(col, errors="coerce").to_numpy(np.float64, na_value=np.nan)
            bad = ~np.isfinite(values)
            if bad.any():
                i = int(np.argmax(bad))
                raise DataError(f"{source}: column '{column}' needs a number in every row; row {i + 1} has "
                                f"{col.iloc[i]!r}")
        out[:, j] = (values - c["mean"]) / c["sd"]
    return out.astype(np.float32)


def text_array(rec: dict, texts: list[str], source: str = "--text") -> np.ndarray:
    """Word ids of reviews by a `text` (or a table's text) record; an empty review is refused."""
    from .table import transform_text

    _check_texts(texts, source)
    return transform_text(rec, texts)


def _check_texts(texts: list[str], source: str) -> None:
    if not texts:
        raise DataError(f"{source}: no text; give one review per line, or --text \"...\"")
    for i, t in enumerate(texts):
        if not t.strip():
            where = f"line {i + 1}" if source != "--text" else f"text {i + 1}"
            raise DataError(f"{source}: {where} is an empty review; a sentiment needs words: remove it or fill it in")


def read_record(path: Path) -> dict:
    """A run folder's preprocessing.json, checked for what predict reads."""
    import json

    file = Path(path) / RECORD_FILE
    try:
        rec = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise DataError(f"{file}: unreadable ({type(e).__name__}); train the run again") from None
    if not isinstance(rec, dict) or rec.get("kind") not in KINDS or not isinstance(rec.get("version"), int):
        raise DataError(f"{file}: not a preprocessing record this nnx reads; train the run again")
    if rec["version"] > VERSION:
        raise DataError(f"{file}: written by a newer nnx (record version {rec['version']}); upgrade nnx")
    return rec
