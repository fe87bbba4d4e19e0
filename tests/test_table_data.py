"""`data: {name: table}`: your own CSV, TSV or Parquet file, on tiny files the tests write."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nnx import data
from nnx.data import imdb, table
from nnx.errors import DataError
from tests.helpers import run_cli, run_folders, write_experiment

HEADER = "default,student,balance,income"
ROWS = [("No", "No", 700.0, 40000.0), ("Yes", "Yes", 2100.0, 15000.0), ("No", "Yes", 900.0, 12000.0),
        ("No", "No", 300.0, 52000.0), ("Yes", "No", 1900.0, 38000.0), ("No", "No", 1100.0, 30000.0),
        ("No", "Yes", 500.0, 9000.0), ("Yes", "Yes", 2300.0, 14000.0), ("No", "No", 800.0, 61000.0),
        ("No", "No", 100.0, 45000.0)]


def write_csv(path: Path, rows=ROWS, header=HEADER, sep=",") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [header.replace(",", sep)] + [sep.join("" if v is None else str(v) for v in r) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def spec(path, **keys):
    return table.TableSpec(name="table", path=path, target=keys.pop("target", "default"), **keys)


def load(path, seed=0, **keys):
    return data.load(spec(path, **keys), seed=seed)


# --------------------------------------------------------------------------------------------
# Formats, preprocessing, labels


def test_csv_tsv_and_parquet_give_the_same_arrays(tmp_path):
    csv = write_csv(tmp_path / "d.csv")
    tsv = write_csv(tmp_path / "d.tsv", sep="\t")
    parquet = tmp_path / "d.parquet"
    pd.read_csv(csv).to_parquet(parquet)
    loaded = [load(p, validation_split=0.0) for p in (csv, tsv, parquet)]
    for other in loaded[1:]:
        np.testing.assert_array_equal(other.x_train, loaded[0].x_train)
        np.testing.assert_array_equal(other.y_test, loaded[0].y_test)
        assert other.meta["preprocessing"] == loaded[0].meta["preprocessing"]
    assert loaded[2].meta["source"]["format"] == "parquet"


def test_labels_are_kept_by_name_and_the_preprocessing_is_plain_json(tmp_path):
    d = load(write_csv(tmp_path / "d.csv"), validation_split=0.0, test_split=0.3)
    assert d.info == data.DataInfo((4,), "binary", 2)
    assert d.meta["classes"] == ["No", "Yes"] and d.y_train.dtype == np.int32
    p = d.meta["preprocessing"]
    assert p["columns"] == ["student[No]", "student[Yes]", "balance", "income"]
    assert p["classes"] == ["No", "Yes"] and p["task"] == "binary" and p["target"] == "default"
    assert json.loads(json.dumps(d.meta)) == d.meta
    assert d.sizes() == {"train": 7, "validation": 0, "test": 3}
    # One split for every run seed (split_seed), a different one with another split_seed.
    again = load(write_csv(tmp_path / "d.csv"), seed=5, validation_split=0.0, test_split=0.3)
    np.testing.assert_array_equal(again.x_test, d.x_test)
    other = load(tmp_path / "d.csv", validation_split=0.0, test_split=0.3, split_seed=3)
    assert not np.array_equal(other.x_test, d.x_test)


def test_one_hot_and_standardization_are_fitted_on_the_training_part_only(tmp_path):
    train = write_csv(tmp_path / "train.csv", ROWS[:6])
    test = write_csv(tmp_path / "test.csv", [("No", "Maybe", 5000.0, 1.0), ("Yes", "No", 700.0, 40000.0)])
    d = load(train, test_path=test, validation_split=0.0, unknown_category="ignore")
    p = d.meta["preprocessing"]
    balance = np.array([r[2] for r in ROWS[:6]])
    student, bal = p["features"][0], p["features"][1]
    assert student == {"column": "student", "kind": "categorical", "categories": ["No", "Yes"]}
    assert bal["mean"] == pytest.approx(balance.mean()) and bal["sd"] == pytest.approx(balance.std())
    np.testing.assert_allclose(d.x_train[:, 2].mean(), 0, atol=1e-6)
    np.testing.assert_allclose(d.x_test[:, 2], (np.array([5000.0, 700.0]) - balance.mean()) / balance.std(), rtol=1e-5)
    np.testing.assert_array_equal(d.x_test[:, :2], [[0, 0], [1, 0]])  # 'Maybe' unseen: an all-zero row
    np.testing.assert_array_equal(table.transform(p, pd.read_csv(test)), d.x_test)  # what predict will call
    with pytest.raises(DataError, match=r"test.csv: column 'student' has category 'Maybe' at row 1 \(line 2\), "
                                        r"which the training part does not have \(No, Yes\); set "
                                        r"data.unknown_category: ignore"):
        load(train, test_path=test)  # the default rule: error


def test_the_auto_rules_for_categories_and_tasks(tmp_path):
    rows = [(i % 3, "ab"[i % 2], i % 4, float(i) + 0.5, i * 7) for i in range(30)]
    path = write_csv(tmp_path / "t.csv", rows, header="grade,letter,level,score,count")
    d = load(path, target="grade", validation_split=0.0)
    assert d.info.task == "classification" and d.info.num_classes == 3 and d.meta["classes"] == [0, 1, 2]
    kinds = {f["column"]: f["kind"] for f in d.meta["preprocessing"]["features"]}
    assert kinds == {"letter": "categorical", "level": "categorical", "score": "numeric", "count": "numeric"}
    assert d.info.input_shape == (2 + 4 + 1 + 1,)
    assert load(path, target="score").info.task == "regression"
    assert load(path, target="count").info.task == "regression"  # 30 distinct integers > max_levels
    assert load(path, target="level", max_levels=3).info.task == "regression"  # 4 levels > 3
    listed = load(path, target="grade", categorical=["letter"])
    assert {f["column"]: f["kind"] for f in listed.meta["preprocessing"]["features"]}["level"] == "numeric"
    assert load(path, target="grade", task="regression").info.task == "regression"
    with pytest.raises(DataError, match="data.task is binary but the target 'grade' has 3 classes"):
        load(path, target="grade", task="binary")
    assert load(path, target="letter", features=["score"]).info == data.DataInfo((1,), "binary", 2)


def test_missing_values_by_each_rule(tmp_path):
    rows = [list(r) for r in ROWS]
    rows[3][2] = None        # balance of data row 4
    rows[5][1] = None        # student of data row 6
    path = write_csv(tmp_path / "m.csv", rows)
    with pytest.raises(DataError, match=r"m.csv: column 'balance' has no value at row 4 \(line 5\); fill it in, "
                                        r"or set data.missing: drop"):
        load(path)
    dropped = load(path, missing="drop", validation_split=0.0, test_split=0.25)
    assert dropped.meta["source"]["dropped_missing"] == 2 and dropped.sizes()["train"] + 2 == 8
    filled = load(path, missing="mean", validation_split=0.0, test_split=0.1)
    p = {f["column"]: f for f in filled.meta["preprocessing"]["features"]}
    assert p["student"]["fill"] == "No"  # the most frequent training category
    train_rows = len(filled.x_train) + len(filled.x_test)
    assert train_rows == 10 and not np.isnan(filled.x_train).any()
    x_all = np.concatenate([filled.x_train, filled.x_test])
    assert (x_all[:, 2] == 0).any()  # the training mean, standardized, is 0
    target_missing = [list(r) for r in ROWS]
    target_missing[2][0] = None
    path = write_csv(tmp_path / "t.csv", target_missing)
    with pytest.raises(DataError, match=r"the target 'default' has no value at row 3 \(line 4\)"):
        load(path, missing="mean")


def test_a_text_column_goes_through_imdbs_tokenizer_and_vocabulary(tmp_path):
    reviews = [("pos", "A <b>great</b> film, great acting"), ("neg", "a dull film"), ("pos", "Great fun!"),
               ("neg", "dull and slow"), ("pos", "fun, fun, fun"), ("neg", "slow; so slow"),
               ("pos", "great great"), ("neg", "not fun")]
    frame = pd.DataFrame(reviews, columns=["sentiment", "review"]).assign(stars=range(8))
    path = tmp_path / "reviews.parquet"
    frame.to_parquet(path)
    for representation in ("bow", "sequence"):
        keys = dict(target="sentiment", text="review", num_words=6, maxlen=4, representation=representation,
                    test_split=0.25, validation_split=0.0)
        d = load(path, **keys)
        s = spec(path, **keys)
        assert d.info == data.info_for(s) and d.info.vocab_size == 6 + 2 and d.info.task == "binary"
        assert d.meta["classes"] == ["neg", "pos"]
        order = np.random.default_rng(0).permutation(8)
        test_rows, train_rows = np.sort(order[:2]), np.sort(order[2:])
        texts = {"train": ([reviews[i][1] for i in train_rows], d.y_train),
                 "test": ([reviews[i][1] for i in test_rows], d.y_test)}
        expected = imdb.process(texts, s)  # exactly the IMDB loader's processing
        shuffled = np.random.default_rng(0).permutation(6)  # make_dataset's draw of the (empty) validation split
        np.testing.assert_array_equal(d.x_train, expected["x_train"][shuffled])
        np.testing.assert_array_equal(d.x_test, expected["x_test"])
        p = d.meta["preprocessing"]
        assert p["text"] == "review" and p["words"] == list(expected["words"]) and p["representation"] == representation
        np.testing.assert_array_equal(table.transform_text(p, texts["test"][0]), d.x_test)


def test_the_path_is_found_beside_the_experiment_or_in_the_data_folders(tmp_path, monkeypatch, capsys):
    from nnx.config import load_experiment

    write_csv(tmp_path / "shared" / "islp" / "D.csv")
    (tmp_path / "exp").mkdir()
    body = ("data: {name: table, path: islp/D.csv, target: default}\nmodel: {type: lda}\n")
    exp = write_experiment(tmp_path / "exp" / "x.yaml", body)
    with pytest.raises(DataError, match=r"exp/islp/D.csv: no such file \(data.path\); a relative path is looked for "
                                        "beside the experiment file, then in the data folders"):
        load_experiment(exp)
    assert load_experiment(exp, data_dir=tmp_path / "shared").runs[0].data.path == tmp_path / "shared/islp/D.csv"
    monkeypatch.setenv("NNX_DATA_DIR", str(tmp_path / "shared"))
    assert load_experiment(exp).runs[0].data.path == tmp_path / "shared/islp/D.csv"
    write_csv(tmp_path / "exp" / "islp" / "D.csv")  # beside the experiment file comes first
    assert load_experiment(exp).runs[0].data.path == tmp_path / "exp/islp/D.csv"


# --------------------------------------------------------------------------------------------
# Through the CLI: a table experiment trains, counts, and refuses bad input in one line


def experiment(folder: Path, data_keys: str, model: str = "{type: logistic}") -> Path:
    return write_experiment(folder / "x.yaml", f"name: t\ndata: {{name: table, {data_keys}}}\nmodel: {model}\n"
                                               "training: {epochs: 2, batch_size: 4}\n")


def test_a_table_experiment_trains_and_counts(tmp_path, capsys):
    write_csv(tmp_path / "d.csv", ROWS * 3)
    exp = experiment(tmp_path, "path: d.csv, target: default, validation_split: 0.25")
    code, out, err = run_cli(["count-params", exp], capsys)
    assert code == 0 and "Total params: 5" in out, err  # 4 inputs (student one-hot, balance, income) + 1
    code, out, err = run_cli(["train", exp, "-o", tmp_path / "out", "-q"], capsys)
    assert code == 0, err
    (run,) = run_folders(tmp_path / "out")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["data_meta"]["classes"] == ["No", "Yes"] and "auc" in summary["test"]
    assert summary["data_meta"]["preprocessing"]["columns"][0] == "student[No]"


def test_lda_fits_a_binary_table_with_one_logit(tmp_path):
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    from nnx import models
    from nnx.train import tasks

    d = load(write_csv(tmp_path / "d.csv", ROWS * 3), validation_split=0.0)
    model = models.family("lda").make(models.family("lda").spec(type="lda"), d.info).impl.fit(d)
    scores = model.predict_scores(d.x_test)
    reference = LinearDiscriminantAnalysis().fit(d.x_train.astype(np.float64), d.y_train)
    log_p = reference.predict_log_proba(d.x_test.astype(np.float64))
    assert scores.shape == (len(d.x_test), 1)
    np.testing.assert_allclose(scores[:, 0], log_p[:, 1] - log_p[:, 0], rtol=1e-6, atol=1e-6)
    metrics = tasks.score(tasks.BINARY, scores, d.y_test)
    assert metrics["accuracy"] == pytest.approx((reference.predict(d.x_test.astype(np.float64)) == d.y_test).mean())


def _bad(tmp_path):
    """name -> (data keys, files to write, what the one-line message must say)."""
    one_class = [("No",) + r[1:] for r in ROWS]
    typo = [list(r) for r in ROWS]
    typo[6][3] = "12,000"  # quoted below: a number with a thousands comma, in a numeric column
    return {
        "missing file": ("path: nope.csv, target: default", {}, r"nope.csv: no such file \(data.path\)"),
        "malformed csv": ("path: d.csv, target: default", {"d.csv": HEADER + "\nNo,No,1,2\nNo,No,1,2,3,4\n"},
                          r"d.csv: cannot read it as CSV \(.*Expected 4 fields in line 3, saw 6"),
        "not parquet": ("path: d.parquet, target: default", {"d.parquet": "this is not parquet"},
                        r"d.parquet: cannot read it as PARQUET"),
        "empty file": ("path: d.csv, target: default", {"d.csv": ""}, r"d.csv: the file is empty"),
        "header only": ("path: d.csv, target: default", {"d.csv": HEADER + "\n"}, r"d.csv: no rows, only the header"),
        "unknown target": ("path: d.csv, target: defualt", {"d.csv": None},
                           r"d.csv: no column 'defualt' \(data.target\); its columns are default, student, balance, "
                           r"income \(did you mean 'default'\?\)"),
        "unknown feature": ("path: d.csv, target: default, features: [balanse]", {"d.csv": None},
                            r"no column 'balanse' \(data.features\).*did you mean 'balance'"),
        "one class": ("path: d.csv, target: default", {"d.csv": one_class},
                      r"the target 'default' has one class \('No'\) in the training part"),
        "unseen category": ("path: d.csv, target: default, test_path: t.csv",
                            {"d.csv": None, "t.csv": [("No", "Maybe", 1.0, 2.0)]},
                            r"t.csv: column 'student' has category 'Maybe' at row 1 \(line 2\)"),
        "missing value": ("path: d.csv, target: default", {"d.csv": [ROWS[0], ("No", "No", None, 5.0), *ROWS[2:]]},
                          r"d.csv: column 'balance' has no value at row 2 \(line 3\)"),
        "non-numeric": ("path: d.csv, target: default", {"d.csv": [tuple(f'"{v}"' if v == "12,000" else v for v in r)
                                                                    for r in typo]},
                        r"d.csv: column 'income' holds numbers but row 7 \(line 8\) has '12,000'; fix the value"),
        "text not text": ("path: d.csv, target: default, text: balance", {"d.csv": None},
                          r"the text column 'balance' holds float values, not text"),
    }


@pytest.mark.parametrize("case", ["missing file", "malformed csv", "not parquet", "empty file", "header only",
                                  "unknown target", "unknown feature", "one class", "unseen category",
                                  "missing value", "non-numeric", "text not text"])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case, tmp_path, capsys):
    keys, files, message = _bad(tmp_path)[case]
    for name, content in files.items():
        if content is None or isinstance(content, list):
            write_csv(tmp_path / name, ROWS if content is None else content)
        else:
            (tmp_path / name).write_text(content)
    exp = experiment(tmp_path, keys)
    for command in (["train", exp, "-o", tmp_path / "out"], ["count-params", exp]):
        code, out, err = run_cli(command, capsys)
        assert code == 2, (case, out, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
        assert re.search(message, err), (case, err)
    assert not (tmp_path / "out").exists()


def test_bad_keys_are_config_errors_at_their_line(tmp_path, capsys):
    exp = experiment(tmp_path, "path: d.xlsx, target: default")
    code, _, err = run_cli(["train", exp, "--dry-run"], capsys)
    assert code == 2 and "x.yaml:2" in err and "'d.xlsx' is not a .csv, .tsv or .parquet file" in err
    write_csv(tmp_path / "d.csv")
    exp = experiment(tmp_path, "path: d.csv, target: default, text: student, features: [balance]")
    code, _, err = run_cli(["train", exp, "--dry-run"], capsys)
    assert code == 2 and "with text: the text column is the only feature" in err


@pytest.mark.realdata
def test_islp_default(real_data_dir, capsys, tmp_path):
    from tests.conftest import EXPERIMENTS

    code, out, err = run_cli(["train", EXPERIMENTS / "default.yaml", "--data-dir", real_data_dir, "--only", "lda",
                              "-o", tmp_path / "out", "-q"], capsys)
    assert code == 0, err
    (run,) = run_folders(tmp_path / "out")
    summary = json.loads((run / "summary.json").read_text())
    meta = summary["data_meta"]
    assert meta["classes"] == ["No", "Yes"] and meta["source"]["rows"] == 10_000
    assert meta["split"] == {"test_split": 0.2, "split_seed": 0, "train_rows": 8000, "test_rows": 2000}
    assert summary["test"]["error"] < 0.035  # below the 3.33% of always answering No


def test_count_params_and_nnx_config_find_a_table_through_data_dir(tmp_path, capsys, monkeypatch):
    # A relative data path that is not beside the experiment is looked for in --data-dir, as nnx train does.
    from .helpers import run_cli, write_default_stand_in

    monkeypatch.delenv("NNX_DATA_DIR", raising=False)
    data = tmp_path / "data"
    write_default_stand_in(data)
    (tmp_path / "exp").mkdir()
    exp = tmp_path / "exp" / "d.yaml"
    exp.write_text("data: {name: table, path: islp/Default.csv, target: default}\nmodel: {type: logistic}\n")
    code, out, err = run_cli(["count-params", exp, "--data-dir", data], capsys)
    assert code == 0 and "Total params: 5" in out, err  # balance, income and student's two levels, + bias
    code, out, err = run_cli(["config", exp, "--data-dir", data], capsys)
    assert code == 0 and str(data / "islp" / "Default.csv") in out, err
    code, _, err = run_cli(["count-params", exp], capsys)
    assert code == 2 and "no such file" in err
