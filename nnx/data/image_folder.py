"""Your own images: a folder with one subfolder per class (Keras' image_dataset_from_directory,
torchvision's ImageFolder), decoded with Pillow into float32 pixels in [0, 1].

    data: {name: image_folder, path: photos/, image_size: [64, 64], color: rgb, test_path: photos_test/}

The class names are the subfolders' names, sorted; a class's index is its place in that order.
The images of a folder are ordered by file name across classes (ties by class), so an export that
names its files by their index (scripts/export_image_folder.py) is read back in its own order.
Every image is decoded by `decode_image` (one file -> uint8 HxWxC), the function a later
`nnx predict` reuses with `Dataset.meta["preprocessing"]` (see `preprocess_image`).

Large folders are decoded by a pool of threads (Pillow lets go of the GIL while it inflates, decodes
and resizes; on the project's 2-core machine threads were as fast as processes or faster, and
they need no start-up, no pickling and no re-import of the caller's main module), with a progress
bar on a terminal. The decoded arrays are
cached in the user cache under `image_folder/`, keyed by every file's relative name, size and
modification time and by the settings that change the pixels, so a second load of the same folder
decodes nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, PositiveInt, field_validator, model_validator

from ..errors import DataError
from .base import REGISTRY, DataBase, DataFamily, DataInfo, Dataset, make_dataset, unit_pixels
from .store import cache_dir, read_arrays, write_arrays

FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP")  # what Pillow is allowed to open (Image.open formats=)
CACHE_VERSION = 1        # bump when decoding or resizing changes what it produces
PARALLEL_FROM = 1000     # fewer images are decoded in this thread alone (and without a progress bar)
CHUNK = 500              # images per task sent to a worker (and per progress step)
SHOWN_SKIPPED = 20       # skipped files named in Dataset.meta (all are counted)

RESIZE_RULES = {
    "stretch": "resized to HxW, ignoring the aspect ratio",
    "crop": "the largest centered region with HxW's aspect ratio, resized to HxW (the short side fits, "
            "the long side is cut equally at both ends)",
    "pad": "resized so the long side fits HxW, centered on black (zeros); the aspect ratio is kept",
}


class ImageFolderSpec(DataBase):
    """Your own images: one subfolder per class (class names = sorted folder names), decoded with Pillow
    (PNG, JPEG, BMP, GIF, WebP) and resized to image_size; float32 pixels in [0, 1]."""

    name: Literal["image_folder"]
    path: Path = Field(description="the folder of class subfolders; relative to the experiment file")
    image_size: tuple[PositiveInt, PositiveInt] = Field(description="[height, width] of every image after resizing")
    color: Literal["rgb", "grayscale"] = Field("rgb", description="rgb: 3 channels; grayscale: 1 (luma)")
    resize: Literal["stretch", "crop", "pad"] = Field(
        "stretch", description="stretch: to HxW ignoring aspect; crop: short side fits, center cut; "
                               "pad: long side fits, centered on black")
    test_path: Path | None = Field(None, description="a folder with the same class subfolders, the test set")
    test_split: float | None = Field(None, gt=0, lt=1, description="or: hold out this fraction of each class")
    split_seed: int = Field(0, ge=0, description="the seed of test_split (fixed: the same test set every run)")
    on_bad_file: Literal["error", "skip"] = Field(
        "error", description="a file that is not a readable image: stop, or skip it (counted in the summary)")
    extensions: list[str] | None = Field(
        None, description="read only files with these extensions (others ignored); default: every file")

    @field_validator("extensions")
    @classmethod
    def _plain_extensions(cls, value):
        if value is None:
            return None
        cleaned = sorted({e.lower().lstrip(".") for e in value})
        if not cleaned or "" in cleaned:
            raise ValueError("give extensions without dots, e.g. [png, jpg], or leave the key out for every file")
        return cleaned

    @model_validator(mode="after")
    def _one_test_set(self):
        if (self.test_path is None) == (self.test_split is None):
            raise ValueError("set exactly one of test_path (a folder with the same class subfolders) and "
                             "test_split (e.g. 0.2: that fraction of each class)")
        return self


# --------------------------------------------------------------------------------------------
# One image: decode, convert, resize (pure: a path, bytes or a file in; uint8 HxWxC out)


class BadImage(Exception):
    """A file Pillow cannot read as an image of the accepted formats; the message says why."""


def decode_image(source, image_size, color: str = "rgb", resize: str = "stretch") -> np.ndarray:
    """One image file (a path, bytes or a binary file object) as uint8 pixels of shape (H, W, C).

    The first frame of an animated GIF or WebP; the EXIF orientation applied; transparency
    composited over black; 16-bit grayscale scaled to 8 bits (/257); grayscale is Pillow's "L"
    (ITU-R 601-2 luma), rgb replicates a gray image's channel. `resize` as in RESIZE_RULES, with
    Pillow's bilinear filter (antialiased when shrinking); an image already HxW is left as it is.
    Raises BadImage for a file that is not a readable PNG, JPEG, BMP, GIF or WebP image.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    try:
        with Image.open(source, formats=FORMATS) as img:
            img.load()  # decodes now: a truncated file fails here, not later
            img = ImageOps.exif_transpose(img) if img.format in ("JPEG", "WEBP") else img
            img = _resize(_convert(img, color), image_size, resize)
            pixels = np.asarray(img, dtype=np.uint8)
    except UnidentifiedImageError:
        raise BadImage("not a PNG, JPEG, BMP, GIF or WebP image") from None
    except Image.DecompressionBombError as e:
        raise BadImage(f"too large to decode safely ({e})") from None
    except Exception as e:  # noqa: BLE001 - Pillow raises many kinds on damaged files; each is one bad file
        raise BadImage(f"a damaged image, cannot decode it ({type(e).__name__}: {e})") from None
    return pixels[..., None] if pixels.ndim == 2 else pixels


def preprocess_image(source, preprocessing: dict) -> np.ndarray:
    """One new image as a model trained on an image folder saw its data: float32 (H, W, C) in [0, 1].
    `preprocessing` is the run's `Dataset.meta["preprocessing"]` (its summary.json data_meta)."""
    pixels = decode_image(source, preprocessing["image_size"], preprocessing["color"], preprocessing["resize"])
    return unit_pixels(pixels)


def _convert(img, color: str):
    from PIL import Image

    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):  # 16-bit gray (PNG): to 8 bits, not clipped
        wide = np.asarray(img, dtype=np.float64)
        img = Image.fromarray(np.clip(np.rint(wide / (257.0 if img.mode != "F" else 1.0)), 0, 255).astype(np.uint8))
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba).convert("RGB")
    target = "L" if color == "grayscale" else "RGB"
    return img if img.mode == target else img.convert(target)


def _resize(img, image_size, rule: str):
    from PIL import Image

    height, width = int(image_size[0]), int(image_size[1])
    w, h = img.size
    if (w, h) == (width, height):
        return img
    if rule == "stretch":
        return img.resize((width, height), Image.BILINEAR)
    if rule == "crop":
        if w * height > h * width:  # wider than the target: cut the left and right ends
            keep = h * width / height
            box = ((w - keep) / 2, 0, (w + keep) / 2, h)
        else:                       # taller: cut the top and the bottom
            keep = w * height / width
            box = (0, (h - keep) / 2, w, (h + keep) / 2)
        return img.resize((width, height), Image.BILINEAR, box=box)
    scale = min(width / w, height / h)
    new_w, new_h = max(1, min(width, round(w * scale))), max(1, min(height, round(h * scale)))
    canvas = Image.new(img.mode, (width, height), 0)
    canvas.paste(img if (new_w, new_h) == (w, h) else img.resize((new_w, new_h), Image.BILINEAR),
                 ((width - new_w) // 2, (height - new_h) // 2))
    return canvas


def _decode_chunk(paths: list[str], image_size, color: str, resize: str):
    """Decode several files (a worker's task): (uint8 array of the good ones in order, {index: why})."""
    channels = 1 if color == "grayscale" else 3
    out = np.zeros((len(paths), image_size[0], image_size[1], channels), np.uint8)
    bad = {}
    for i, path in enumerate(paths):
        try:
            out[i] = decode_image(path, image_size, color, resize)
        except BadImage as e:
            bad[i] = str(e)
    return (np.delete(out, list(bad), axis=0) if bad else out), bad


# --------------------------------------------------------------------------------------------
# The folder: its classes and files, found without decoding anything


@dataclass(frozen=True)
class Listing:
    """A folder's classes (sorted) and image files (relative 'class/name', by name then class)."""

    root: Path
    classes: tuple[str, ...]
    files: tuple[str, ...]
    labels: np.ndarray
    ignored: int  # files left out by `extensions`


def _key_text(what: str) -> str:
    return f"data.{what}"


_LISTINGS: dict = {}  # (root, extensions) -> (the folders' modification times, Listing): one scan a process


def scan_folder(root: Path, extensions: list[str] | None = None, what: str = "path") -> Listing:
    """List a folder of class subfolders; a DataError for every layout it cannot be read as.
    Remembered while the folder and its class folders keep their modification times (a file added,
    removed or renamed changes its folder's), so the checks and the loader list it once."""
    key = _key_text(what)
    root = Path(root)
    if not root.exists():
        raise DataError(f"{root}: no such folder ({key}); give the folder that holds one subfolder per class")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder ({key}); give the folder that holds one subfolder per class")
    top = _entries(root)
    stamp = tuple((e.name, e.stat().st_mtime_ns) for e in top if e.is_dir()) + (root.stat().st_mtime_ns,)
    remembered = _LISTINGS.get((str(root), tuple(extensions or ())))
    if remembered is not None and remembered[0] == stamp:
        return remembered[1]
    listing = _scan(root, top, extensions, key)
    _LISTINGS[(str(root), tuple(extensions or ()))] = (stamp, listing)
    return listing


def _scan(root: Path, top: list[os.DirEntry], extensions, key: str) -> Listing:
    classes, stray, ignored = [], [], 0
    for entry in top:
        if entry.is_dir():
            classes.append(entry.name)
        elif _wanted(entry.name, extensions):
            stray.append(entry.name)
        else:
            ignored += 1
    if stray:
        raise DataError(f"{root / stray[0]}: a file directly in {key}; images go in one subfolder per class "
                        f"({root}/<class>/<image>): move it into its class's folder or delete it")
    if not classes:
        raise DataError(f"{root}: no class subfolders, so no images ({key}); put each class's images in a "
                        "subfolder named after the class")
    per_class: dict[str, list[str]] = {}
    for name in classes:
        folder = root / name
        entries = _entries(folder, ordered=False)
        for entry in entries:
            if entry.is_dir():
                raise DataError(f"{folder / entry.name}: a folder inside class folder {name!r}; a class folder "
                                "holds images only: move its images up into the class folder, or make it a "
                                "class of its own next to the others")
        files = [e.name for e in entries if _wanted(e.name, extensions)]
        ignored += len(entries) - len(files)
        per_class[name] = files
    only = f" with the extensions {', '.join(extensions)}" if extensions else ""
    if not any(per_class.values()):
        raise DataError(f"{root}: no images at all{only}: its class folders ({', '.join(classes[:5])}"
                        f"{', ...' if len(classes) > 5 else ''}) are empty ({key})")
    for name in classes:
        if not per_class[name]:
            raise DataError(f"{root / name}: an empty class folder (no files{only}); add its images or "
                            "remove the folder")
    if len(classes) == 1:
        raise DataError(f"{root}: only one class folder ({classes[0]!r}); a classifier needs at least two: "
                        f"add a subfolder per class ({key})")
    found = sorted((file, c) for c, name in enumerate(classes) for file in per_class[name])
    return Listing(root, tuple(classes), tuple(f"{classes[c]}/{file}" for file, c in found),
                   np.fromiter((c for _, c in found), np.int32, len(found)), ignored)


def _entries(folder: Path, ordered: bool = True) -> list[os.DirEntry]:
    """A folder's entries (sorted by name), hidden ones (.DS_Store, .ipynb_checkpoints) left out."""
    try:
        with os.scandir(folder) as it:
            entries = [e for e in it if not e.name.startswith(".")]
        return sorted(entries, key=lambda e: e.name) if ordered else entries
    except OSError as e:
        raise DataError(f"{folder}: cannot list it ({e.strerror}); check its permissions") from None


def _wanted(name: str, extensions: list[str] | None) -> bool:
    return extensions is None or name.rpartition(".")[2].lower() in extensions and "." in name


def _listings(spec) -> tuple[Listing, Listing | None]:
    train = scan_folder(spec.path, spec.extensions)
    if spec.test_path is None:
        return train, None
    test = scan_folder(spec.test_path, spec.extensions, what="test_path")
    if test.classes != train.classes:
        missing, extra = sorted(set(train.classes) - set(test.classes)), sorted(set(test.classes) - set(train.classes))
        diff = "; ".join(part for part in (f"missing {', '.join(missing)}" if missing else "",
                                           f"not in data.path: {', '.join(extra)}" if extra else "") if part)
        raise DataError(f"{spec.test_path}: its class folders differ from data.path's ({diff}); the test folder "
                        f"needs the same class subfolders as {spec.path}")
    return train, test


# --------------------------------------------------------------------------------------------
# Decoding a folder, with its cache


def settings(spec) -> dict:
    """The settings that change the decoded pixels (and so the cache key)."""
    return {"image_size": list(spec.image_size), "color": spec.color, "resize": spec.resize}


def fingerprint(listing: Listing, spec) -> str:
    """A key for a folder's decoded arrays: every file's relative name, size and modification time,
    the settings, this module's and Pillow's versions."""
    import PIL

    digest = hashlib.sha256(json.dumps({"version": CACHE_VERSION, "pillow": PIL.__version__,
                                        "settings": settings(spec), "classes": listing.classes}).encode())
    prefix = os.path.join(str(listing.root), "")
    for rel in listing.files:
        try:
            stat = os.stat(prefix + rel)
        except OSError as e:
            raise DataError(f"{prefix + rel}: cannot read it ({e.strerror})") from None
        digest.update(f"{rel}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


def decode_files(paths: list[str], spec, workers: int | None = None, pool: str = "thread", progress=None):
    """Decode `paths` in order: (uint8 array of the readable ones, {index: why} of the others).

    `workers`: threads (or processes, pool="process": kept for scripts/bench_image_folder.py's
    comparison); default one per CPU this process may use, and none under PARALLEL_FROM files.
    `progress(n)` is called as each n files are done.
    """
    args = (tuple(spec.image_size), spec.color, spec.resize)
    chunks = [paths[i:i + CHUNK] for i in range(0, len(paths), CHUNK)]
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        workers = workers if len(paths) >= PARALLEL_FROM else 1
    results = None
    if workers > 1 and len(chunks) > 1:
        results = _in_pool(chunks, args, workers, pool, progress)
    if results is None:  # one process, or a pool that could not start
        results = []
        for chunk in chunks:
            results.append(_decode_chunk(chunk, *args))
            if progress:
                progress(len(chunk))
    arrays, bad = [], {}
    for start, (pixels, chunk_bad) in zip(range(0, len(paths), CHUNK), results):
        arrays.append(pixels)
        bad.update({start + i: why for i, why in chunk_bad.items()})
    channels = 1 if spec.color == "grayscale" else 3
    empty = np.zeros((0, *spec.image_size, channels), np.uint8)
    return (np.concatenate(arrays) if len(arrays) > 1 else arrays[0] if arrays else empty), bad


def _in_pool(chunks, args, workers: int, pool: str, progress):
    import concurrent.futures as cf
    import multiprocessing

    if pool == "thread":
        executor = cf.ThreadPoolExecutor(workers)
    else:  # spawn, not fork: the parent may hold JAX's threads
        executor = cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    finished = False
    try:
        futures = [executor.submit(_decode_chunk, chunk, *args) for chunk in chunks]
        results = []
        for chunk, future in zip(chunks, futures):
            results.append(future.result())
            if progress:
                progress(len(chunk))
        finished = True
        return results
    except (OSError, cf.process.BrokenProcessPool):
        return None  # a pool of processes that could not start: decode here instead
    finally:  # on Ctrl-C (or an error), the chunks not started are dropped, not waited for
        executor.shutdown(wait=finished, cancel_futures=not finished)


@contextlib.contextmanager
def _progress_bar(total: int, label: str):
    """A Rich bar on a terminal for a large folder (a callable taking the files just done); nothing
    otherwise, or while another live display (a training bar) is on."""
    if total < PARALLEL_FROM or not sys.stderr.isatty():
        yield None
        return
    from rich.errors import LiveError
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..report import err_console

    bar = Progress(TextColumn(f"  decoding {label}"), MofNCompleteColumn(), BarColumn(), TimeElapsedColumn(),
                   console=err_console, transient=True)
    try:
        bar.start()
    except LiveError:
        yield None
        return
    task = bar.add_task("decode", total=total)
    try:
        yield lambda n: bar.update(task, advance=n)
    finally:
        bar.stop()


def read_folder(listing: Listing, spec) -> dict:
    """A folder's decoded images (uint8), labels and skipped files, from the cache when it has them."""
    started = time.perf_counter()
    key = fingerprint(listing, spec)
    cache_file = cache_dir() / "image_folder" / f"{key}.npz"
    arrays = read_arrays(cache_file)
    hit = arrays is not None
    if arrays is None:
        prefix = os.path.join(str(listing.root), "")
        paths = [prefix + rel for rel in listing.files]
        with _progress_bar(len(paths), str(listing.root)) as progress:
            pixels, bad = decode_files(paths, spec, progress=progress)
        keep = np.ones(len(paths), bool)
        keep[list(bad)] = False
        arrays = {"x": pixels, "y": listing.labels[keep],
                  "bad": np.asarray([f"{listing.files[i]}\t{why}" for i, why in sorted(bad.items())], dtype=str)}
        write_arrays(cache_file, arrays)
    bad = [str(b).split("\t", 1) for b in arrays["bad"]]
    if bad and spec.on_bad_file == "error":
        rel, why = bad[0]
        more = f" ({len(bad) - 1} more bad file{'s' if len(bad) > 2 else ''})" if len(bad) > 1 else ""
        raise DataError(f"{listing.root / rel}: {why}{more}; delete or replace it, or set data.on_bad_file: skip")
    if len(arrays["x"]) == 0:
        raise DataError(f"{listing.root}: none of its {len(listing.files)} files is a readable image; "
                        f"the first: {listing.root / bad[0][0]}: {bad[0][1]}")
    return {"x": arrays["x"], "y": arrays["y"], "skipped": [rel for rel, _ in bad],
            "cache": {"file": str(cache_file), "hit": hit, "seconds": round(time.perf_counter() - started, 2)}}


# --------------------------------------------------------------------------------------------
# The data set


def split_test(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A boolean mask of the test images: round(fraction * n) of each class's n images (at most n - 1),
    drawn with `seed`; the same folder and seed always give the same test set."""
    rng = np.random.default_rng(seed)
    test = np.zeros(len(labels), bool)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        take = min(int(round(fraction * len(members))), len(members) - 1)
        test[rng.choice(members, size=take, replace=False)] = True
    return test


def _test_counts(labels: np.ndarray, fraction: float) -> int:
    counts = np.bincount(labels)
    return int(sum(min(int(round(fraction * n)), n - 1) for n in counts if n))


def image_folder_info(spec) -> DataInfo:
    """Input shape from image_size and color; the classes from listing the folder (nothing decoded)."""
    train, _ = _listings(spec)
    channels = 1 if spec.color == "grayscale" else 3
    return DataInfo(input_shape=(*spec.image_size, channels), task="classification", num_classes=len(train.classes))


def image_folder_train_examples(spec) -> int:
    """The training images the listing finds (skipped bad files would make it fewer)."""
    train, test = _listings(spec)
    return len(train.files) - (0 if test is not None else _test_counts(train.labels, spec.test_split))


def load_image_folder(spec, seed: int, data_dir=None) -> Dataset:
    train_listing, test_listing = _listings(spec)
    train = read_folder(train_listing, spec)
    info = image_folder_info(spec)
    if test_listing is not None:
        test = read_folder(test_listing, spec)
        x_train, y_train, x_test, y_test = train["x"], train["y"], test["x"], test["y"]
    else:
        test = None
        held = split_test(train["y"], spec.test_split, spec.split_seed)
        if not held.any():
            raise DataError(f"{spec.path}: data.test_split {spec.test_split:g} of {len(held)} images holds out "
                            "none; raise it or add images")
        x_train, y_train, x_test, y_test = train["x"][~held], train["y"][~held], train["x"][held], train["y"][held]
    skipped = train["skipped"] + ([f"test/{rel}" for rel in test["skipped"]] if test else [])
    meta = {
        "classes": list(train_listing.classes),
        "preprocessing": {
            **settings(spec), "channels": info.input_shape[-1], "layout": "HWC",
            "resize_rule": RESIZE_RULES[spec.resize], "resample": "bilinear (Pillow, antialiased when shrinking)",
            "alpha": "composited over black", "orientation": "EXIF orientation applied (JPEG, WebP)",
            "gray": "Pillow L: ITU-R 601-2 luma" if spec.color == "grayscale" else "gray images: channel replicated",
            "scale": "pixel / 255, float32 in [0, 1]", "formats": list(FORMATS),
        },
        "source": {"path": str(spec.path), "test_path": str(spec.test_path) if spec.test_path else None,
                   "test_split": spec.test_split, "split_seed": spec.split_seed if spec.test_split else None,
                   "images": {"train": int(len(y_train)), "test": int(len(y_test))},
                   "ignored_files": train_listing.ignored + (test_listing.ignored if test_listing else 0)},
        "skipped": {"count": len(skipped), "files": skipped[:SHOWN_SKIPPED]},
        "cache": {"train": train["cache"], **({"test": test["cache"]} if test else {})},
    }
    # Split the uint8 pixels, then scale each split: the same floats as scaling first, a quarter of the copying.
    dataset = make_dataset("image_folder", info, (x_train, y_train), (x_test, y_test), spec, seed, **meta)
    dataset.x_train, dataset.x_val, dataset.x_test = (unit_pixels(x) for x in
                                                      (dataset.x_train, dataset.x_val, dataset.x_test))
    return dataset


def image_folder_preprocessing(spec, dataset) -> dict:
    from .preprocessing import image_record

    return image_record(spec.image_size, spec.color, spec.resize, classes=dataset.meta["classes"])


FAMILY = REGISTRY.register(DataFamily(ImageFolderSpec, image_folder_info, load_image_folder,
                                      train_examples=image_folder_train_examples,
                                      preprocessing=image_folder_preprocessing))
