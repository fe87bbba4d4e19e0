"""A data file accepted under another local name (MNIST's uncompressed IDX files), on tiny files."""

import gzip
import hashlib
import shutil

import numpy as np
import pytest

from nnx.data import idx, store
from nnx.errors import DataError

from .helpers import write_idx


def _sum(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _file(gz: bytes = b"canonical", plain: bytes = b"plain copy") -> store.RemoteFile:
    return store.RemoteFile("set/file.bin.gz", ("https://example.invalid/file.bin.gz",), _sum(gz),
                            also=(store.LocalName("set/file.bin", _sum(plain)),))


def _put(folder, name: str, content: bytes):
    path = folder / "set" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def test_the_other_name_is_found_and_checked_against_its_own_sum(tmp_path):
    plain = _put(tmp_path, "file.bin", b"plain copy")
    assert store.fetch([_file()], data_dir=tmp_path) == [plain]


def test_the_canonical_name_comes_first_in_a_folder(tmp_path):
    gz = _put(tmp_path, "file.bin.gz", b"canonical")
    _put(tmp_path, "file.bin", b"plain copy")
    assert store.fetch([_file()], data_dir=tmp_path) == [gz]


def test_folders_keep_their_order_whichever_name_they_hold(tmp_path, monkeypatch):
    # --data-dir holds the plain copy, NNX_DATA_DIR the canonical file: --data-dir wins.
    plain = _put(tmp_path / "opt", "file.bin", b"plain copy")
    _put(tmp_path / "env", "file.bin.gz", b"canonical")
    monkeypatch.setenv("NNX_DATA_DIR", str(tmp_path / "env"))
    assert store.fetch([_file()], data_dir=tmp_path / "opt") == [plain]


def test_a_corrupted_other_copy_names_its_own_expected_sum(tmp_path):
    path = _put(tmp_path, "file.bin", b"plain copY")
    f = _file()
    with pytest.raises(DataError) as e:
        store.fetch([f], data_dir=tmp_path)
    message = str(e.value)
    assert str(path) in message and f.also[0].sha256 in message and f.sha256 not in message
    assert "checksum mismatch" in message


def test_the_canonical_content_under_the_other_name_is_refused(tmp_path):
    # The sums are per name: the .gz bytes saved without the suffix are not the uncompressed copy.
    _put(tmp_path, "file.bin", b"canonical")
    with pytest.raises(DataError, match="checksum mismatch"):
        store.fetch([_file()], data_dir=tmp_path)


def test_a_file_found_nowhere_names_both_names_it_accepts(tmp_path):
    with pytest.raises(DataError) as e:
        store.fetch([_file()], data_dir=tmp_path)
    message = str(e.value)
    assert "set/file.bin.gz (or set/file.bin)" in message and "--data-dir" in message
    assert "\n" not in message


def test_the_download_fetches_the_canonical_file_only(tmp_path, monkeypatch):
    monkeypatch.delenv("NNX_NO_DOWNLOAD")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    mirror = tmp_path / "mirror" / "file.bin.gz"
    mirror.parent.mkdir()
    mirror.write_bytes(b"canonical")
    f = store.RemoteFile("set/file.bin.gz", (mirror.as_uri(),), _sum(b"canonical"),
                         also=(store.LocalName("set/file.bin", _sum(b"plain copy")),))
    [path] = store.fetch([f], data_dir=tmp_path / "empty")
    assert path == tmp_path / "cache" / "nnx" / "set" / "file.bin.gz" and path.read_bytes() == b"canonical"
    assert sorted(p.name for p in path.parent.iterdir()) == ["file.bin.gz"]


def test_a_file_without_other_names_is_described_by_its_path():
    f = store.RemoteFile("set/a.bin", ("https://example.invalid/a.bin",), _sum(b"a"))
    assert f.describe() == "set/a.bin" and [n.path for n in f.local_names()] == ["set/a.bin"]


def test_idx_files_accept_the_uncompressed_copies_with_their_own_sums():
    for folder in ("mnist", "fashion-mnist"):
        files = idx.idx_files(folder)
        assert [f.path for f in files] == [f"{folder}/{n}" for n in idx._FILES]
        for f in files:
            [plain] = f.also
            assert plain.path == f.path.removesuffix(".gz") and plain.sha256 != f.sha256
            assert len(plain.sha256) == 64 and all(u.endswith(f.path.rsplit("/", 1)[1]) for u in f.urls)


def test_read_idx_tells_gzip_from_plain_by_content_not_name(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    plain = write_idx(tmp_path / "train-images-idx3-ubyte", images, compress=False)
    assert np.array_equal(idx.read_idx(plain), images)
    misnamed = tmp_path / "images.gz"  # plain bytes under a .gz name, and the reverse
    shutil.copy(plain, misnamed)
    assert np.array_equal(idx.read_idx(misnamed), images)
    gz = tmp_path / "images"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    assert np.array_equal(idx.read_idx(gz), images)


def test_mnist_loader_reads_an_uncompressed_data_folder(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (20, 28, 28)),
              "train-labels-idx1-ubyte": rng.integers(0, 10, 20),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (5, 28, 28)),
              "t10k-labels-idx1-ubyte": rng.integers(0, 10, 5)}
    plain_sums = {n: store.sha256_of(write_idx(tmp_path / "mnist" / n, a, compress=False)) for n, a in arrays.items()}
    monkeypatch.setitem(idx._SHA256_PLAIN, "mnist", plain_sums)
    from nnx.data.idx import IdxSpec as ImageDataSpec

    data = idx.load_idx_set(ImageDataSpec(name="mnist", validation_split=0.0), seed=0, data_dir=tmp_path)
    np.testing.assert_allclose(data.x_test[..., 0] * 255, arrays["t10k-images-idx3-ubyte"], atol=1e-3)
    assert np.array_equal(data.y_test, arrays["t10k-labels-idx1-ubyte"])


@pytest.mark.realdata
def test_real_mnist_uncompressed_loads_the_same_arrays_as_the_gz_files(real_data_dir, tmp_path, monkeypatch):
    from nnx.data.idx import IdxSpec as ImageDataSpec

    monkeypatch.delenv("NNX_DATA_DIR")  # only tmp_path (and the empty cache) is searched for the plain set
    folder = "mnist"
    for gz in sorted((real_data_dir / folder).glob("*.gz")):
        target = tmp_path / folder / gz.name.removesuffix(".gz")
        target.parent.mkdir(exist_ok=True)
        with gzip.open(gz, "rb") as src, open(target, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
    assert sorted(p.name for p in (tmp_path / folder).iterdir()) == sorted(
        n.removesuffix(".gz") for n in idx._FILES)
    assert all(p.parent == tmp_path / folder for p in store.fetch(idx.idx_files(folder), data_dir=tmp_path))
    spec = ImageDataSpec(name="mnist", validation_split=0.0)
    plain = idx.load_idx_set(spec, seed=0, data_dir=tmp_path)
    canonical = idx.load_idx_set(spec, seed=0, data_dir=real_data_dir)
    for split in ("x_train", "y_train", "x_test", "y_test"):
        assert np.array_equal(getattr(plain, split), getattr(canonical, split)), split
    assert plain.x_train.shape == (60000, 28, 28, 1)
