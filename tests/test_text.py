"""Text data and models: tokenizer, vocabulary, padding, IMDB readers and cache, the gathered
bag-of-words layer, sparse logistic regression, and the recurrent family."""

from __future__ import annotations

import gzip
import io
import json
import tarfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from nnx.config import parse_experiment
from nnx.data import imdb, load, text
from nnx.data.imdb import ImdbSpec as ImdbDataSpec
from nnx.errors import ConfigError, DataError

# --------------------------------------------------------------------------------------------
# Tokenizer and vocabulary


def test_tokenizer_strips_markup_case_and_punctuation():
    tokenize = text.Tokenizer()
    assert tokenize("This movie was<br /><br />GREAT, really... great! Don't miss it.") == [
        "this", "movie", "was", "great", "really", "great", "don't", "miss", "it"]
    raw = text.Tokenizer(lowercase=False, strip_html=False, strip_punctuation=False)
    assert raw("Bad<br />film, BAD.") == ["Bad<br", "/>film,", "BAD."]


def test_bigrams_follow_the_words():
    assert text.bigrams(["not", "good", "at", "all"]) == ["not good", "good at", "at all"]
    assert text.bigrams(["alone"]) == []
    assert text.Tokenizer(bigrams=True)("Not good.") == ["not", "good", "not good"]


def test_vocabulary_ranks_by_frequency_and_breaks_ties_alphabetically():
    docs = [["b", "a", "c", "c"], ["d", "a", "b", "c"], ["e"]]
    # counts: c 3, a 2, b 2, d 1, e 1 -> ties a/b and d/e go alphabetically
    vocab = text.Vocabulary.build(docs, num_words=4)
    assert vocab.words == ["c", "a", "b", "d"]
    assert vocab.size == 6  # PAD, OOV and four words
    assert vocab.encode(["a", "e", "zzz", "c"]) == [3, text.OOV, text.OOV, 2]
    assert vocab.decode([0, 1, 2]) == ["<pad>", "<oov>", "c"]
    # the same corpus in another order gives the same vocabulary
    assert text.Vocabulary.build(docs[::-1], num_words=4).words == vocab.words


def test_sequences_keep_the_last_words_and_pad_at_the_front():
    x = text.pad_sequences([[5, 6, 7, 8, 9], [5, 6], []], maxlen=3)
    assert x.dtype == np.int32
    np.testing.assert_array_equal(x, [[7, 8, 9], [0, 5, 6], [0, 0, 0]])


def test_bag_of_words_is_the_distinct_in_vocabulary_ids():
    x = text.bag_of_words([[4, 2, 4, text.OOV, 3], [5]])
    np.testing.assert_array_equal(x, [[2, 3, 4], [5, 0, 0]])
    dense = text.bow_dense(x, vocab_size=6)
    np.testing.assert_array_equal(dense, [[0, 0, 1, 1, 1, 0], [0, 0, 0, 0, 0, 1]])
    csr = text.bow_csr(x, vocab_size=6)  # columns are ids - 2: the n x num_words design matrix
    np.testing.assert_array_equal(csr.toarray(), dense[:, 2:])
    with pytest.raises(ValueError, match="width"):
        text.bag_of_words([[2, 3, 4]], width=2)


# --------------------------------------------------------------------------------------------
# Readers on tiny files in each form

GOOD = ["great", "wonderful", "superb", "loved"]
BAD = ["awful", "boring", "terrible", "hated"]


def _corpus(n_per_class: int, seed: int):
    rng = np.random.default_rng(seed)
    reviews = []
    for label, words in ((0, BAD), (1, GOOD)):
        for i in range(n_per_class):
            picked = " ".join(rng.choice(words, 3))
            filler = " ".join(rng.choice(["the", "film", "plot", "actor", "scene"], 4))
            reviews.append((label, i, f"The {filler}<br />was {picked}!"))
    return reviews


def _write_folder(root, splits):
    for split, reviews in splits.items():
        for label, i, body in reviews:
            folder = root / "aclImdb" / split / ("pos" if label else "neg")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{i}_{8 if label else 2}.txt").write_text(body, encoding="utf-8")


def _write_archive(path, splits):
    with tarfile.open(path, "w:gz") as tar:
        def add(name, body):
            data = body.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        for split, reviews in splits.items():
            for label, i, body in reviews[::-1]:  # archive order must not matter
                add(f"aclImdb/{split}/{'pos' if label else 'neg'}/{i}_{8 if label else 2}.txt", body)
        add("aclImdb/train/unsup/0_0.txt", "unlabeled, skipped")
        add("aclImdb/README", "not a review")


def _write_jsonl(path, reviews):
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for label, i, body in reviews:
            f.write(json.dumps({"id": i, "rating": 8 if label else 2, "label": label, "text": body}) + "\n")


@pytest.fixture
def tiny_splits():
    return {"train": _corpus(30, seed=1), "test": _corpus(10, seed=2)}


def test_three_readers_agree(tmp_path, tiny_splits):
    _write_folder(tmp_path, tiny_splits)
    _write_archive(tmp_path / "aclImdb_v1.tar.gz", tiny_splits)
    for split in ("train", "test"):
        _write_jsonl(tmp_path / f"{split}.jsonl.gz", tiny_splits[split])
    folder = imdb.read_folder(tmp_path / "aclImdb")
    archive = imdb.read_archive(tmp_path / "aclImdb_v1.tar.gz")
    for split in ("train", "test"):
        texts, labels = imdb.read_jsonl(tmp_path / f"{split}.jsonl.gz")
        assert texts == [r[2] for r in tiny_splits[split]]
        for other in (folder, archive):
            assert other[split][0] == texts
            np.testing.assert_array_equal(other[split][1], labels)
    assert len(archive["train"][0]) == 60  # unsup/ and README skipped


def test_reader_errors_are_one_line_data_errors(tmp_path):
    bad = tmp_path / "bad.jsonl.gz"
    with gzip.open(bad, "wt") as f:
        f.write('{"text": "no label"}\n')
    with pytest.raises(DataError, match=r"bad.jsonl.gz:1: not a review record"):
        imdb.read_jsonl(bad)
    (tmp_path / "junk.tar.gz").write_bytes(b"not an archive")
    with pytest.raises(DataError, match="cannot read it as a tar.gz"):
        imdb.read_archive(tmp_path / "junk.tar.gz")


def test_loader_builds_vocabulary_from_train_only_and_caches(tmp_path, tiny_splits):
    tiny_splits["test"].append((1, 99, "zebra zebra zebra great"))  # a word only the test split has
    _write_folder(tmp_path, tiny_splits)
    spec = ImdbDataSpec(name="imdb", representation="sequence", maxlen=12, num_words=50, validation_split=0.25)
    data = load(spec, seed=0, data_dir=tmp_path)
    assert data.info.task == "binary" and data.info.input_shape == (12,)
    assert data.sizes() == {"train": 45, "validation": 15, "test": 21}
    assert data.x_train.dtype == np.int32
    meta = data.meta["preprocessing"]
    assert meta["vocab_size"] == data.info.vocab_size and meta["pad_id"] == 0 and meta["oov_id"] == 1
    assert data.meta["source"]["kind"] == "folder" and not data.meta["cache"]["hit"]
    np.testing.assert_array_equal(data.x_test[-1, -4:-1], [text.OOV] * 3)  # zebra is out of vocabulary
    assert (data.x_test[:, :3] == text.PAD).all()  # 9-word reviews: padding in front

    again = load(spec, seed=0, data_dir=tmp_path)
    assert again.meta["cache"]["hit"] and again.meta["cache"]["file"] == data.meta["cache"]["file"]
    np.testing.assert_array_equal(again.x_test, data.x_test)
    other = load(spec.model_copy(update={"maxlen": 6}), seed=0, data_dir=tmp_path)
    assert not other.meta["cache"]["hit"] and other.x_train.shape[1] == 6

    bow = load(ImdbDataSpec(name="imdb", num_words=50), seed=0, data_dir=tmp_path)
    assert bow.info.vocab_size == data.info.vocab_size
    assert all(len(set(row[row > 0])) == np.count_nonzero(row) for row in bow.x_train)  # distinct ids


def test_loader_checks_archive_checksum_and_reports_missing_data(tmp_path, tiny_splits, monkeypatch):
    monkeypatch.delenv("NNX_DATA_DIR", raising=False)  # only the test's own folder
    with pytest.raises(DataError, match="missing IMDB data.*NNX_NO_DOWNLOAD"):
        load(ImdbDataSpec(name="imdb"), data_dir=tmp_path)
    _write_archive(tmp_path / "aclImdb_v1.tar.gz", tiny_splits)
    with pytest.raises(DataError, match="checksum mismatch"):
        load(ImdbDataSpec(name="imdb"), data_dir=tmp_path)


def test_bigrams_only_with_bag_of_words():
    with pytest.raises(ConfigError, match="bigrams apply to representation: bow"):
        parse_experiment("data: {name: imdb, representation: sequence, bigrams: true}\nmodel: {type: rnn, embedding: 8}\n")


# --------------------------------------------------------------------------------------------
# Bag-of-words models


def test_gathered_first_layer_equals_the_dense_product():
    from nnx.models.text import BagOfWordsMLP

    vocab = 30
    ids = text.bag_of_words([[2, 5, 9, 29], [3], [7, 7, 8, text.OOV], []], width=5)
    model = BagOfWordsMLP(vocab, [6, 4], 1, rngs=nnx.Rngs(0))
    dense = text.bow_dense(ids, vocab)
    weights, bias = model.embed.embedding[...], model.bias[...]
    np.testing.assert_allclose(model.first_layer(jnp.asarray(ids)), dense @ weights + bias, rtol=1e-5, atol=1e-6)
    # and the whole network: the same MLP on the dense binary vectors
    h = jax.nn.relu(dense @ weights + bias)
    h = jax.nn.relu(model.hidden[0](h))
    np.testing.assert_allclose(model(jnp.asarray(ids)), model.out(h), rtol=1e-5, atol=1e-6)


def test_sparse_logistic_fits_and_maps_lambda_to_c():
    from nnx.data.base import DataInfo, Dataset
    from nnx.models.text import LogisticSparseSpec, build_logistic_sparse

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200).astype(np.int32)
    docs = [list(rng.choice(np.arange(4, 20), 5)) + [2 if label else 3] for label in y]  # word 2 or 3 gives it away
    x = text.bag_of_words(docs)
    info = DataInfo(input_shape=x.shape[1:], task="binary", vocab_size=20)
    data = Dataset("toy", info, x, y, x[:0], y[:0], x, y)
    for penalty in ("l1", "l2"):
        model = build_logistic_sparse(LogisticSparseSpec(type="logistic_sparse", penalty=penalty, lam=0.01), info)
        model.fit(data)
        assert model.C == pytest.approx(1 / (200 * 0.01))
        scores = model.predict_scores(x)
        assert scores.shape == (200, 1) and ((scores[:, 0] > 0) == y).mean() == 1.0
        assert model.num_params() == 18 + 1
    lasso = build_logistic_sparse(LogisticSparseSpec(type="logistic_sparse", penalty="l1", lam=0.05), info).fit(data)
    assert lasso.summary_extras()["nonzero_coefficients"] < 18  # the lasso zeroes the noise words
    with pytest.raises(ConfigError, match="bag of words"):
        build_logistic_sparse(LogisticSparseSpec(type="logistic_sparse", C=1.0), DataInfo((4,), "binary"))


# --------------------------------------------------------------------------------------------
# Recurrent networks


@pytest.mark.parametrize("cell", ["simple", "lstm", "gru"])
def test_recurrent_output_shapes(cell):
    from nnx.data.base import DataInfo
    from nnx.models import build
    from nnx.models.rnn import RNNSpec

    tokens = DataInfo(input_shape=(7,), task="binary", vocab_size=12)
    model = build(RNNSpec(type="rnn", cell=cell, units=5, embedding=4, layers=2, dropout=0.5), tokens, nnx.Rngs(0))
    ids = jnp.asarray(np.random.default_rng(0).integers(0, 12, (3, 7)), jnp.int32)
    assert model(ids).shape == (3, 1)
    assert model(ids, train=True, rngs=nnx.Rngs(dropout=1)).shape == (3, 1)
    series = DataInfo(input_shape=(6, 3), task="regression")
    model = build(RNNSpec(type="rnn", cell=cell, units=5), series, nnx.Rngs(0))
    assert model(jnp.ones((2, 6, 3))).shape == (2, 1)
    if cell == "lstm":  # forget-gate bias starts at 1, the other gates at 0
        np.testing.assert_array_equal(model.layers[0].cell.hf.bias[...], np.ones(5))
        np.testing.assert_array_equal(model.layers[0].cell.hi.bias[...], np.zeros(5))
    with pytest.raises(ConfigError, match="set model.embedding"):
        build(RNNSpec(type="rnn", cell=cell), tokens, nnx.Rngs(0))


def test_simple_cell_is_equation_18():
    from nnx.models.rnn import RecurrentNet

    model = RecurrentNet(2, 1, cell="simple", units=3, rngs=nnx.Rngs(0))
    x = np.random.default_rng(0).normal(size=(1, 4, 2)).astype(np.float32)
    cell = model.layers[0].cell
    w, u, w0 = cell.dense_i.kernel[...], cell.dense_h.kernel[...], cell.dense_i.bias[...]
    a = np.zeros(3, np.float32)
    for step in range(4):
        a = np.tanh(x[0, step] @ w + a @ u + w0)
    expected = a @ model.out.kernel[...] + model.out.bias[...]  # equation 19
    np.testing.assert_allclose(model(jnp.asarray(x))[0], expected, rtol=1e-5, atol=1e-5)


def _fit(yaml_text: str, data):
    from nnx.models import build
    from nnx.train.loop import fit

    spec = parse_experiment(yaml_text).runs[0]
    return fit(build(spec.model, data.info, nnx.Rngs(0)), data, spec)


def test_a_few_epochs_reduce_the_loss_on_tokens_and_on_float_series():
    from nnx.data.base import DataInfo, Dataset

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 96).astype(np.int32)
    ids = rng.integers(3, 10, (96, 6)).astype(np.int32)
    ids[:, -1] = np.where(y == 1, 2, 10)  # the last word gives the label away
    ids[:8, :2] = text.PAD
    data = Dataset("toy", DataInfo((6,), "binary", vocab_size=11), ids[:64], y[:64], ids[64:80], y[64:80],
                   ids[80:], y[80:])
    result = _fit("data: {name: imdb}\nmodel: {type: rnn, cell: lstm, embedding: 8, units: 8}\n"
                  "training: {epochs: 8, batch_size: 16, optimizer: {name: adam, learning_rate: 0.02}}\n", data)
    losses = [r.train["loss"] for r in result.history]
    assert losses[-1] < 0.5 * losses[0]
    assert result.test["accuracy"] >= 0.9

    x = rng.normal(size=(96, 5, 2)).astype(np.float32)
    target = x[:, -1, 0] - x[:, -2, 1]
    series = Dataset("toy", DataInfo((5, 2), "regression"), x[:64], target[:64], x[64:80], target[64:80],
                     x[80:], target[80:])
    result = _fit("data: {name: imdb}\nmodel: {type: rnn, cell: simple, units: 8}\n"
                  "training: {epochs: 8, batch_size: 16, optimizer: {name: adam, learning_rate: 0.02}}\n", series)
    losses = [r.train["loss"] for r in result.history]
    assert losses[-1] < 0.5 * losses[0]


def test_bow_experiment_runs_end_to_end_on_tiny_reviews(tmp_path, tiny_splits):
    from nnx.config import parse_experiment as parse
    from nnx.runner import run_experiment

    _write_folder(tmp_path, tiny_splits)
    experiment = parse("name: tiny_bow\ndata: {name: imdb, num_words: 40}\nmodel: {type: bow_mlp}\n"
                       "training: {epochs: 3, batch_size: 16, optimizer: {name: adam, learning_rate: 0.01}}\n"
                       "variants:\n  nn: {}\n  lasso: {model: {type: logistic_sparse, penalty: l1, C: 10}}\n")
    outcomes = run_experiment(experiment, output_dir=tmp_path / "out", data_dir=tmp_path)
    assert [o.status for o in outcomes] == ["completed", "completed"]
    nn, lasso = (o.summary for o in outcomes)
    vocab_size = nn["data_info"]["vocab_size"]
    assert vocab_size == 40 + 2  # as declared by the spec (num_words + 2), though the tiny corpus has 14 words
    assert nn["params"] == vocab_size * 16 + 16 + 16 * 16 + 16 + 16 + 1
    assert lasso["test"]["accuracy"] == 1.0 and lasso["penalty"] == "l1"
    assert nn["data_meta"]["preprocessing"]["representation"] == "bow"  # recorded in the run folder
