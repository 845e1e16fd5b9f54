"""fastText supervised models written from numpy weights, and fastText's own feature hashing.

The supplementary LID (`corpora.lid_train`) is a character n-gram linear classifier trained with
scikit-learn, saved as a fastText `.bin` so that it predicts through the same C++ code
(`fasttext-predict`) as lid.176 and GlotLID, at the same speed. That needs two things done exactly as
fastText does them (fastText 0.9, `src/dictionary.cc`, `src/fasttext.cc`, file format version 12):

* features: a line is split on ASCII whitespace; every token is out of vocabulary (the model has no
  word list), so it contributes the hashed character n-grams of `<token>` of lengths minn..maxn
  (UTF-8 aware, single `<`/`>` skipped), each `nwords + fnv1a(ngram) % bucket`, where FNV-1a folds
  every byte in as a *signed* char;
* the model: hidden = mean of the input rows of all features, probabilities = softmax(output · hidden).

A multinomial logistic regression over count/len-normalised n-gram vectors is exactly that model with
input rows = weight columns (+ the intercept, which the mean carries through unchanged) and output =
the identity. `tests/corpora/test_lid_train.py` checks predictions of `fasttext-predict` against
this module's numpy computation.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix

MAGIC = 793712314
VERSION = 12
LOSS_SOFTMAX = 3
MODEL_SUPERVISED = 3
LABEL_PREFIX = "__label__"

# fastText's readWord splits on exactly these bytes (not on Unicode spaces such as U+00A0)
_WS_RE = re.compile("[ \n\r\t\v\f\0]+")


def fnv1a(data: bytes) -> int:
    """fastText's `Dictionary::hash`: 32-bit FNV-1a over the bytes read as signed chars."""
    h = 2166136261
    for b in data:
        h ^= b if b < 0x80 else (b | 0xFFFFFF00)
        h = (h * 16777619) & 0xFFFFFFFF
    return h


def _char_spans(word: bytes) -> list[int]:
    """Byte offsets where UTF-8 characters start, plus the end."""
    return [i for i, b in enumerate(word) if (b & 0xC0) != 0x80] + [len(word)]


@lru_cache(maxsize=1 << 18)
def token_ngrams(token: str, minn: int, maxn: int, bucket: int) -> tuple[int, ...]:
    """`Dictionary::computeSubwords("<" + token + ">")`: bucket ids (without the nwords offset)."""
    word = f"<{token}>".encode()
    starts = _char_spans(word)
    n_chars = len(starts) - 1
    out = []
    for i in range(n_chars):
        for n in range(minn, maxn + 1):
            if i + n > n_chars:
                break
            if n == 1 and (i == 0 or i + n == n_chars):
                continue  # a lone "<" or ">"
            out.append(fnv1a(word[starts[i]:starts[i + n]]) % bucket)
    return tuple(out)


def line_features(text: str, minn: int, maxn: int, bucket: int) -> list[int]:
    """The feature ids fastText's predict computes for one line (nwords = 0)."""
    ids: list[int] = []
    for token in _WS_RE.split(text):
        if token:
            ids.extend(token_ngrams(token, minn, maxn, bucket))
    return ids


def feature_matrix(lines: Sequence[str], minn: int, maxn: int, bucket: int):
    """scipy CSR (len(lines) × bucket): n-gram counts divided by the line's feature count (fastText's mean)."""
    indptr = [0]
    indices: list[int] = []
    data: list[float] = []
    for line in lines:
        ids = line_features(line, minn, maxn, bucket)
        if ids:
            uniq, counts = np.unique(np.asarray(ids, dtype=np.int64), return_counts=True)
            indices.extend(uniq.tolist())
            data.extend((counts / len(ids)).tolist())
        indptr.append(len(indices))
    return csr_matrix((np.asarray(data, dtype=np.float32), np.asarray(indices, dtype=np.int64),
                       np.asarray(indptr, dtype=np.int64)), shape=(len(lines), bucket))


def write_model(path: str | Path, labels: Sequence[str], input_matrix: np.ndarray, output_matrix: np.ndarray,
                minn: int, maxn: int, label_counts: Iterable[int] | None = None) -> Path:
    """A fastText supervised `.bin` with no words, `len(labels)` labels, softmax loss.

    `input_matrix` is (bucket × dim), `output_matrix` (len(labels) × dim).
    """
    labels = list(labels)
    bucket, dim = input_matrix.shape
    if output_matrix.shape != (len(labels), dim):
        raise ValueError(f"output matrix is {output_matrix.shape}, expected {(len(labels), dim)}")
    counts = list(label_counts) if label_counts is not None else [1] * len(labels)
    out = bytearray()
    out += struct.pack("<ii", MAGIC, VERSION)
    # Args: dim ws epoch minCount neg wordNgrams loss model bucket minn maxn lrUpdateRate t
    out += struct.pack("<12id", dim, 5, 5, 1, 5, 1, LOSS_SOFTMAX, MODEL_SUPERVISED, bucket, minn, maxn, 100, 1e-4)
    # Dictionary: size nwords nlabels ntokens pruneidx_size (-1: not pruned), then entries
    out += struct.pack("<iiiqq", len(labels), 0, len(labels), sum(counts), -1)
    for label, count in zip(labels, counts, strict=True):
        name = label if label.startswith(LABEL_PREFIX) else LABEL_PREFIX + label
        out += name.encode() + b"\0" + struct.pack("<qb", int(count), 1)
    out += struct.pack("<?", False)  # input not quantised
    out += struct.pack("<qq", bucket, dim)
    out += np.ascontiguousarray(input_matrix, dtype="<f4").tobytes()
    out += struct.pack("<?", False)  # output not quantised
    out += struct.pack("<qq", len(labels), dim)
    out += np.ascontiguousarray(output_matrix, dtype="<f4").tobytes()
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(bytes(out))
    tmp.replace(path)
    return path
