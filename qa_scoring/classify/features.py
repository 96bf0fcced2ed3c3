"""What the classifier sees of an interaction, as one scikit-learn transformer, and how it explains.

`InteractionFeatures` turns a batch (a dict of equal-length columns, see FEATURE_COLUMNS) into one
sparse matrix: TF-IDF of word 1-2-grams per text field (body, answer, comments, and the subject line
on the channels where train found it to be free text that helps: `subject_channels`), one-hot channel and skill, log handle time, and — when the rules have run —
which rules failed. Not the agent: `agent_name` is only used to replace the agent's own name in the answer
and comments by one placeholder word (AGENT_TOKEN), so the model can learn "the agent introduced
themselves" but not who had the conversation.

Text is folded once in Python (NFKD, ASCII, lower case: "DÍAS" → "dias"), which is ~1.5x faster than
letting the vectorizer do it (MEASURED.md); tokens are runs of two or more letters, so case numbers,
amounts and phone numbers do not become vocabulary.

Everything fitted is plain data (`to_spec` / `from_spec`): vocabularies, idf, categories, scaling.
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import lru_cache

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfTransformer, TfidfVectorizer

from qa_scoring.classify.counts import TermIndex

TEXT_FIELDS = ("body", "answer", "comments", "subject")
AGENT_FIELDS = ("answer", "comments")  # agent-written text: the agent's name is blanked out here
FEATURE_COLUMNS = TEXT_FIELDS + ("channel", "skill", "handle_seconds", "agent_name", "rules_failed")
TOKEN_PATTERN = r"(?u)\b[^\W\d_]{2,}\b"  # two or more letters; part of the model format (not stored)
RULE_SEP = "\x1f"
MAX_FEATURES = {"body": 40000, "answer": 40000, "comments": 8000, "subject": 8000}
EMAIL_CHANNELS = ("email", "e-mail", "correo", "mail")  # subject read here by models that predate the choice


def fold(text: str) -> str:
    """Lower case without accents, ASCII only: the one text folding of the classifier."""
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()


AGENT_TOKEN = "qaagentname"  # stands for the agent's own name: "le habla qaagentname", not who it was


@lru_cache(maxsize=4096)
def _agent_pattern(agent_name: str) -> re.Pattern | None:
    words = sorted({w for w in re.findall(r"[a-z]{3,}", fold(agent_name))}, key=len, reverse=True)
    if not words:
        return None
    name = "(?:" + "|".join(words) + ")"
    # The same match as rf"\b{name}(?:…)*\b", but starting with a literal per alternative (the
    # boundary checked behind it), so the regex engine scans ahead for the first letters only.
    head = "(?:" + "|".join(rf"{w[0]}(?<=\b{w[0]}){w[1:]}" for w in words) + ")"
    return re.compile(rf"{head}(?:[^a-z0-9]+{name})*\b")  # "maria jose" → one placeholder


def fold_column(texts: list, agents: list | None = None) -> list[str]:
    """Fold a column of texts (None → ''); with `agents`, blank each row's agent name words."""
    if agents is None:
        return [fold(t) if t else "" for t in texts]
    out = []
    for text, agent in zip(texts, agents):
        text = fold(text) if text else ""
        pattern = _agent_pattern(agent) if agent else None
        out.append(pattern.sub(AGENT_TOKEN, text) if pattern is not None and text else text)
    return out


def _vectorizer(ngram_max: int, max_features: int | None = None, min_df: int = 2,
                vocabulary: dict | None = None) -> TfidfVectorizer:
    return TfidfVectorizer(lowercase=False, strip_accents=None, token_pattern=TOKEN_PATTERN,
                           ngram_range=(1, ngram_max), sublinear_tf=True, min_df=min_df,
                           max_features=max_features, vocabulary=vocabulary, dtype=np.float32)


def _onehot(values: list, index: dict[str, int]) -> sp.csr_matrix:
    cols = np.fromiter((index.get(v or "", -1) for v in values), dtype=np.int64, count=len(values))
    rows = np.flatnonzero(cols >= 0)
    return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols[rows])),
                         shape=(len(values), len(index)))


def _multi_hot(values: list, index: dict[str, int]) -> sp.csr_matrix:
    rows, cols = [], []
    for r, v in enumerate(values):
        if v:
            for rule in v.split(RULE_SEP):
                c = index.get(rule)
                if c is not None:
                    rows.append(r)
                    cols.append(c)
    return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(values), len(index)))


class InteractionFeatures(TransformerMixin, BaseEstimator):
    """Per-field TF-IDF + channel/skill one-hot + log handle time + failed rules → one sparse matrix."""

    def __init__(self, ngram_max: int = 2, min_df: int = 2, max_features: dict | None = None,
                 use_rules: bool = True, subject_channels: tuple | None = None):
        self.ngram_max = ngram_max
        self.min_df = min_df
        self.max_features = max_features
        self.use_rules = use_rules
        self.subject_channels = subject_channels

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, X: dict, y=None):
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X: dict, y=None) -> sp.csr_matrix:
        caps = {**MAX_FEATURES, **(self.max_features or {})}
        channels = EMAIL_CHANNELS if self.subject_channels is None else self.subject_channels
        self.subject_channels_ = sorted(set(channels))
        folded = self._fold(X)
        self.vectorizers_ = {}
        blocks = []
        for field in TEXT_FIELDS:
            vec = _vectorizer(self.ngram_max, caps[field], self.min_df)
            try:
                blocks.append(vec.fit_transform(folded[field]))
            except ValueError:  # no term reaches min_df in this field (e.g. no email subjects)
                vec = _vectorizer(self.ngram_max, vocabulary={"": 0})
                vec.fit([""])
                blocks.append(vec.transform(folded[field]))
            self.vectorizers_[field] = vec
        self.channels_ = sorted({v or "" for v in X["channel"]} - {""})
        self.skills_ = sorted({v or "" for v in X["skill"]} - {""})
        logs = self._log_handle(X["handle_seconds"])
        known = logs[~np.isnan(logs)]
        self.handle_center_ = float(known.mean()) if len(known) else 0.0
        self.handle_scale_ = float(known.std()) if len(known) > 1 and known.std() > 0 else 1.0
        failed = {r for v in X["rules_failed"] if v for r in v.split(RULE_SEP)}
        self.rules_ = sorted(failed) if self.use_rules and failed else []
        self._index()
        return self._assemble(blocks, X)

    def _index(self) -> None:
        self._counters: dict[str, tuple[TermIndex, TfidfTransformer]] = {}
        self.channel_index_ = {c: i for i, c in enumerate(self.channels_)}
        self.skill_index_ = {s: i for i, s in enumerate(self.skills_)}
        self.rule_index_ = {r: i for i, r in enumerate(self.rules_)}

    # -- transforming ----------------------------------------------------------------------
    def _fold(self, X: dict) -> dict[str, list[str]]:
        folded = {f: fold_column(X[f], X["agent_name"] if f in AGENT_FIELDS else None) for f in TEXT_FIELDS
                  if f != "subject"}
        read = set(self.subject_channels_)  # elsewhere the subject is a name, a label or nothing
        folded["subject"] = fold_column([t if c in read else "" for t, c in zip(X["subject"], X["channel"])])
        return folded

    @staticmethod
    def _log_handle(values) -> np.ndarray:
        x = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
        x[x < 0] = np.nan  # impossible timestamps: unknown
        return np.log1p(x)

    def _assemble(self, blocks: list, X: dict) -> sp.csr_matrix:
        logs = self._log_handle(X["handle_seconds"])
        missing = np.isnan(logs)
        scaled = np.where(missing, 0.0, (logs - self.handle_center_) / self.handle_scale_)
        handle = sp.csr_matrix(np.column_stack([scaled, missing]).astype(np.float32))
        blocks = blocks + [_onehot(X["channel"], self.channel_index_), _onehot(X["skill"], self.skill_index_),
                           handle, _multi_hot(X["rules_failed"], self.rule_index_)]
        return sp.hstack(blocks, format="csr", dtype=np.float32)

    def transform(self, X: dict) -> sp.csr_matrix:
        return self.transform_and_count(X)[0]

    def transform_and_count(self, X: dict) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """The feature matrix, and per row the tokens the model read in its text fields and how
        many of them are unknown (no term of their field's vocabulary): input drift shows there."""
        folded = self._fold(X)
        n = len(X["channel"])
        blocks, tokens, unknown = [], np.zeros(n, np.int64), np.zeros(n, np.int64)
        for field in TEXT_FIELDS:
            block, n_tokens, n_unknown = self._tfidf(field, folded[field])
            blocks.append(block)
            tokens += n_tokens
            unknown += n_unknown
        return self._assemble(blocks, X), tokens, unknown

    def _tfidf(self, field: str, folded: list[str]) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """The vectorizer's own TF-IDF of the field, counted by TermIndex (sklearn's count loop is
        ~85% of prediction time; the counts are the same, so the matrix is bit for bit the same),
        and the field's token and unknown-token counts per row."""
        if field not in self._counters:
            vec = self.vectorizers_[field]
            vocab = [""] * len(vec.vocabulary_)
            for term, i in vec.vocabulary_.items():
                vocab[i] = term
            tfidf = TfidfTransformer(sublinear_tf=True)
            tfidf.idf_ = vec.idf_
            self._counters[field] = (TermIndex(vocab, self.ngram_max), tfidf)
        index, tfidf = self._counters[field]
        counts, n_tokens, n_unknown = index.counts_and_tokens(folded)
        return tfidf.transform(counts, copy=False), n_tokens, n_unknown

    def n_text_columns(self) -> int:
        """How many columns the text fields take: they come first in the matrix."""
        return sum(len(self.vectorizers_[f].vocabulary_) for f in TEXT_FIELDS)

    def text_fields_used(self) -> list[str]:
        """The text fields with a learned vocabulary (a field with no term is one empty column)."""
        return [f for f in TEXT_FIELDS if list(self.vectorizers_[f].vocabulary_) != [""]]

    # -- names for explanations ------------------------------------------------------------
    def feature_names(self) -> list[tuple[str, str]]:
        """(kind, name) per column: kind is a text field, or channel / skill / handle / rule."""
        names: list[tuple[str, str]] = []
        for field in TEXT_FIELDS:
            vocab = self.vectorizers_[field].vocabulary_
            terms = [""] * len(vocab)
            for term, i in vocab.items():
                terms[i] = term
            names += [(field, t) for t in terms]
        names += [("channel", c) for c in self.channels_] + [("skill", s) for s in self.skills_]
        names += [("handle", "time"), ("handle", "missing")] + [("rule", r) for r in self.rules_]
        return names

    # -- persistence as data ---------------------------------------------------------------
    def to_spec(self) -> dict:
        text = {}
        for field in TEXT_FIELDS:
            vec = self.vectorizers_[field]
            vocab = [""] * len(vec.vocabulary_)
            for term, i in vec.vocabulary_.items():
                vocab[i] = term
            text[field] = {"vocabulary": vocab, "idf": [float(x) for x in vec.idf_]}
        return {"ngram_max": self.ngram_max, "sublinear_tf": True, "text": text,
                "channels": self.channels_, "skills": self.skills_,
                "handle": {"center": self.handle_center_, "scale": self.handle_scale_},
                "rules": self.rules_, "subject_channels": self.subject_channels_}

    @classmethod
    def from_spec(cls, spec: dict) -> InteractionFeatures:
        """Rebuild a fitted transformer from `to_spec` data (validated by the caller)."""
        self = cls(ngram_max=spec["ngram_max"], use_rules=bool(spec["rules"]))
        self.vectorizers_ = {}
        for field in TEXT_FIELDS:
            part = spec["text"][field]
            vec = _vectorizer(self.ngram_max, vocabulary={t: i for i, t in enumerate(part["vocabulary"])})
            vec.idf_ = np.asarray(part["idf"], dtype=np.float64)
            self.vectorizers_[field] = vec
        self.channels_, self.skills_ = list(spec["channels"]), list(spec["skills"])
        self.handle_center_ = float(spec["handle"]["center"])
        self.handle_scale_ = float(spec["handle"]["scale"])
        self.rules_ = list(spec["rules"])
        self.subject_channels_ = list(spec.get("subject_channels", EMAIL_CHANNELS))
        self._index()
        return self


# --- explanations -----------------------------------------------------------------------------

def _letter_classes() -> dict[str, str]:
    """For each ASCII letter, every Latin letter that folds to it (both cases): 'a' → 'aáàâä…'."""
    classes: dict[str, set[str]] = {}
    for code in list(range(0x41, 0x5B)) + list(range(0x61, 0x7B)) + list(range(0xC0, 0x250)):
        ch = chr(code)
        for variant in (ch, ch.lower(), ch.upper()):
            f = fold(variant)
            if len(f) == 1 and f.isalpha() and len(variant) == 1:
                classes.setdefault(f, set()).add(variant)
    return {k: "".join(sorted(v)) for k, v in classes.items()}


_CLASSES = _letter_classes()
_SEP = r"[\W\d_]+(?:[^\W\d_][\W\d_]+)?"  # between two tokens: punctuation, digits, a 1-letter word


@lru_cache(maxsize=16384)
def _surface_pattern(term: str) -> re.Pattern:
    parts = []
    for word in term.split(" "):
        if word == AGENT_TOKEN:  # the agent's name as written in this interaction (one to four words)
            parts.append(r"[^\W\d_]+(?:[\W\d_]+[^\W\d_]+){0,3}?")
            continue
        parts.append("".join(f"[{re.escape(_CLASSES[c])}]" if c in _CLASSES else re.escape(c) for c in word))
    first = term[:1]
    if term.split(" ")[0] != AGENT_TOKEN and first in _CLASSES:
        # Same matches as "(?<![^\W\d_])" + pattern, but starting with a character class lets the
        # regex engine skip to candidate positions (2x faster on long texts): the first letter,
        # then "the character before it is no letter", then the rest.
        head = f"[{re.escape(_CLASSES[first])}]"
        rest = _SEP.join(parts)[len(head):]
        return re.compile(head + r"(?<![^\W\d_][\s\S])" + rest + r"(?![^\W\d_])")
    return re.compile(r"(?<![^\W\d_])" + _SEP.join(parts) + r"(?![^\W\d_])")


def surface_form(term: str, raw: str | None) -> str:
    """The words of `raw` that fold to `term` ("dias habiles" → "días hábiles"), else `term`."""
    if raw:
        match = _surface_pattern(term).search(raw)
        if match:
            return " ".join(match.group(0).split())
    return term


# Each letter of a class belongs to that class only, and is a letter as the patterns' [^\W\d_] sees
# it; so replacing every one by its class's ASCII letter keeps the text's length and what is a
# letter, and _surface_pattern(term) matches `raw` exactly where the literal term matches the
# replaced text. Literal patterns compile ~100x faster than ones with Latin-1/Latin Extended classes
# (Python builds a 64K-entry map per such class), and search faster.
_CLASS_LETTER = np.arange(0x250, dtype=np.uint32)
for _letter, _members in _CLASSES.items():
    for _ch in _members:
        _CLASS_LETTER[ord(_ch)] = ord(_letter)
_LOWER_ASCII = frozenset("abcdefghijklmnopqrstuvwxyz ")


@lru_cache(maxsize=16384)
def _class_letter_pattern(term: str) -> re.Pattern:
    """_surface_pattern(term) for text whose class letters are replaced (term: a-z words)."""
    words = term.split(" ")
    body = _SEP.join(r"[^\W\d_]+(?:[\W\d_]+[^\W\d_]+){0,3}?" if w == AGENT_TOKEN else w for w in words)
    if words[0] and words[0] != AGENT_TOKEN:
        # The first word as a literal prefix (the regex engine scans ahead for it), then "the
        # character before it is no letter".
        return re.compile(words[0] + rf"(?<![^\W\d_]{words[0]})" + body[len(words[0]):] + r"(?![^\W\d_])")
    return re.compile(r"(?<![^\W\d_])" + body + r"(?![^\W\d_])")


class SurfaceForms:
    """surface_form over one text column of a batch: the column is joined and its class letters
    replaced once (numpy), and each term is searched within its row's span."""

    def __init__(self, raws: list):
        texts = [t or "" for t in raws]
        self.raws = texts
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        self.starts = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(lengths + 1, out=self.starts[1:])  # '\n' between rows: no letter, no match spans it
        self.starts = self.starts.tolist()
        joined = "\n".join(texts)
        if joined.isascii():
            self.letters = joined.lower()
        else:
            codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
            last = len(_CLASS_LETTER) - 1
            codes = np.where(codes <= last, _CLASS_LETTER[np.minimum(codes, last)], codes)
            self.letters = codes.astype(np.uint32, copy=False).tobytes().decode("utf-32-le", "surrogatepass")

    def find(self, term: str, row: int) -> str:
        """surface_form(term, raws[row])."""
        raw = self.raws[row]
        if not raw:
            return term
        if not _LOWER_ASCII.issuperset(term):  # not a term the tokeniser makes: the plain way
            return surface_form(term, raw)
        start = self.starts[row]
        match = _class_letter_pattern(term).search(self.letters, start, start + len(raw))
        if match:
            return " ".join(raw[match.start() - start:match.end() - start].split())
        return term


def _human_seconds(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


class Explainer:
    """Per row, the `top` features pushing hardest towards dissatisfaction (coefficient × value > 0),
    strongest first, as {term, field, weight}: text terms in the interaction's own words.

    Vectorised selection (one sort over the positive contributions of the batch); only the
    chosen ≤ `top` terms per row are turned back into the interaction's own words.
    """

    def __init__(self, coef: np.ndarray, names: list[tuple[str, str]]):
        self.coef = coef.astype(np.float32)
        self.names = names
        self.is_text = [kind in TEXT_FIELDS for kind, _ in names]

    def _candidates(self, X: sp.csr_matrix, top: int) -> tuple[list, list, list]:
        """Row, column and push of each row's 2 × `top` strongest pushes, row by row, strongest first."""
        X = X.tocsr()
        if not X.has_sorted_indices:
            X = X.sorted_indices()
        pushes = (X.data * self.coef[X.indices]).astype(np.float32, copy=False)  # as X.multiply(coef)
        keep = pushes >= 1e-4  # a push too small to show (it would round to 0) is no reason
        kept_before = np.zeros(len(keep) + 1, dtype=np.int64)
        np.cumsum(keep, out=kept_before[1:])
        indptr = kept_before[X.indptr]  # where each row's kept pushes start
        per_row = np.diff(indptr)
        rows = np.repeat(np.arange(X.shape[0], dtype=np.uint64), per_row)
        cols, vals = X.indices[keep], pushes[keep]
        # Row ascending, push descending, column ascending on ties: one stable sort of a 64-bit key
        # (the row, then the bits of the push inverted: positive float32 bits order like the floats).
        # The rows come sorted, so after the sort position - the row's start is the rank in the row.
        key = (rows << np.uint64(32)) | (~vals.view(np.uint32)).astype(np.uint64)
        order = np.argsort(key, kind="stable")
        rank = np.arange(len(order)) - np.repeat(indptr[:-1], per_row)
        chosen = rank < 2 * top  # candidates; overlapping n-grams drop out in terms()
        pick = order[chosen]
        return rows[chosen].tolist(), cols[pick].tolist(), vals[pick].tolist()

    def terms(self, X: sp.csr_matrix, batch: dict, top: int = 5) -> list[list[tuple[str, str, float]]]:
        """Per row, (term, field, weight) of its explanation."""
        out: list[list[tuple[str, str, float]]] = [[] for _ in range(X.shape[0])]
        names, is_text = self.names, self.is_text
        handle = batch["handle_seconds"]
        forms: dict[str, SurfaceForms] = {}
        seen: list[tuple[str, str]] = []  # text terms shown in the current row, as " words "
        last = -1
        for r, c, v in zip(*self._candidates(X, top)):
            row = out[r]
            if len(row) >= top:
                continue
            kind, name = names[c]
            if is_text[c]:
                if r != last:
                    seen, last = [], r
                # "ya le dije", "le dije" and "dije" are one phrase: keep the strongest, skip its parts.
                padded = f" {name} "
                if any(k == kind and (padded in n or n in padded) for k, n in seen):
                    continue
                seen.append((kind, padded))
                form = forms.get(kind)
                if form is None:
                    form = forms[kind] = SurfaceForms(batch[kind])
                term = form.find(name, r)
            elif kind == "handle":
                term = ("handle time " + _human_seconds(handle[r]) if name == "time" else "no close time")
            elif kind == "rule":
                term = f"rule failed: {name}"
            else:
                term = f"{kind}: {name}"
            row.append((term, kind, round(v, 4)))
        return out

    def explain(self, X: sp.csr_matrix, batch: dict, top: int = 5) -> list[list[dict]]:
        return [[{"term": t, "field": k, "weight": w} for t, k, w in row] for row in self.terms(X, batch, top)]

    def explain_json(self, X: sp.csr_matrix, batch: dict, top: int = 5) -> list[str]:
        """explain() of each row as JSON text, exactly as json.dumps(..., ensure_ascii=False) writes it."""
        out = []
        for row in self.terms(X, batch, top):
            parts = []
            for t, k, w in row:
                number = repr(w)
                if number[-1] in "fn":  # inf or nan: JSON's own spelling
                    number = json.dumps(w)
                parts.append(f'{{"term": {_json_str(t)}, "field": {_json_str(k)}, "weight": {number}}}')
            out.append("[" + ", ".join(parts) + "]")
        return out


_json_str = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) writes a string with


def explain(X: sp.csr_matrix, coef: np.ndarray, names: list[tuple[str, str]], batch: dict,
            top: int = 5) -> list[list[dict]]:
    """Explainer(coef, names).explain(X, batch, top)."""
    return Explainer(coef, names).explain(X, batch, top)
