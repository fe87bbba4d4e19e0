"""IMDB Large Movie Review Dataset (Maas et al. 2011): 25,000 + 25,000 reviews, binary sentiment.

Three source forms, looked for in this order in every data folder (`--data-dir`, `$NNX_DATA_DIR`,
the user cache):

1. `imdb/train.jsonl.gz` + `imdb/test.jsonl.gz`: JSON lines with `label` (0 negative, 1 positive)
   and `text` (checked against their sha256);
2. an extracted `aclImdb/` folder (or `imdb/aclImdb/`): `{train,test}/{neg,pos}/<id>_<rating>.txt`;
3. the canonical `aclImdb_v1.tar.gz` archive (or `imdb/aclImdb_v1.tar.gz`), checked against its
   sha256 and downloaded into the user cache when found nowhere (unless NNX_NO_DOWNLOAD is set).

The processed arrays (vocabulary built from the training split only) are cached in the user cache
under `imdb/processed/`, keyed by a hash of the preprocessing settings and the source checksums,
so a second run skips tokenization. The settings, the vocabulary size and the cache key are
recorded in `Dataset.meta`.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os
import re
import tarfile
import time
import zlib
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from ..errors import DataError
from . import text
from .base import REGISTRY, DataBase, DataFamily, DataInfo, Dataset, make_dataset
from .store import RemoteFile, cache_dir, fetch, read_arrays, search_dirs, sha256_of, write_arrays

ARCHIVE = RemoteFile(
    "imdb/aclImdb_v1.tar.gz",
    ("https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",),
    "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",
)
JSONL_SHA256 = {
    "imdb/train.jsonl.gz": "e55e309d06079745593e06ca25c2b277b708e3428b2ac84414c677226154513d",
    "imdb/test.jsonl.gz": "fa95c381230370e549a41ab5b9805e5548a8d179f9ad3f50a388afd65d0bf58d",
}
CACHE_VERSION = 1  # bump when the processing code changes what it produces

_REVIEW = re.compile(r"(?:^|/)(train|test)/(neg|pos)/(\d+)_(\d+)\.txt$")
_LABELS = {"neg": 0, "pos": 1}

Split = tuple[list[str], np.ndarray]  # texts, labels (int32)


# --------------------------------------------------------------------------------------------
# Readers: each returns {"train": (texts, labels), "test": (texts, labels)}, negatives first,
# then positives, each by ascending review id (the order of the JSON-lines files).


def read_jsonl(path: str | Path) -> Split:
    path = Path(path)
    texts, labels = [], []
    try:
        with gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    texts.append(str(record["text"]))
                    labels.append(int(record["label"]))
                except (ValueError, KeyError, TypeError) as e:
                    raise DataError(f"{path}:{line_no}: not a review record with 'text' and 'label' ({e})") from None
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read it as gzip JSON lines ({e}); delete it and get it again") from None
    return texts, _check_labels(np.asarray(labels, np.int32), path)


def read_archive(path: str | Path) -> dict[str, Split]:
    """The labeled reviews of an aclImdb tar.gz, read in one streaming pass (unsup/ is skipped)."""
    path = Path(path)
    found = []
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                match = _REVIEW.search(member.name)
                if not match or not member.isfile() or "/unsup/" in member.name:
                    continue
                data = archive.extractfile(member).read()
                found.append((*_key(match), data.decode("utf-8")))
    except (OSError, EOFError, tarfile.TarError, zlib.error) as e:
        raise DataError(f"{path}: cannot read it as a tar.gz archive ({e}); delete it and get it again") from None
    return _splits(found, path)


def read_folder(path: str | Path) -> dict[str, Split]:
    """The labeled reviews of an extracted `aclImdb/` folder."""
    path = Path(path)
    found = []
    for split in ("train", "test"):
        for polarity in ("neg", "pos"):
            folder = path / split / polarity
            if not folder.is_dir():
                continue
            for file in folder.iterdir():
                match = _REVIEW.search(f"{split}/{polarity}/{file.name}")
                if match:
                    found.append((*_key(match), file.read_text(encoding="utf-8")))
    return _splits(found, path)


def _key(match) -> tuple[str, int, int]:
    split, polarity, review_id, _rating = match.groups()
    return split, _LABELS[polarity], int(review_id)


def _splits(found: list[tuple[str, int, int, str]], source: Path) -> dict[str, Split]:
    found.sort(key=lambda r: (r[0], r[1], r[2]))
    out = {}
    for split in ("train", "test"):
        rows = [r for r in found if r[0] == split]
        if not rows:
            raise DataError(f"{source}: no {split}/pos or {split}/neg reviews (<id>_<rating>.txt) found; "
                            "is it the aclImdb data set?")
        out[split] = ([r[3] for r in rows], np.asarray([r[1] for r in rows], np.int32))
    return out


def _check_labels(labels: np.ndarray, source) -> np.ndarray:
    if labels.size and not np.isin(labels, (0, 1)).all():
        raise DataError(f"{source}: labels must be 0 (negative) or 1 (positive), found {sorted(set(labels.tolist()))}")
    return labels


# --------------------------------------------------------------------------------------------
# Finding the source


def find_source(data_dir=None) -> tuple[str, list[Path]]:
    """('jsonl' | 'folder' | 'archive', paths): the first form found, folder by folder in the
    search order (--data-dir before $NNX_DATA_DIR before the cache)."""
    dirs = search_dirs(data_dir)
    for d in dirs:
        files = [d / p for p in JSONL_SHA256]
        if all(f.is_file() for f in files):
            return "jsonl", files
        for folder in (d / "aclImdb", d / "imdb" / "aclImdb"):
            if (folder / "train").is_dir() and (folder / "test").is_dir():
                return "folder", [folder]
        for archive in (d / "aclImdb_v1.tar.gz", d / ARCHIVE.path):
            if archive.is_file():
                return "archive", [archive]
    if os.environ.get("NNX_NO_DOWNLOAD", "") not in ("", "0"):
        raise DataError("missing IMDB data: found none of imdb/train.jsonl.gz + imdb/test.jsonl.gz, aclImdb/, "
                        f"aclImdb_v1.tar.gz (downloads are off: NNX_NO_DOWNLOAD); searched "
                        f"{', '.join(str(d) for d in dirs)}; put one there or pass --data-dir DIR")
    return "archive", fetch([ARCHIVE], data_dir)


def _fingerprint(kind: str, paths: list[Path]) -> list[str]:
    """What identifies the source's content: sha256 of files, a listing digest for a folder."""
    if kind == "jsonl":
        sums = [sha256_of(p) for p in paths]
        for p, rel, actual in zip(paths, JSONL_SHA256, sums, strict=True):
            if actual != JSONL_SHA256[rel]:
                raise DataError(f"{p}: checksum mismatch (sha256 {actual[:16]}..., expected {JSONL_SHA256[rel]}); "
                                "the file is corrupted or not the published one: replace it")
        return sums
    if kind == "archive":
        actual = sha256_of(paths[0])
        if actual != ARCHIVE.sha256:
            raise DataError(f"{paths[0]}: checksum mismatch (sha256 {actual[:16]}..., expected {ARCHIVE.sha256}); "
                            "the archive is corrupted or truncated: delete it and download it again")
        return [actual]
    digest = hashlib.sha256()
    for file in sorted(paths[0].glob("*/*/*.txt")):
        stat = file.stat()
        digest.update(f"{file.relative_to(paths[0])}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return [digest.hexdigest()]


def read_source(kind: str, paths: list[Path]) -> dict[str, Split]:
    if kind == "jsonl":
        return {"train": read_jsonl(paths[0]), "test": read_jsonl(paths[1])}
    if kind == "archive":
        return read_archive(paths[0])
    return read_folder(paths[0])


# --------------------------------------------------------------------------------------------
# Processing and its cache


def settings(spec) -> dict:
    """The preprocessing settings that change the arrays (and so the cache key)."""
    keys = ["representation", "num_words", "lowercase", "strip_html", "strip_punctuation", "bigrams"]
    if spec.representation == "sequence":
        keys.append("maxlen")
    return {k: getattr(spec, k) for k in keys}


def process(splits: dict[str, Split], spec) -> dict[str, np.ndarray]:
    """Tokenize, build the vocabulary from the training split only, and encode both splits."""
    tokenize = text.Tokenizer(spec.lowercase, spec.strip_html, spec.strip_punctuation, spec.bigrams)
    tokens = {name: [tokenize(t) for t in texts] for name, (texts, _) in splits.items()}
    vocab = text.Vocabulary.build(tokens["train"], spec.num_words)
    ids = {name: [vocab.encode(doc) for doc in docs] for name, docs in tokens.items()}
    if spec.representation == "sequence":
        x = {name: text.pad_sequences(docs, spec.maxlen) for name, docs in ids.items()}
    else:
        width = max(len(set(d) - {text.PAD, text.OOV}) for docs in ids.values() for d in docs)
        x = {name: text.bag_of_words(docs, width) for name, docs in ids.items()}
    lengths = np.asarray([len(d) for d in ids["train"]])
    oov = sum(d.count(text.OOV) for d in ids["train"])
    return {
        "x_train": x["train"], "y_train": splits["train"][1], "x_test": x["test"], "y_test": splits["test"][1],
        "words": np.asarray(vocab.words, dtype=str),
        "stats": np.asarray([lengths.mean(), np.median(lengths), (lengths > spec.maxlen).mean(),
                             oov / max(lengths.sum(), 1)], np.float64),
    }


def text_preprocessing(spec, vocab_size: int, width: int) -> dict:
    """The text settings and conventions, as recorded in `Dataset.meta["preprocessing"]` (also by
    the table loader's text columns)."""
    return {
        **settings(spec),
        "vocab_size": vocab_size, "pad_id": text.PAD, "oov_id": text.OOV, "first_word_id": text.RESERVED,
        "vocabulary": "most frequent tokens of the training split; ties alphabetical",
        "padding": "front (sequence: last maxlen words kept)" if spec.representation == "sequence"
                   else "end (bag of words: distinct in-vocabulary ids, OOV dropped)",
        "width": width,
    }


def load_imdb(spec, seed: int, data_dir=None) -> Dataset:
    kind, paths = find_source(data_dir)
    checksums = _fingerprint(kind, paths)
    key_data = {"version": CACHE_VERSION, "settings": settings(spec), "source": checksums}
    key = hashlib.sha256(json.dumps(key_data, sort_keys=True).encode()).hexdigest()[:20]
    cache_file = cache_dir() / "imdb" / "processed" / f"{key}.npz"
    started = time.perf_counter()
    arrays = read_arrays(cache_file)
    hit = arrays is not None
    if arrays is None:
        arrays = process(read_source(kind, paths), spec)
        write_arrays(cache_file, arrays)
    seconds = time.perf_counter() - started

    x_train, x_test = arrays["x_train"], arrays["x_test"]
    info = imdb_info(spec)
    vocab_size = info.vocab_size  # ids run below len(words) + RESERVED, which is at most this
    if spec.representation == "bow":  # a review's distinct ids: the width is the data's longest review
        info = dataclasses.replace(info, input_shape=tuple(x_train.shape[1:]))
    mean_len, median_len, truncated, oov_rate = (float(v) for v in arrays["stats"])
    meta = {
        "classes": ["negative", "positive"],
        "preprocessing": text_preprocessing(spec, vocab_size, int(x_train.shape[1])),
        "corpus": {"train_tokens_mean": round(mean_len, 1), "train_tokens_median": median_len,
                   "train_longer_than_maxlen": round(truncated, 4), "train_oov_rate": round(oov_rate, 4),
                   "top_words": [str(w) for w in arrays["words"][:10]]},
        "source": {"kind": kind, "paths": [str(p) for p in paths], "fingerprint": checksums},
        "cache": {"file": str(cache_file), "hit": hit, "seconds": round(seconds, 2)},
    }
    dataset = make_dataset("imdb", info, (x_train, arrays["y_train"]), (x_test, arrays["y_test"]), spec, seed, **meta)
    dataset.vocabulary = [str(w) for w in arrays["words"]]
    return dataset


class ImdbSpec(DataBase):
    """IMDB movie reviews (binary sentiment): a bag of words or padded word-id sequences."""

    name: Literal["imdb"]
    representation: Literal["bow", "sequence"] = Field(
        "bow", description="bow: distinct word ids per review; sequence: the last maxlen ids, front-padded")
    num_words: int = Field(10000, ge=1, description="vocabulary: the most frequent training words")
    maxlen: int = Field(500, ge=1, description="sequence: keep the last maxlen words")
    bigrams: bool = Field(False, description="bow: word pairs compete with words for the vocabulary")
    lowercase: bool = True
    strip_html: bool = Field(True, description="remove <br /> and other markup")
    strip_punctuation: bool = Field(True, description="words are runs of letters/digits (and inner ')")

    @model_validator(mode="after")
    def _bigrams_need_bow(self):
        if self.bigrams and self.representation != "bow":
            raise ValueError("bigrams apply to representation: bow only; set bigrams: false for sequences")
        return self


def imdb_info(spec) -> DataInfo:
    # Word ids: a sequence of maxlen ids; for a bag of words the loader sets the width it finds
    # (a model of a bag of words depends on the vocabulary, not on the width).
    return DataInfo(input_shape=(spec.maxlen,), task="binary", num_classes=2,
                    vocab_size=spec.num_words + text.RESERVED)


def imdb_preprocessing(spec, dataset) -> dict:
    """The tokenizer settings, the vocabulary and the width a review is encoded to."""
    return {"kind": "text", **dataset.meta["preprocessing"], "maxlen": spec.maxlen, "words": dataset.vocabulary}


FAMILY = REGISTRY.register(DataFamily(ImdbSpec, imdb_info, load_imdb, train_examples=lambda spec: 25_000,
                                      preprocessing=imdb_preprocessing))
