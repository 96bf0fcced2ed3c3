"""Word n-gram counts of folded text, vectorised: the classifier's tokeniser and vocabulary.

Equal, count for count, to scikit-learn's `CountVectorizer(token_pattern=TOKEN_PATTERN,
ngram_range=(1, n), lowercase=False)` on the same folded text (a test holds the two together on the
sample and on hostile text), without its per-document Python loop: a batch is joined into one ASCII
buffer, word runs are found with numpy, tokens are looked up in a hash table (pyarrow) and counted
with one sort. Folded text is ASCII (features.fold), so a token of TOKEN_PATTERN is exactly a
maximal run of ASCII word characters [A-Za-z0-9_] made only of letters, at least two of them.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

_WORD = np.zeros(256, dtype=bool)
_NOT_LETTER = np.zeros(256, dtype=bool)  # word characters that are not letters: digits and '_'
for _c in b"0123456789_":
    _WORD[_c] = _NOT_LETTER[_c] = True
for _c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz":
    _WORD[_c] = True


def tokenize(folded: list[str]) -> tuple[pa.Array, np.ndarray]:
    """The tokens of a batch of folded texts, in order, and the index of the text each comes from."""
    n = len(folded)
    if n == 0:
        return pa.array([], pa.large_string()), np.zeros(0, np.int64)
    buf = "\n".join(folded).encode("ascii")  # '\n' is no word character: no token spans two texts
    lengths = np.fromiter(map(len, folded), dtype=np.int64, count=n)
    starts = np.zeros(n, dtype=np.int64)
    np.cumsum(lengths[:-1] + 1, out=starts[1:])
    b = np.frombuffer(buf, dtype=np.uint8)
    word = _WORD[b]
    letter = np.zeros(len(b) + 2, dtype=np.int8)
    letter[1:-1] = word & ~_NOT_LETTER[b]
    edge = np.diff(letter)
    run_start = np.flatnonzero(edge == 1)
    run_end = np.flatnonzero(edge == -1)
    # A run of letters is a token when it is a whole word run (not part of "abc1" or "a_b") and
    # has at least two letters.
    after = np.append(word, False)[run_end]
    before = np.concatenate(([False], word))[run_start]
    is_token = ~after & ~before & ((run_end - run_start) >= 2)
    # Every byte of the buffer in one string array, alternating gaps and runs (zero copy); runs
    # are the odd elements.
    bounds = np.empty(2 * len(run_start) + 2, dtype=np.int64)
    bounds[0], bounds[-1] = 0, len(b)
    bounds[1:-1:2], bounds[2:-1:2] = run_start, run_end
    pieces = pa.Array.from_buffers(pa.large_string(), len(bounds) - 1,
                                   [None, pa.py_buffer(bounds), pa.py_buffer(buf)])
    which = 2 * np.flatnonzero(is_token) + 1
    tokens = pieces.take(pa.array(which))
    doc = np.searchsorted(starts, run_start[is_token], side="right") - 1
    return tokens, doc


def _ngram_keys(ids: np.ndarray, doc: np.ndarray, n: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Keys (base-`width` numbers of the word ids) of every n-gram inside one text, and its text."""
    m = len(ids) - n + 1
    if m <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    valid = doc[:m] == doc[n - 1:]
    key = np.zeros(m, dtype=np.int64)
    for j in range(n):
        part = ids[j:j + m]
        valid &= part >= 0
        key = key * width + part
    return key[valid], doc[:m][valid]


def _csr(doc: np.ndarray, feature: np.ndarray, n_docs: int, n_features: int) -> sp.csr_matrix:
    """Counts of (doc, feature) pairs as CSR with sorted column indices, float32 (as sklearn's)."""
    dtype = np.uint32 if n_docs * n_features < 2 ** 32 else np.int64  # the smaller sorts 3x faster
    code = np.sort(doc.astype(dtype) * dtype(n_features) + feature.astype(dtype))
    if len(code):
        first = np.concatenate(([True], code[1:] != code[:-1]))
        where = np.flatnonzero(first)
        counts = np.diff(np.append(where, len(code))).astype(np.float32)
        code = code[where]
    else:
        counts = np.zeros(0, np.float32)
    rows, cols = np.divmod(code, dtype(n_features))
    indptr = np.searchsorted(rows, np.arange(n_docs + 1), side="left")
    return sp.csr_matrix((counts, cols.astype(np.int32), indptr.astype(np.int32)), shape=(n_docs, n_features))


class TermIndex:
    """A fitted vocabulary (term → column) that counts a batch of folded texts in one pass."""

    def __init__(self, vocabulary: list[str], ngram_max: int):
        self.vocabulary = vocabulary
        self.ngram_max = ngram_max
        words: dict[str, int] = {}
        split = [term.split(" ") for term in vocabulary]
        for parts in split:
            if len(parts) <= ngram_max:
                for w in parts:
                    words.setdefault(w, len(words))
        self.width = max(len(words), 1)
        if self.width ** ngram_max >= 2 ** 63:
            raise ValueError("vocabulary too large for n-gram keys")
        self.words = pa.array(list(words), pa.large_string())
        self.unigram = np.full(self.width + 1, -1, dtype=np.int64)  # the extra last entry: unknown word
        keys: dict[int, tuple[list, list]] = {n: ([], []) for n in range(2, ngram_max + 1)}
        for column, parts in enumerate(split):
            if len(parts) == 1:
                self.unigram[words[parts[0]]] = column
            elif len(parts) <= ngram_max:
                key = 0
                for w in parts:
                    key = key * self.width + words[w]
                keys[len(parts)][0].append(key)
                keys[len(parts)][1].append(column)
        self.ngrams = {n: (pa.array(k, pa.int64()), np.asarray(c, dtype=np.int64)) for n, (k, c) in keys.items()}

    def counts(self, folded: list[str]) -> sp.csr_matrix:
        """The count matrix of `folded` (rows) × vocabulary (columns)."""
        return self.counts_and_tokens(folded)[0]

    def counts_and_tokens(self, folded: list[str]) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """The count matrix, and per text its number of tokens and of unknown tokens: tokens that
        are no term of the vocabulary by themselves (the model has no weight for the word)."""
        tokens, doc = tokenize(folded)
        ids = pc.fill_null(pc.index_in(tokens, value_set=self.words), -1).to_numpy().astype(np.int64)
        uni = self.unigram[ids]
        found = uni >= 0
        n_tokens = np.bincount(doc, minlength=len(folded))
        n_unknown = np.bincount(doc[~found], minlength=len(folded))
        docs, features = [doc[found]], [uni[found]]
        for n, (keys, columns) in self.ngrams.items():
            key, kdoc = _ngram_keys(ids, doc, n, self.width)
            if len(key) and len(keys):
                pos = pc.index_in(pa.array(key), value_set=keys).to_numpy(zero_copy_only=False)
                hit = ~np.isnan(pos) if pos.dtype.kind == "f" else np.ones(len(pos), bool)
                docs.append(kdoc[hit])
                features.append(columns[pos[hit].astype(np.int64)])
        matrix = _csr(np.concatenate(docs), np.concatenate(features), len(folded), len(self.vocabulary))
        return matrix, n_tokens, n_unknown


def learn_counts(folded: list[str], ngram_max: int, min_df: int,
                 max_features: int | None) -> tuple[list[str], sp.csr_matrix]:
    """Learn a vocabulary as CountVectorizer.fit_transform does, and the counts of `folded`.

    Terms in alphabetical order; those in fewer than `min_df` texts dropped; then the
    `max_features` most frequent kept (ties broken by the same numpy sort as scikit-learn's).
    Raises ValueError when no term is left (as scikit-learn does).
    """
    tokens, doc = tokenize(folded)
    if len(tokens) == 0:
        raise ValueError("empty vocabulary")
    encoded = pc.dictionary_encode(tokens).combine_chunks() if isinstance(tokens, pa.ChunkedArray) \
        else pc.dictionary_encode(tokens)
    words = encoded.dictionary
    ids = encoded.indices.to_numpy().astype(np.int64)
    width = max(len(words), 1)
    grams_docs, grams_ids, grams_n, grams_text = [], [], [], []
    offset = 0
    for n in range(1, ngram_max + 1):
        if n == 1:
            key, kdoc = ids, doc
        else:
            # Ids of (n-1)-grams seen extended by one word: keys stay below 2**63 at any width.
            key, kdoc = _ngram_keys(ids, doc, n, width) if width ** n < 2 ** 63 else (None, None)
            if key is None:
                raise ValueError("too many distinct words for n-gram keys")
        unique, inverse = np.unique(key, return_inverse=True)
        grams_docs.append(kdoc)
        grams_ids.append(inverse.ravel() + offset)
        # The n-gram's text: its words joined by spaces.
        parts = []
        rest = unique
        for _ in range(n):
            rest, last = np.divmod(rest, width)
            parts.append(words.take(pa.array(last)))
        text = parts[-1]
        for p in reversed(parts[:-1]):
            text = pc.binary_join_element_wise(text, p, pa.scalar(" ", pa.large_string()))
        grams_text.append(text.cast(pa.large_string()))
        grams_n.append(len(unique))
        offset += len(unique)
    all_doc = np.concatenate(grams_docs)
    all_gram = np.concatenate(grams_ids)
    tf = np.bincount(all_gram, minlength=offset)
    pairs = np.unique(all_doc * offset + all_gram)
    df = np.bincount(pairs % offset, minlength=offset)
    text = pa.concat_arrays(grams_text)
    order = pc.sort_indices(text).to_numpy()  # bytewise = code-point order, as sorted(str) for ASCII
    tfs = tf[order].astype(np.float32)  # scikit-learn sums the float32 count matrix
    mask = df[order] >= min_df
    if max_features is not None and mask.sum() > max_features:
        keep = (-tfs[mask]).argsort()[:max_features]
        new_mask = np.zeros(len(mask), dtype=bool)
        new_mask[np.where(mask)[0][keep]] = True
        mask = new_mask
    kept = order[mask]  # gram ids, in alphabetical order of their text
    if len(kept) == 0:
        raise ValueError("After pruning, no terms remain")
    column = np.full(offset, -1, dtype=np.int64)
    column[kept] = np.arange(len(kept))
    vocabulary = text.take(pa.array(kept)).to_pylist()
    col = column[all_gram]
    found = col >= 0
    return vocabulary, _csr(all_doc[found], col[found], len(folded), len(vocabulary))
