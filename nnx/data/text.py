"""Text to integer arrays: tokenizer, vocabulary, padded sequences and bags of words.

Conventions (section 5.2 and 5.6 of the notes, and Keras's): id 0 is padding, id 1 an
out-of-vocabulary word, and the `num_words` most frequent training words get ids 2, 3, ... in
order of frequency (ties broken alphabetically, so the vocabulary never depends on file order).

- A *sequence* keeps the last `maxlen` ids of a review and pads it at the front, so that a
  recurrent network reads the real words last and its final state has just seen them.
- A *bag of words* is a review's set of distinct in-vocabulary ids, padded at the end with 0:
  the sparse form of the notes' binary 10K-vector, exact for a gathered first layer
  (sum of embedding rows) and for a sparse design matrix (`bow_csr`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

PAD, OOV = 0, 1
RESERVED = 2  # ids below this are not words

_HTML = re.compile(r"<[^>]*>")
_WORD = re.compile(r"\w+(?:'\w+)*")  # letters/digits, with inner apostrophes kept: "don't"


@dataclass(frozen=True)
class Tokenizer:
    lowercase: bool = True
    strip_html: bool = True
    strip_punctuation: bool = True
    bigrams: bool = False

    def __call__(self, text: str) -> list[str]:
        if self.strip_html:
            text = _HTML.sub(" ", text)
        if self.lowercase:
            text = text.lower()
        tokens = _WORD.findall(text) if self.strip_punctuation else text.split()
        return tokens + bigrams(tokens) if self.bigrams else tokens


def bigrams(tokens: Sequence[str]) -> list[str]:
    """Adjacent pairs as single tokens: ['not', 'good', 'at'] -> ['not good', 'good at']."""
    return [f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)]


class Vocabulary:
    """The `num_words` most frequent tokens of a corpus, with ids from RESERVED on."""

    def __init__(self, words: Sequence[str]):
        self.words = list(words)
        self.index = {w: i + RESERVED for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, documents: Iterable[Sequence[str]], num_words: int) -> Vocabulary:
        counts = Counter()
        for tokens in documents:
            counts.update(tokens)
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))  # ties: alphabetical
        return cls([w for w, _ in ranked[:num_words]])

    @property
    def size(self) -> int:
        """Number of ids, the reserved ones included: the rows an embedding needs."""
        return len(self.words) + RESERVED

    def encode(self, tokens: Sequence[str]) -> list[int]:
        get = self.index.get
        return [get(t, OOV) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        names = {PAD: "<pad>", OOV: "<oov>"}
        return [names.get(int(i)) or self.words[int(i) - RESERVED] for i in ids]


def pad_sequences(docs: Sequence[Sequence[int]], maxlen: int) -> np.ndarray:
    """Keep each document's last `maxlen` ids; pad at the front with PAD. (n, maxlen) int32."""
    out = np.full((len(docs), maxlen), PAD, np.int32)
    for i, ids in enumerate(docs):
        ids = ids[-maxlen:]
        if len(ids):
            out[i, maxlen - len(ids):] = ids
    return out


def bag_of_words(docs: Sequence[Sequence[int]], width: int | None = None) -> np.ndarray:
    """Distinct in-vocabulary ids of each document, sorted, padded at the end with PAD.

    Out-of-vocabulary words are dropped, as in the notes' 10K binary vector. `width` defaults to
    the largest number of distinct words in one document. (n, width) int32.
    """
    sets = [np.unique(np.asarray(ids, np.int64)) for ids in docs]
    sets = [s[s >= RESERVED] for s in sets]
    longest = max((len(s) for s in sets), default=0)
    width = longest if width is None else width
    if longest > width:
        raise ValueError(f"a document has {longest} distinct words, more than width {width}")
    out = np.full((len(docs), max(width, 1)), PAD, np.int32)
    for i, s in enumerate(sets):
        out[i, : len(s)] = s
    return out


def bow_csr(ids: np.ndarray, vocab_size: int):
    """The binary document-term matrix (scipy CSR, float64) of padded bag-of-words ids.

    Columns are word ids minus RESERVED, so the matrix has vocab_size - RESERVED columns: exactly
    the notes' n x 10K design matrix, stored sparsely.
    """
    from scipy import sparse

    ids = np.asarray(ids)
    present = ids >= RESERVED
    rows = np.nonzero(present)[0]
    cols = ids[present].astype(np.int64) - RESERVED
    data = np.ones(len(rows), np.float64)
    matrix = sparse.csr_matrix((data, (rows, cols)), shape=(len(ids), vocab_size - RESERVED))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0  # binary, even if an id were repeated
    return matrix


def bow_dense(ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """The same binary vectors as a dense (n, vocab_size) float32 array; for tests on small data."""
    ids = np.asarray(ids)
    out = np.zeros((len(ids), vocab_size), np.float32)
    rows = np.repeat(np.arange(len(ids)), ids.shape[1])
    out[rows, ids.reshape(-1)] = 1.0
    out[:, :RESERVED] = 0.0
    return out
