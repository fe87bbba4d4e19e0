"""The IDX parser and the data folder rules, on tiny files written by the tests."""

import gzip
import hashlib

import numpy as np
import pytest

from nnx.data import idx, store
from nnx.errors import DataError

from .helpers import write_idx


def test_reads_images_and_labels(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    labels = np.array([7, 1], dtype=np.uint8)
    assert np.array_equal(idx.read_idx(write_idx(tmp_path / "i.gz", images)), images)
    assert np.array_equal(idx.read_idx(write_idx(tmp_path / "l.gz", labels)), labels)


def test_wrong_magic_number_is_a_data_error(tmp_path):
    path = write_idx(tmp_path / "bad.gz", np.zeros((2, 2), np.uint8), magic=0x12345678)
    with pytest.raises(DataError, match="magic number"):
        idx.read_idx(path)


def test_truncated_file_is_a_data_error(tmp_path):
    path = tmp_path / "short.gz"
    raw = gzip.decompress(write_idx(path, np.ones((4, 5, 5), np.uint8)).read_bytes())
    path.write_bytes(gzip.compress(raw[:-7]))
    with pytest.raises(DataError, match="truncated"):
        idx.read_idx(path)


def test_corrupt_gzip_is_a_data_error(tmp_path):
    path = tmp_path / "broken.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + b"\x00" * 20)[:-12])
    with pytest.raises(DataError, match="delete it and download it again|truncated"):
        idx.read_idx(path)


def _remote(tmp_path, content: bytes, name="set/file.bin"):
    return store.RemoteFile(name, ("https://example.invalid/file.bin",), hashlib.sha256(content).hexdigest())


def test_fetch_finds_file_in_data_dir_and_checks_its_sum(tmp_path):
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "file.bin").write_bytes(b"hello")
    f = _remote(tmp_path, b"hello")
    assert store.fetch([f], data_dir=tmp_path) == [tmp_path / "set" / "file.bin"]


def test_checksum_mismatch_names_file_and_expected_sum(tmp_path):
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "file.bin").write_bytes(b"hellO")
    f = _remote(tmp_path, b"hello")
    with pytest.raises(DataError) as e:
        store.fetch([f], data_dir=tmp_path)
    assert "file.bin" in str(e.value) and f.sha256 in str(e.value) and "checksum" in str(e.value)


def test_missing_file_says_which_and_where(tmp_path, monkeypatch):
    monkeypatch.setenv("NNX_DATA_DIR", str(tmp_path / "env"))
    with pytest.raises(DataError) as e:
        store.fetch([_remote(tmp_path, b"x", "mnist/train-images-idx3-ubyte.gz")], data_dir=tmp_path / "opt")
    message = str(e.value)
    assert "mnist/train-images-idx3-ubyte.gz" in message
    assert str(tmp_path / "opt") in message and str(tmp_path / "env") in message
    assert "--data-dir" in message


def _mirror(tmp_path, content: bytes, name: str) -> str:
    """A local 'mirror' reached through a file:// URL: the download code runs, nothing leaves the machine."""
    path = tmp_path / "mirror" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path.as_uri()


def test_download_tries_each_url_and_lands_checked_in_the_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("NNX_NO_DOWNLOAD")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    urls = ((tmp_path / "nowhere.bin").as_uri(), _mirror(tmp_path, b"hello", "file.bin"))
    f = store.RemoteFile("set/file.bin", urls, hashlib.sha256(b"hello").hexdigest())
    [path] = store.fetch([f])
    assert path == tmp_path / "cache" / "nnx" / "set" / "file.bin" and path.read_bytes() == b"hello"
    assert [p.name for p in path.parent.iterdir()] == ["file.bin"]  # no .part file left behind


def test_failed_download_names_every_missing_file_and_leaves_no_trace(tmp_path, monkeypatch):
    monkeypatch.delenv("NNX_NO_DOWNLOAD")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    wrong = _mirror(tmp_path, b"not the file", "a.bin")  # reachable, but the wrong bytes
    files = [store.RemoteFile("set/a.bin", (wrong,), hashlib.sha256(b"a").hexdigest()),
             store.RemoteFile("set/b.bin", ((tmp_path / "gone.bin").as_uri(),), hashlib.sha256(b"b").hexdigest())]
    with pytest.raises(DataError) as e:
        store.fetch(files)
    message = str(e.value)
    assert "set/a.bin" in message and "set/b.bin" in message and "checksum mismatch" in message
    assert not (tmp_path / "cache" / "nnx" / "set").exists()


def test_search_order_is_option_then_env_then_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NNX_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert store.search_dirs(tmp_path / "opt") == [tmp_path / "opt", tmp_path / "env", tmp_path / "cache" / "nnx"]


def test_mnist_loader_on_tiny_files_scales_and_splits(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    files = {"train-images-idx3-ubyte.gz": rng.integers(0, 256, (50, 28, 28)),
             "train-labels-idx1-ubyte.gz": rng.integers(0, 10, 50),
             "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (10, 28, 28)),
             "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, 10)}
    sums = {}
    for name, array in files.items():
        path = write_idx(tmp_path / "mnist" / name, array)
        sums[name] = store.sha256_of(path)
    monkeypatch.setitem(idx._SHA256, "mnist", sums)
    from nnx.data.idx import IdxSpec as ImageDataSpec

    data = idx.load_idx_set(ImageDataSpec(name="mnist", validation_split=0.2), seed=3, data_dir=tmp_path)
    assert data.x_train.shape == (40, 28, 28, 1) and data.x_val.shape == (10, 28, 28, 1)
    assert data.x_test.shape == (10, 28, 28, 1)
    assert data.x_train.dtype == np.float32 and 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0
    np.testing.assert_allclose(data.x_test[..., 0] * 255, files["t10k-images-idx3-ubyte.gz"], atol=1e-3)
    # The validation split is drawn with the seed: the same seed gives the same split.
    again = idx.load_idx_set(ImageDataSpec(name="mnist", validation_split=0.2), seed=3, data_dir=tmp_path)
    assert np.array_equal(data.y_val, again.y_val) and np.array_equal(data.x_val, again.x_val)


def test_real_mnist_has_the_documented_shapes(real_data_dir):
    from nnx.data.idx import IdxSpec as ImageDataSpec

    data = idx.load_idx_set(ImageDataSpec(name="mnist", validation_split=0.2), seed=0, data_dir=real_data_dir)
    assert data.sizes() == {"train": 48000, "validation": 12000, "test": 10000}
    assert np.bincount(data.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
