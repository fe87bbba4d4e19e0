"""data: image_folder, on tiny images the tests write with Pillow: formats, colors, the resize rules,
classes and splits, the decode cache, every bad-input case, and the MNIST export round trip."""

from __future__ import annotations

import importlib.util
import json
import os

import numpy as np
import pytest
from PIL import Image

from nnx import data
from nnx.data import idx
from nnx.data import image_folder as imf
from nnx.data.base import make_dataset, unit_pixels
from nnx.data.store import fetch

from .conftest import ROOT
from .helpers import run_cli, run_folders, write_experiment


def _image(path, pixels, **save):
    """Write uint8 pixels (H, W) gray or (H, W, 3|4) as an image file; its format from the suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(pixels, np.uint8)).save(path, **save)
    return path


def _folder(root, classes=("cat", "dog"), per_class=4, size=(6, 8), suffix="png"):
    """root/<class>/<i>.<suffix>: class c's images are flat gray (40 + 50c + i)."""
    for c, name in enumerate(classes):
        for i in range(per_class):
            _image(root / name / f"{i:02d}.{suffix}", np.full(size, 40 + 50 * c + i, np.uint8))
    return root


def _spec(root, **keys):
    keys = {"image_size": [6, 8], "color": "grayscale", "validation_split": 0.0, **keys}
    if "test_path" not in keys:
        keys.setdefault("test_split", 0.25)
    return imf.ImageFolderSpec(name="image_folder", path=root, **keys)


EXPERIMENT = """
name: photos
seed: 0
data: {{name: image_folder, path: {path}, image_size: [6, 8], color: grayscale, {extra}}}
model: {{type: mlp, hidden: [8]}}
training: {{epochs: 1, batch_size: 4}}
"""


def _experiment(tmp_path, path="train", extra="test_path: test"):
    return write_experiment(tmp_path / "photos.yaml", EXPERIMENT.format(path=path, extra=extra))


# --------------------------------------------------------------------------------------------
# One image


@pytest.mark.parametrize("suffix, exact", [("png", True), ("bmp", True), ("gif", True), ("webp", False),
                                           ("jpg", False)])
def test_each_format_is_decoded(tmp_path, suffix, exact):
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[:, :4] = (200, 30, 60)
    rgb[:, 4:] = (20, 180, 90)
    path = _image(tmp_path / f"x.{suffix}", rgb, **({"lossless": True} if suffix == "webp" else {}))
    pixels = imf.decode_image(path, (8, 8), "rgb")
    assert pixels.shape == (8, 8, 3) and pixels.dtype == np.uint8
    if exact or suffix == "webp":  # lossless WebP is exact too
        assert np.array_equal(pixels, rgb) or suffix == "gif" and np.abs(pixels.astype(int) - rgb).max() <= 8
    else:
        assert np.abs(pixels.astype(int) - rgb).mean() < 12  # JPEG: lossy
    gray = imf.decode_image(path, (8, 8), "grayscale")
    assert gray.shape == (8, 8, 1)
    assert abs(int(gray[0, 0, 0]) - round(0.299 * 200 + 0.587 * 30 + 0.114 * 60)) <= (3 if exact else 10)


def test_the_first_frame_of_an_animated_gif(tmp_path):
    frames = [Image.fromarray(np.full((4, 4), v, np.uint8)) for v in (10, 250)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    assert (imf.decode_image(tmp_path / "a.gif", (4, 4), "grayscale") == 10).all()


def test_modes_are_converted_alpha_over_black_and_16_bit_scaled(tmp_path):
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = 200, 0      # fully transparent white-ish: black
    rgba[0, 0, 3] = 255                       # one opaque pixel: as it is
    _image(tmp_path / "a.png", rgba)
    out = imf.decode_image(tmp_path / "a.png", (2, 2), "rgb")
    assert out[0, 0].tolist() == [200, 200, 200] and (out[1, 1] == 0).all()
    wide = np.array([[0, 65535], [257 * 100, 257 * 7]], np.uint16)
    Image.fromarray(wide).save(tmp_path / "w.png")  # a 16-bit grayscale PNG
    assert imf.decode_image(tmp_path / "w.png", (2, 2), "grayscale")[..., 0].tolist() == [[0, 255], [100, 7]]
    palette = Image.fromarray(np.array([[0, 1], [1, 0]], np.uint8), mode="P")
    palette.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    palette.save(tmp_path / "p.png")
    assert imf.decode_image(tmp_path / "p.png", (2, 2), "rgb")[0, 0].tolist() == [255, 0, 0]
    gray = imf.decode_image(_image(tmp_path / "g.png", np.full((2, 2), 77, np.uint8)), (2, 2), "rgb")
    assert (gray == 77).all() and gray.shape == (2, 2, 3)  # gray to rgb: the channel replicated


def test_the_three_resize_rules_geometry(tmp_path):
    # 4 high, 8 wide: a white bar in the two leftmost columns, the rest black.
    pixels = np.zeros((4, 8), np.uint8)
    pixels[:, :2] = 255
    path = _image(tmp_path / "bar.png", pixels)
    stretch = imf.decode_image(path, (4, 4), "grayscale", "stretch")[..., 0]
    crop = imf.decode_image(path, (4, 4), "grayscale", "crop")[..., 0]
    pad = imf.decode_image(path, (4, 4), "grayscale", "pad")[..., 0]
    assert stretch[:, 0].min() > 128 and (stretch[:, 3] == 0).all()       # squeezed: the bar kept, thinner
    assert (crop == 0).all()                                              # the middle 4x4: the bar cut off
    assert (pad[0] == 0).all() and (pad[3] == 0).all()                    # 2 high, centered on black
    assert pad[1:3, 0].min() > 128 and (pad[1:3, 3] == 0).all()
    tall = imf.decode_image(path, (8, 4), "grayscale", "pad")[..., 0]     # 8 high, 4 wide: 2 rows of image
    assert (tall[:3] == 0).all() and (tall[5:] == 0).all() and tall[3:5, 0].min() > 128
    same = imf.decode_image(path, (4, 8), "grayscale", "crop")[..., 0]
    assert np.array_equal(same, pixels)                                   # already HxW: untouched


def test_preprocess_image_gives_the_loaders_pixels(tmp_path):
    _folder(tmp_path / "train", size=(10, 14))
    spec = _spec(tmp_path / "train", image_size=[6, 6], resize="pad", color="rgb")
    loaded = data.load(spec, seed=0)
    json.dumps(loaded.meta)  # plain JSON, as summary.json records it
    prep = loaded.meta["preprocessing"]
    assert prep["image_size"] == [6, 6] and prep["color"] == "rgb" and prep["resize"] == "pad"
    again = imf.preprocess_image((tmp_path / "train" / "cat" / "00.png").read_bytes(), prep)
    assert again.dtype == np.float32 and again.shape == (6, 6, 3)
    first_cat = np.concatenate([loaded.x_train, loaded.x_test])[
        np.argmax(np.concatenate([loaded.x_train, loaded.x_test])[:, 3, 3, 0] == again[3, 3, 0])]
    assert np.array_equal(first_cat, again)


# --------------------------------------------------------------------------------------------
# The folder


def test_classes_labels_order_and_arrays(tmp_path):
    _folder(tmp_path / "train", classes=("zebra", "ant", "moth"), per_class=3)
    _folder(tmp_path / "test", classes=("zebra", "ant", "moth"), per_class=2)
    loaded = data.load(_spec(tmp_path / "train", test_path=tmp_path / "test"), seed=0)
    assert loaded.meta["classes"] == ["ant", "moth", "zebra"]
    assert loaded.x_train.dtype == np.float32 and loaded.y_train.dtype == np.int32
    assert loaded.x_train.shape == (9, 6, 8, 1) and loaded.x_test.shape == (6, 6, 8, 1)
    # By file name across classes, ties by class: 00 of ant, moth, zebra, then 01 of each, ...
    assert loaded.y_test.tolist() == [0, 1, 2, 0, 1, 2]
    # zebra is folder 0 of _folder (value 40 + i), ant folder 1 (90 + i), moth folder 2 (140 + i).
    assert (loaded.x_test[:, 0, 0, 0] * 255).round().tolist() == [90, 140, 40, 91, 141, 41]


def test_rgb_gives_three_channels_grayscale_one(tmp_path):
    _folder(tmp_path / "train")
    assert data.load(_spec(tmp_path / "train", color="rgb"), seed=0).x_train.shape[1:] == (6, 8, 3)
    assert data.load(_spec(tmp_path / "train"), seed=0).x_train.shape[1:] == (6, 8, 1)


def test_test_split_is_stratified_and_fixed_by_split_seed(tmp_path):
    _folder(tmp_path / "train", per_class=10)
    spec = _spec(tmp_path / "train", test_split=0.3)
    a, b = data.load(spec, seed=0), data.load(spec, seed=5)
    assert np.bincount(a.y_test).tolist() == [3, 3] and len(a.x_train) == 14
    assert np.array_equal(a.x_test, b.x_test)  # the run's seed draws the validation split, never the test set
    other = data.load(_spec(tmp_path / "train", test_split=0.3, split_seed=1), seed=0)
    assert not np.array_equal(a.x_test, other.x_test)
    assert data.family(spec).train_examples(spec) == 14


def test_extensions_filter_the_files_and_count_the_others(tmp_path):
    _folder(tmp_path / "train")
    (tmp_path / "train" / "cat" / "notes.txt").write_text("not an image")
    (tmp_path / "train" / ".DS_Store").write_bytes(b"\0")  # hidden files are never read
    loaded = data.load(_spec(tmp_path / "train", extensions=[".PNG"]), seed=0)
    assert len(loaded.x_train) + len(loaded.x_test) == 8 and loaded.meta["source"]["ignored_files"] == 1


def test_info_from_the_spec_is_the_loaders_and_decodes_nothing(tmp_path, monkeypatch):
    _folder(tmp_path / "train", classes=("a", "b", "c"))
    spec = _spec(tmp_path / "train", color="rgb", image_size=[5, 7])
    monkeypatch.setattr(imf, "decode_image", _no_decoding)
    info = data.info_for(spec)
    assert info == data.DataInfo((5, 7, 3), "classification", 3)
    monkeypatch.undo()
    assert data.load(spec, seed=0).info == info


def _no_decoding(*args, **kwargs):
    raise AssertionError("decoded an image")


# --------------------------------------------------------------------------------------------
# The cache


def test_a_second_load_decodes_nothing_and_a_changed_file_is_decoded_again(tmp_path, monkeypatch):
    _folder(tmp_path / "train")
    spec = _spec(tmp_path / "train")
    first = data.load(spec, seed=0)
    assert first.meta["cache"]["train"]["hit"] is False
    monkeypatch.setattr(imf, "decode_image", _no_decoding)
    second = data.load(spec, seed=0)
    assert second.meta["cache"]["train"]["hit"] is True
    assert np.array_equal(first.x_train, second.x_train) and np.array_equal(first.y_test, second.y_test)
    with pytest.raises(AssertionError, match="decoded"):  # other settings: other pixels, decoded again
        data.load(_spec(tmp_path / "train", color="rgb"), seed=0)

    changed = tmp_path / "train" / "dog" / "01.png"
    _image(changed, np.full((6, 8), 3, np.uint8))
    os.utime(changed, ns=(1, 1))  # a new size and time
    calls = []

    def counting(*args, **kwargs):
        calls.append(args[0])
        return _real_decode(*args, **kwargs)

    monkeypatch.setattr(imf, "decode_image", counting)
    third = data.load(spec, seed=0)
    assert len(calls) == 8 and third.meta["cache"]["train"]["hit"] is False
    assert 3 / 255 in np.concatenate([third.x_train, third.x_test]).ravel()


_real_decode = imf.decode_image


def test_a_damaged_cache_file_is_rebuilt(tmp_path):
    _folder(tmp_path / "train")
    spec = _spec(tmp_path / "train")
    first = data.load(spec, seed=0)
    cache = first.meta["cache"]["train"]["file"]
    with open(cache, "wb") as f:
        f.write(b"garbage")
    again = data.load(spec, seed=0)
    assert again.meta["cache"]["train"]["hit"] is False and np.array_equal(first.x_train, again.x_train)


def test_a_large_folder_is_decoded_by_a_pool_as_in_one_process(tmp_path):
    _folder(tmp_path / "train", per_class=30)
    spec = _spec(tmp_path / "train")
    paths = [str(tmp_path / "train" / rel) for rel in imf.scan_folder(spec.path).files]
    done = []
    alone, bad = imf.decode_files(paths, spec, workers=1)
    for pool in ("process", "thread"):
        pooled, pooled_bad = imf.decode_files(paths, spec, workers=2, pool=pool, progress=done.append)
        assert np.array_equal(alone, pooled) and bad == pooled_bad == {}
    assert sum(done) == 2 * len(paths)


# --------------------------------------------------------------------------------------------
# Bad input: exit 2, one line naming the file, no run folder


def _not_an_image(root):
    _folder(root / "train")
    _folder(root / "test")
    (root / "train" / "dog" / "02.png").write_text("this is text, not a PNG")
    return "train/dog/02.png: not a PNG, JPEG, BMP, GIF or WebP image"


def _truncated_jpeg(root):
    _folder(root / "train")
    _folder(root / "test")
    path = _image(root / "train" / "cat" / "big.jpg", np.random.default_rng(0).integers(0, 255, (64, 64, 3)))
    path.write_bytes(path.read_bytes()[:600])
    return "train/cat/big.jpg: a damaged image"


def _empty_class(root):
    _folder(root / "train")
    _folder(root / "test")
    (root / "train" / "eel").mkdir()
    return "train/eel: an empty class folder"


def _single_class(root):
    _folder(root / "train", classes=("cat",))
    _folder(root / "test", classes=("cat",))
    return "train: only one class folder ('cat')"


def _nested(root):
    _folder(root / "train")
    _folder(root / "test")
    _image(root / "train" / "cat" / "kittens" / "k.png", np.zeros((6, 8)))
    return "train/cat/kittens: a folder inside class folder 'cat'"


def _top_file(root):
    _folder(root / "train")
    _folder(root / "test")
    _image(root / "train" / "stray.png", np.zeros((6, 8)))
    return "train/stray.png: a file directly in data.path"


def _test_classes_differ(root):
    _folder(root / "train", classes=("cat", "dog"))
    _folder(root / "test", classes=("cat", "emu"))
    return "test: its class folders differ from data.path's (missing dog; not in data.path: emu)"


def _no_images(root):
    (root / "train" / "cat").mkdir(parents=True)
    (root / "train" / "dog").mkdir()
    _folder(root / "test")
    return "train: no images at all"


def _no_subfolders(root):
    (root / "train").mkdir()
    _folder(root / "test")
    return "train: no class subfolders"


def _missing(root):
    _folder(root / "test")
    return "train: no such folder (data.path)"


@pytest.mark.parametrize("make", [_not_an_image, _truncated_jpeg, _empty_class, _single_class, _nested, _top_file,
                                  _test_classes_differ, _no_images, _no_subfolders, _missing])
def test_bad_input_is_one_line_exit_2_and_no_run_folder(tmp_path, capsys, make):
    fragment = make(tmp_path)
    path = _experiment(tmp_path)
    code, out, err = run_cli(["train", path, "-o", tmp_path / "out"], capsys)
    assert code == 2, err
    assert str(tmp_path / fragment.split(":")[0]) in err and fragment.split(": ", 1)[1] in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not run_folders(tmp_path / "out")


def test_bad_files_are_skipped_and_counted_in_the_summary(tmp_path, capsys):
    _truncated_jpeg(tmp_path)
    (tmp_path / "train" / "dog" / "02.png").write_text("this is text, not a PNG")
    path = _experiment(tmp_path, extra="test_path: test, on_bad_file: skip")
    code, _, err = run_cli(["train", path, "-o", tmp_path / "out", "-q"], capsys)
    assert code == 0, err
    (run,) = run_folders(tmp_path / "out")
    meta = json.loads((run / "summary.json").read_text())["data_meta"]
    assert meta["skipped"] == {"count": 2, "files": ["dog/02.png", "cat/big.jpg"]}  # in the folder's order
    assert meta["source"]["images"] == {"train": 7, "test": 8}


def test_both_or_neither_test_set_is_a_config_error(tmp_path, capsys):
    _folder(tmp_path / "train")
    for extra in ("test_split: 0.2, test_path: train", "validation_split: 0.2"):
        code, _, err = run_cli(["train", _experiment(tmp_path, extra=extra), "-o", tmp_path / "out"], capsys)
        assert code == 2 and "exactly one of test_path" in err and len(err.strip().splitlines()) == 1


def test_count_params_lists_the_folder_and_decodes_nothing(tmp_path, capsys, monkeypatch):
    _folder(tmp_path / "train", classes=("a", "b", "c"))
    _folder(tmp_path / "test", classes=("a", "b", "c"))
    monkeypatch.setattr(imf, "decode_image", _no_decoding)
    code, out, err = run_cli(["count-params", _experiment(tmp_path)], capsys)
    assert code == 0, err
    assert "(None, 6, 8, 1)" in out and "(None, 3)" in out and "419" in out
    code, out, err = run_cli(["train", _experiment(tmp_path), "--dry-run"], capsys)
    assert code == 0, err


def test_a_relative_path_is_the_experiment_files_folder(tmp_path, capsys, monkeypatch):
    _folder(tmp_path / "train")
    _folder(tmp_path / "test")
    monkeypatch.chdir(ROOT)  # anywhere but the experiment's folder
    code, _, err = run_cli(["train", _experiment(tmp_path), "-o", tmp_path / "out", "-q"], capsys)
    assert code == 0, err


# --------------------------------------------------------------------------------------------
# The MNIST export round trip


def _export_script():
    spec = importlib.util.spec_from_file_location("export_image_folder", ROOT / "scripts" / "export_image_folder.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_an_export_reads_back_as_the_same_arrays_in_the_same_order(tmp_path):
    export = _export_script()
    rng = np.random.default_rng(0)
    splits = {s: (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.permutation(np.arange(n) % 10).astype(np.uint8))
              for s, n in (("train", 60), ("test", 25))}
    classes = export.class_names("mnist")
    for split, (x, y) in splits.items():
        export.export_split(x, y, classes, tmp_path / split)
    spec = imf.ImageFolderSpec(name="image_folder", path=tmp_path / "train", test_path=tmp_path / "test",
                               color="grayscale", image_size=[28, 28])
    for split, (x, y) in splits.items():  # the folder's images in the order of the arrays written
        listing = imf.scan_folder(tmp_path / split)
        assert list(listing.classes) == classes  # the folders "0".."9": a class's index is its digit
        read = imf.read_folder(listing, spec)
        assert np.array_equal(read["x"], x[..., None]) and np.array_equal(read["y"], y)
    # ...and so the data set is the one the IDX loader makes of the same arrays (the same splits).
    loaded = data.load(spec, seed=3)
    idx_like = make_dataset("mnist", loaded.info, (unit_pixels(splits["train"][0])[..., None], splits["train"][1].astype(np.int32)),
                            (unit_pixels(splits["test"][0])[..., None], splits["test"][1].astype(np.int32)), spec, seed=3)
    for part in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        assert np.array_equal(getattr(loaded, part), getattr(idx_like, part)), part
        assert getattr(loaded, part).dtype == getattr(idx_like, part).dtype
    assert export.class_names("fashion_mnist")[0] == "T-shirt_top" and export.safe_name("Ankle boot") == "Ankle_boot"


@pytest.mark.realdata
def test_the_real_mnist_export_is_the_idx_loaders_arrays(real_data_dir, tmp_path):
    export = _export_script()
    assert export.main([str(tmp_path / "png"), "--data-dir", str(real_data_dir), "--limit", "500"]) == 0
    spec = imf.ImageFolderSpec(name="image_folder", path=tmp_path / "png" / "train", color="grayscale",
                               test_path=tmp_path / "png" / "test", image_size=[28, 28])
    raw = [idx.read_idx(p) for p in fetch(idx.idx_files("mnist"), real_data_dir)]
    for split, images, labels in (("train", *raw[:2]), ("test", *raw[2:])):
        read = imf.read_folder(imf.scan_folder(tmp_path / "png" / split), spec)
        assert np.array_equal(read["x"][..., 0], images[:500]) and np.array_equal(read["y"], labels[:500])
