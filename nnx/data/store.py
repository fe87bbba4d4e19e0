"""Where data files live: a local folder, the NNX_DATA_DIR folder, or the user cache (downloaded).

Search order: `--data-dir`, then `$NNX_DATA_DIR`, then `$XDG_CACHE_HOME/nnx` (default
`~/.cache/nnx`). A file found nowhere is downloaded from its canonical URL into the cache and
checked against its sha256 (or the md5 its publisher gives, as for Keras' weight files); offline (or with NNX_NO_DOWNLOAD=1), the error names the file and the
folders searched.

A file may also be accepted under other local names, each with its own sha256 (MNIST's
`train-images-idx3-ubyte`, the uncompressed copy of the canonical `train-images-idx3-ubyte.gz`).
Each folder is searched in turn, and in a folder the canonical name comes first, then the others in
their order; a download always fetches the canonical file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError


@dataclass(frozen=True)
class LocalName:
    """Another name under which a data file's content is accepted locally, with that copy's sha256."""

    path: str
    sha256: str


@dataclass(frozen=True)
class RemoteFile:
    """A data file: its path inside the data folder, its canonical URLs and its sha256.

    `also` lists other local names accepted in its place (e.g. its uncompressed copy), in order of
    preference after the canonical `path`; they are never downloaded.
    """

    path: str
    urls: tuple[str, ...]
    sha256: str
    also: tuple[LocalName, ...] = ()
    md5: str = ""  # checked instead of sha256 when given (sha256 then ""): Keras publishes md5 sums only

    def local_names(self) -> tuple[LocalName, ...]:
        """Every accepted local name, the canonical one first."""
        return (LocalName(self.path, self.md5 or self.sha256), *self.also)

    def describe(self) -> str:
        """The canonical name, and the others it is accepted under: 'a.gz (or a)'."""
        return self.path + (f" (or {' or '.join(n.path for n in self.also)})" if self.also else "")


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nnx"


# The data folder of the experiment being run (`--data-dir`), for files asked for without one: a
# model family's weight files (model.weights: imagenet), found where the run's data is.
default_data_dir: str | os.PathLike | None = None


@contextlib.contextmanager
def searching(data_dir: str | os.PathLike | None):
    """Within the block, files asked for without a folder are looked for in `data_dir` first."""
    global default_data_dir
    before, default_data_dir = default_data_dir, data_dir or default_data_dir
    try:
        yield
    finally:
        default_data_dir = before


def search_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    dirs = []
    data_dir = data_dir or default_data_dir
    if data_dir:
        dirs.append(Path(data_dir))
    if os.environ.get("NNX_DATA_DIR"):
        dirs.append(Path(os.environ["NNX_DATA_DIR"]))
    dirs.append(cache_dir())
    return dirs


def sha256_of(path: Path) -> str:
    return digest_of(path, "sha256")


def digest_of(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(files: list[RemoteFile], data_dir=None, verify: bool = True) -> list[Path]:
    """Local paths of all `files`, downloading the missing ones into the cache when allowed."""
    dirs = search_dirs(data_dir)
    located = [_locate(f, dirs) for f in files]
    found: list[Path | None] = [hit[0] if hit else None for hit in located]
    missing = [f for f, p in zip(files, found) if p is None]
    if missing and os.environ.get("NNX_NO_DOWNLOAD", "") not in ("", "0"):
        raise DataError(_missing_message(missing, dirs, "downloads are off (NNX_NO_DOWNLOAD)"))
    for i, (f, p) in enumerate(zip(files, found)):
        if p is None:
            try:
                found[i] = _download(f)
            except _DownloadFailed as e:  # name every file still missing, not only this one
                raise DataError(_missing_message([m for m in missing if m not in files[:i]], dirs,
                                                 f"download failed: {e}")) from None
        elif verify:
            _check(p, located[i][1])  # type: ignore[index]
    return found  # type: ignore[return-value]


def _locate(f: RemoteFile, dirs: list[Path]) -> tuple[Path, str] | None:
    """(path, expected sha256) of the first local copy: folder by folder, canonical name first."""
    for d in dirs:
        for name in f.local_names():
            if (d / name.path).is_file():
                return d / name.path, name.sha256
    return None


def _algorithm(expected: str) -> str:
    """md5 for a 32-digit sum, else sha256 (as Keras' get_file tells them apart)."""
    return "md5" if len(expected) == 32 else "sha256"


def _check(path: Path, expected: str) -> None:
    algorithm = _algorithm(expected)
    actual = digest_of(path, algorithm)
    if actual != expected:
        raise DataError(f"{path}: checksum mismatch ({algorithm} {actual[:16]}..., expected {expected}); "
                        "the file is corrupted or truncated: delete it and download it again")


class _DownloadFailed(Exception):
    pass


def _download(f: RemoteFile) -> Path:
    target = cache_dir() / f.path
    created = not target.parent.exists()
    errors = []
    for url in f.urls:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=target.parent, delete=False, suffix=".part") as tmp:
                with urllib.request.urlopen(url, timeout=30) as response:
                    shutil.copyfileobj(response, tmp)
            expected = f.md5 or f.sha256
            if digest_of(Path(tmp.name), _algorithm(expected)) != expected:
                os.unlink(tmp.name)
                errors.append(f"{url}: checksum mismatch")
                continue
            os.replace(tmp.name, target)  # atomic: a half-downloaded file is never seen as done
            return target
        except OSError as e:
            if "tmp" in locals() and os.path.exists(tmp.name):
                os.unlink(tmp.name)
            errors.append(f"{url}: {getattr(e, 'reason', e)}")
    if created:  # leave the cache as it was: no empty folder for a download that never came
        with contextlib.suppress(OSError):
            target.parent.rmdir()
    raise _DownloadFailed("; ".join(errors))


def _missing_message(missing: list[RemoteFile], dirs: list[Path], why: str) -> str:
    names = ", ".join(f.describe() for f in missing)
    where = ", ".join(str(d) for d in dirs)
    urls = " ".join(f.urls[0] for f in missing if f.urls)
    return (f"missing data file{'s' if len(missing) > 1 else ''} {names} ({why}); searched {where}; "
            + (f"download {urls} and " if urls else "")
            + f"put the file{'s' if len(missing) > 1 else ''} there (as {names}) or pass --data-dir DIR")


# --------------------------------------------------------------------------------------------
# Processed arrays cached in the user cache (IMDB's tokens, image folders' pixels)


def read_arrays(path: Path):
    """The arrays of a cache file, or None when there is none or it is damaged (then rebuilt)."""
    import zlib

    import numpy as np

    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (OSError, ValueError, zlib.error, EOFError):
        return None  # a damaged cache file is rebuilt, not trusted


def write_arrays(path: Path, arrays) -> None:
    """Write atomically; a cache that cannot be written only costs the next load its work."""
    import numpy as np

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".part") as tmp:
            np.savez(tmp, **arrays)
        os.replace(tmp.name, path)
    except OSError:
        if "tmp" in locals() and os.path.exists(tmp.name):
            os.unlink(tmp.name)
