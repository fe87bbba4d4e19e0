"""`nnx predict`: a trained run's answers for new inputs, by the preprocessing it recorded, and its
own splits scored exactly as its summary.json says; every bad input one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nnx.predict import open_run, predict

from .helpers import QUICK, run_cli, run_folders, write_experiment

CNN = """
name: cnn
seed: 0
data: {name: digits, validation_split: 0.2}
model: {type: cnn, blocks: [{filters: 4, kernel_size: 3, pool: max, pool_size: 2}], dense: [16]}
training: {epochs: 1, batch_size: 64, optimizer: {name: adam, learning_rate: 0.003}}
"""


def _train(tmp_path, capsys, text: str, name: str = "e.yaml", data_dir: Path | None = None) -> list[Path]:
    out = tmp_path / "out"
    before = set(run_folders(out)) if out.exists() else set()
    args = ["train", write_experiment(tmp_path / name, text), "-o", out, "-q"]
    code, _, err = run_cli([*args, *(["--data-dir", data_dir] if data_dir else [])], capsys)
    assert code == 0, err
    return sorted(set(run_folders(out)) - before)


def _predict_json(capsys, *args) -> dict:
    code, out, err = run_cli(["predict", *args, "--format", "json"], capsys)
    assert code == 0, err
    return json.loads(out)


def _bad(capsys, *args) -> str:
    """A refused predict: exit 2, one line on stderr, no traceback."""
    code, out, err = run_cli(["predict", *args], capsys)
    assert code == 2, (code, out, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _png(path: Path, pixels: np.ndarray) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(pixels, np.uint8).squeeze()).save(path)
    return path


# --------------------------------------------------------------------------------------------
# The run's own splits reproduce the recorded metrics exactly


def _train_here(folder: Path, text: str) -> Path:
    """Train one run with the library (a module fixture has no capsys for the CLI)."""
    from nnx.config import load_experiment
    from nnx.runner import run_experiment

    (outcome,) = run_experiment(load_experiment(write_experiment(folder / "e.yaml", text)), output_dir=folder / "out")
    assert outcome.status == "completed", outcome.error
    return outcome.folder


@pytest.fixture(scope="module")
def digits_mlp(tmp_path_factory):
    """A tiny MLP on the bundled digits, trained once for the tests of this module."""
    return _train_here(tmp_path_factory.mktemp("mlp"), QUICK)


@pytest.fixture(scope="module")
def table_lda(tmp_path_factory):
    """LDA (closed form) on a small table written here: (run folder, the table)."""
    folder = tmp_path_factory.mktemp("table")
    table = _table_file(folder / "t.csv")
    return _train_here(folder, f"name: t\ndata: {{name: table, path: {table}, target: y}}\nmodel: {{type: lda}}\n"), table


def test_training_writes_the_preprocessing_record(digits_mlp):
    record = json.loads((digits_mlp / "preprocessing.json").read_text())
    assert record["kind"] == "image" and record["image_size"] == [8, 8] and record["channels"] == 1
    assert record["classes"] == [str(d) for d in range(10)] and record["scale"] == 255.0
    assert record["resize"] == "stretch" and record["input_shape"] == [8, 8, 1]


@pytest.mark.parametrize("split,recorded", [("test", "test"), ("val", "validation")])
def test_mlp_split_equals_the_recorded_accuracy(digits_mlp, capsys, split, recorded):
    result = _predict_json(capsys, digits_mlp, "--split", split)
    summary = json.loads((digits_mlp / "summary.json").read_text())
    assert result["metrics"]["accuracy"] == summary[recorded]["accuracy"]
    assert result["recorded"]["accuracy"] == summary[recorded]["accuracy"]
    assert len(result["predictions"]) == summary["data"][recorded]
    # the rows say the same: the share of predictions equal to the truth is the accuracy
    rows = result["predictions"]
    assert sum(r["prediction"] == r["true"] for r in rows) / len(rows) == summary[recorded]["accuracy"]


def test_cnn_split_equals_the_recorded_accuracy(tmp_path, capsys):
    (run,) = _train(tmp_path, capsys, CNN)
    result = _predict_json(capsys, run, "--split", "test")
    assert result["metrics"]["accuracy"] == json.loads((run / "summary.json").read_text())["test"]["accuracy"]


def _table_file(path: Path, rows: int = 240, seed: int = 0) -> Path:
    """A small table: a binary target of two numeric columns and one categorical."""
    rng = np.random.default_rng(seed)
    lines = ["y,colour,a,b"]
    for _ in range(rows):
        colour = rng.choice(["red", "green", "blue"])
        a, b = rng.normal(size=2)
        y = "yes" if a + 0.5 * b + (colour == "red") + 0.3 * rng.normal() > 0.5 else "no"
        lines.append(f"{y},{colour},{a * 10 + 50:.4f},{b:.4f}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_closed_form_split_equals_the_recorded_accuracy_and_rows_of_a_file(table_lda, capsys):
    run, table = table_lda
    summary = json.loads((run / "summary.json").read_text())
    result = _predict_json(capsys, run, "--split", "test")
    assert result["metrics"]["accuracy"] == summary["test"]["accuracy"]
    assert any("fitted again" in n for n in result["notes"])
    # the training file itself: every row predicted, with its true class (the file has the target)
    rows = _predict_json(capsys, run, table)["predictions"]
    assert len(rows) == 240 and set(rows[0]) == {"input", "prediction", "p(yes)", "true"}
    assert all(0 <= r["p(yes)"] <= 1 and r["prediction"] in ("yes", "no") for r in rows)
    assert all((r["p(yes)"] > 0.5) == (r["prediction"] == "yes") for r in rows)


def test_rnn_on_a_text_column_split_and_new_reviews(tmp_path, capsys):
    rng = np.random.default_rng(1)
    good, bad = ["great", "moving", "wonderful", "fine"], ["dull", "awful", "boring", "bad"]
    lines = ["review,label"]
    for _ in range(160):
        positive = rng.random() < 0.5
        words = list(rng.choice(good if positive else bad, 4)) + list(rng.choice(["film", "plot", "the"], 3))
        lines.append(f"{' '.join(rng.permutation(words))},{'pos' if positive else 'neg'}")
    (tmp_path / "reviews.csv").write_text("\n".join(lines) + "\n")
    (run,) = _train(tmp_path, capsys, "name: r\ndata: {name: table, path: reviews.csv, target: label, text: review, "
                    "representation: sequence, maxlen: 8, num_words: 20}\nmodel: {type: rnn, embedding: 4, units: 4}\n"
                    "training: {epochs: 2, batch_size: 32}\n")
    summary = json.loads((run / "summary.json").read_text())
    assert _predict_json(capsys, run, "--split", "test")["metrics"]["accuracy"] == summary["test"]["accuracy"]
    result = _predict_json(capsys, run, "--text", "a wonderful moving film", "--text", "dull and boring")
    assert [r["input"] for r in result["predictions"]] == ["a wonderful moving film", "dull and boring"]
    assert all(0 <= r["p(pos)"] <= 1 for r in result["predictions"])
    file = tmp_path / "new.txt"
    file.write_text("great great film\nawful plot\n")
    assert len(_predict_json(capsys, run, file)["predictions"]) == 2
    # refused: an empty review, in --text or as a line of a file
    assert "empty review" in _bad(capsys, run, "--text", "   ")
    file.write_text("great film\n\nawful\n")
    assert "line 2 is an empty review" in _bad(capsys, run, file)


def test_ensemble_split_equals_its_recorded_accuracy(digits_mlp, tmp_path, capsys):
    members = [digits_mlp, *_train(tmp_path, capsys, QUICK.replace("seed: 0", "seed: 1"))]
    code, _, err = run_cli(["ensemble", *members, "-o", tmp_path / "ens"], capsys)
    assert code == 0, err
    (folder,) = run_folders(tmp_path / "ens")
    assert (folder / "preprocessing.json").is_file()
    result = _predict_json(capsys, folder, "--split", "test")
    assert result["metrics"]["accuracy"] == json.loads((folder / "summary.json").read_text())["test"]["accuracy"]
    # its members' mean, by the one interface
    member_outputs = [predict(m, split="test").outputs for m in members]
    from nnx.ensemble import combine

    assert np.allclose(predict(folder, split="test").outputs, combine(member_outputs, "classification"), atol=1e-5)
    assert "different examples" in _bad(capsys, folder, "--split", "train")


# --------------------------------------------------------------------------------------------
# Image files


def test_png_files_predict_as_the_arrays_of_an_image_folder_run(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for c, name in enumerate(["dark", "light"]):
        for i in range(30):
            _png(tmp_path / "imgs" / name / f"{i:03d}.png", rng.integers(0, 120, (6, 6)) + 120 * c)
    (run,) = _train(tmp_path, capsys, "name: f\ndata: {name: image_folder, path: imgs, image_size: [6, 6], "
                    "color: grayscale, test_split: 0.3}\nmodel: {type: mlp, hidden: [8]}\n"
                    "training: {epochs: 2, batch_size: 16}\n")
    opened = open_run(run)
    x, _ = opened.split("test")
    files = [_png(tmp_path / "new" / f"{i:03d}.png", np.rint(img * 255)) for i, img in enumerate(x)]
    from_files = predict(run, [tmp_path / "new"])
    from_arrays = predict(run, split="test")
    assert [Path(n).name for n in from_files.names] == [f.name for f in files]
    np.testing.assert_array_equal(from_files.predicted, from_arrays.predicted)
    np.testing.assert_allclose(from_files.outputs, from_arrays.outputs, rtol=1e-6)
    assert from_files.classes == ["dark", "light"]


def test_real_mnist_pngs_predict_the_labels_of_the_arrays(tmp_path, capsys, real_data_dir):
    """PNG files written from MNIST's own test images (uint8, as the IDX file holds them) give the
    predictions of the test arrays: the record's /255 and 28x28 grayscale are MNIST's."""
    from nnx.data.idx import read_idx

    (run,) = _train(tmp_path, capsys, "name: m\ndata: {name: mnist, train_subset: 1000}\n"
                    "model: {type: mlp, hidden: [16]}\ntraining: {epochs: 1, batch_size: 128}\n",
                    data_dir=real_data_dir)
    images = read_idx(real_data_dir / "mnist" / "t10k-images-idx3-ubyte.gz")[:40]
    for i, image in enumerate(images):
        _png(tmp_path / "pngs" / f"{i:05d}.png", image)
    from_files = predict(run, [tmp_path / "pngs"])
    from_arrays = predict(run, split="test", data_dir=real_data_dir)
    np.testing.assert_array_equal(from_files.predicted, from_arrays.predicted[:40])
    assert from_files.notes == []  # 28x28 gray: nothing to change


def test_another_size_is_resized_and_colour_converted_with_a_note(digits_mlp, tmp_path, capsys):
    rgb = _png(tmp_path / "big.png", np.random.default_rng(0).integers(0, 255, (16, 20, 3)))
    code, out, err = run_cli(["predict", digits_mlp, rgb, "--top", "2"], capsys)
    assert code == 0, err
    assert "20x16 resized to 8x8 (stretch" in err and "colour converted to grayscale" in err
    assert "big.png" in out
    result = _predict_json(capsys, digits_mlp, rgb, "--top", "2")
    row = result["predictions"][0]
    assert set(row) == {"input", "prediction", "probability", "top2", "probability2"}
    assert row["probability"] >= row["probability2"]


def test_csv_and_json_to_a_file(digits_mlp, tmp_path, capsys):
    out = tmp_path / "p.csv"
    code, _, err = run_cli(["predict", digits_mlp, "--split", "test", "-o", out], capsys)
    assert code == 0, err
    lines = out.read_text().splitlines()
    assert lines[0] == "input,prediction,probability,top2,probability2,top3,probability3,true"
    assert len(lines) == 1 + json.loads((digits_mlp / "summary.json").read_text())["data"]["test"]
    as_json, as_text = tmp_path / "p.json", tmp_path / "p.txt"
    for path in (as_json, as_text):
        code, out, err = run_cli(["predict", digits_mlp, "--split", "test", "-o", path], capsys)
        assert code == 0 and out == "", err
    assert len(json.loads(as_json.read_text())["predictions"]) == len(lines) - 1
    assert "test[0]" in as_text.read_text() and f"test[{len(lines) - 2}]" in as_text.read_text()  # every row


def test_a_folder_without_preprocessing_json_rebuilds_it_from_the_data_spec(digits_mlp, tmp_path, capsys):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(digits_mlp, old)
    (old / "preprocessing.json").unlink()
    png = _png(tmp_path / "d.png", np.zeros((8, 8)))
    result = _predict_json(capsys, old, png)
    assert any("rebuilt from the data section" in n for n in result["notes"])
    assert result["predictions"][0]["prediction"] == _predict_json(capsys, digits_mlp, png)["predictions"][0]["prediction"]


# --------------------------------------------------------------------------------------------
# Bad inputs: one line, exit 2


def test_bad_inputs_to_an_image_run(digits_mlp, tmp_path, capsys):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    assert "broken.png" in _bad(capsys, digits_mlp, broken)
    assert "no such file" in _bad(capsys, digits_mlp, tmp_path / "nothere.png")
    (tmp_path / "empty").mkdir()
    assert "without files" in _bad(capsys, digits_mlp, tmp_path / "empty")
    assert "not text" in _bad(capsys, digits_mlp, "--text", "hello")
    assert "nothing to predict" in _bad(capsys, digits_mlp)
    assert "without INPUTS" in _bad(capsys, digits_mlp, broken, "--split", "test")
    assert "give a run folder" in _bad(capsys)


def test_bad_run_folders(digits_mlp, tmp_path, capsys):
    assert "no such run folder" in _bad(capsys, tmp_path / "nope", "--split", "test")
    (tmp_path / "plain").mkdir()
    assert "not a run folder" in _bad(capsys, tmp_path / "plain", "--split", "test")
    import shutil

    damaged = tmp_path / "damaged"
    shutil.copytree(digits_mlp, damaged)
    (damaged / "preprocessing.json").write_text("{not json")
    assert "preprocessing.json: unreadable" in _bad(capsys, damaged, "--split", "test")
    failed = tmp_path / "failed"
    shutil.copytree(digits_mlp, failed)
    (failed / "summary.json").unlink()
    (failed / "status.json").write_text(json.dumps({"status": "failed", "reason": "x"}))
    assert "not completed" in _bad(capsys, failed, "--split", "test")


def test_bad_inputs_to_a_table_run(table_lda, tmp_path, capsys):
    run, _ = table_lda
    good = tmp_path / "new.csv"
    good.write_text("colour,a,b\nred,50,0.1\nblue,40,-1\n")
    rows = _predict_json(capsys, run, good)["predictions"]
    assert [r["input"] for r in rows] == ["new.csv row 1", "new.csv row 2"] and "true" not in rows[0]
    missing = tmp_path / "missing.csv"
    missing.write_text("colour,a\nred,50\n")
    assert "no column 'b'" in _bad(capsys, run, missing)
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("colour,a,b\npurple,50,0.1\n")
    assert "'purple'" in (line := _bad(capsys, run, unknown)) and "colour" in line
    png = _png(tmp_path / "x.png", np.zeros((4, 4)))
    assert "not a .csv" in _bad(capsys, run, png)


def test_every_data_family_records_its_preprocessing():
    """A new data family without a hook would train runs that nnx predict cannot feed."""
    from nnx import data

    missing = [name for name in data.names() if data.family(name).preprocessing is None]
    assert missing == []


def test_a_time_series_run_predicts_its_own_splits_only(tmp_path, capsys):
    (run,) = _train(tmp_path, capsys, "name: s\ndata: {name: nyse, lags: 2}\nmodel: {type: linear_regression}\n")
    table = tmp_path / "days.csv"
    table.write_text("DJ_return,log_volume,log_volatility\n0,0,0\n")
    assert "--split" in _bad(capsys, run, table)
    result = _predict_json(capsys, run, "--split", "test")
    assert result["metrics"]["mse"] == pytest.approx(json.loads((run / "summary.json").read_text())["test"]["mse"],
                                                     rel=1e-6)
    assert set(result["predictions"][0]) == {"input", "value", "true"}


def test_imdb_runs_read_reviews_by_their_vocabulary(tmp_path, capsys):
    """A tiny aclImdb folder (tests/test_text.py's corpus): the record keeps the vocabulary; a
    closed-form lasso and a bag-of-words network both answer new reviews, one longer than any
    training review (a bag's width is padding)."""
    from .test_text import GOOD, _corpus, _write_folder

    _write_folder(tmp_path, {"train": _corpus(30, seed=1), "test": _corpus(10, seed=2)})
    runs = _train(tmp_path, capsys, "name: b\ndata: {name: imdb, num_words: 40}\nmodel: {type: bow_mlp}\n"
                  "training: {epochs: 3, batch_size: 16, optimizer: {name: adam, learning_rate: 0.01}}\n"
                  "variants:\n  nn: {}\n  lasso: {model: {type: logistic_sparse, penalty: l1, C: 10}}\n",
                  data_dir=tmp_path)
    lasso = next(r for r in runs if r.name.endswith("lasso"))
    record = json.loads((lasso / "preprocessing.json").read_text())
    assert record["kind"] == "text" and set(GOOD) <= set(record["words"]) and record["classes"] == ["negative", "positive"]
    long_review = " ".join(record["words"]) + " and some words it never saw"
    for run in runs:
        rows = _predict_json(capsys, run, "--text", "Loved it, wonderful!", "--text", "awful, boring, hated it",
                             "--text", long_review, "--data-dir", tmp_path)["predictions"]
        assert set(rows[0]) == {"input", "prediction", "p(positive)"}
        if run == lasso:  # test accuracy 1.0 on this corpus: its words decide
            assert rows[0]["prediction"] == "positive" and rows[1]["prediction"] == "negative"
    assert "empty review" in _bad(capsys, lasso, "--text", "")
    assert "not text" not in _bad(capsys, lasso, tmp_path / "nothere.txt")
