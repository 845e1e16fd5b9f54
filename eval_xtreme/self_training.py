"""Self-training for zero-shot tagging (`finetune.self_train`).

A tagger fine-tuned on the source language alone has never seen a sentence of the target language.
Self-training (Yarowsky 1995; for cross-lingual transfer e.g. Dong & de Melo, EMNLP 2019, and the
"self-training" rows of XTREME-R's baselines) lets it read some: the fine-tuned tagger (the teacher)
tags unlabelled target-language sentences, the sentences it is most sure of keep its tags, and a
second, shorter fine-tuning on the source set together with them gives the model that is evaluated.
No target-language label is read.

Unlabelled text comes from files a recipe names (one sentence per line, `.xz`/`.gz` read as such; of a
TSV line, the first column with a letter in it).
Sentences that share a word 8-gram with a held-out sentence, or are one (the task's test sentences and
every held-out tagging set's: UD dev/test, UNER, KazNERD), are dropped before anything else, so an
evaluation sentence is never a training sentence, even without its gold tags. Words are compared by the
key the corpus stages match with (`corpora.textkey.normalized_words`: NFKC, lower case, no punctuation,
Latin look-alikes inside Cyrillic words repaired). (`corpora.decontam.EvalIndex` does the same for
pretraining text with hashed 13-grams over millions of documents; it sits in a layer above this package,
and the few thousand sentences here fit plain sets.)
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import regex

from corpora.textkey import normalized_words
from xling.core.errors import InputError
from xling.core.io import open_text
from xling.core.paths import resolve_data_path

from .loaders import TaggedSentence

# Words and single punctuation marks, as UD writes them: "Ресейде 9 министрлік." → 4 tokens;
# hyphenated and apostrophe-joined words stay one token (қарым-қатынас, ئات-ئۇلاغ, O'zbek).
_WORD_RE = regex.compile(r"[\p{L}\p{M}\p{N}]+(?:[-'’ʼ][\p{L}\p{M}\p{N}]+)*|[^\s\p{L}\p{M}\p{N}]")
_LETTER_RE = regex.compile(r"\p{L}")
OVERLAP_NGRAM = 8  # words; shorter sentences are compared whole


def words(line: str) -> list[str]:
    return _WORD_RE.findall(line)


def _key(tokens: Sequence[str]) -> tuple[str, ...]:
    return tuple(normalized_words(" ".join(tokens)))


@dataclass
class OverlapIndex:
    """Held-out sentences, whole and as word n-grams (of the matching key's words): a sentence that is
    one of them, or shares an n-gram with one, may not be trained on. Whole sentences are compared with
    their spaces dropped too, because treebanks re-space words ("خۇش خەتچىلەپ" in Uyghur-UDT,
    "خۇشخەتچىلەپ" in the sentence list it was taken from)."""

    n: int = OVERLAP_NGRAM
    whole: set[str] = field(default_factory=set)
    grams: set[tuple[str, ...]] = field(default_factory=set)

    @classmethod
    def of(cls, sentences: Iterable[Sequence[str]], n: int = OVERLAP_NGRAM) -> OverlapIndex:
        idx = cls(n)
        for tokens in sentences:
            key = _key(tokens)
            if key:
                idx.whole.add("".join(key))
                if len(key) >= n:
                    idx.grams.update(key[i:i + n] for i in range(len(key) - n + 1))
        return idx

    def hits(self, tokens: Sequence[str]) -> bool:
        return self.holds(_key(tokens))

    def holds(self, key: tuple[str, ...]) -> bool:
        """`hits` for a sentence's key (`_key`) already computed."""
        if "".join(key) in self.whole:
            return True
        return len(key) >= self.n and any(key[i:i + self.n] in self.grams for i in range(len(key) - self.n + 1))


def check_self_train(sources: Mapping[str, Sequence[str]], sentences: int, steps: int,
                     min_confidence: float = 0.0) -> None:
    for lang, paths in sources.items():
        if isinstance(paths, str) or not all(isinstance(p, str) and p for p in paths) or not paths:
            raise ValueError(f"finetune.self_train.{lang}: a list of text files (one sentence per line), "
                             f"got {paths!r}")
    if sources and sentences < 1:
        raise ValueError(f"finetune.self_train_sentences must be ≥ 1, got {sentences}")
    if sources and steps < 1:
        raise ValueError(f"finetune.self_train_steps must be ≥ 1, got {steps}")
    if not 0.0 <= min_confidence < 1.0:
        raise ValueError(f"finetune.self_train_min_confidence must be in [0, 1), got {min_confidence}")


def read_pool(lang: str, paths: Sequence[str], held_out: OverlapIndex, max_words: int,
              min_words: int = 3) -> tuple[list[TaggedSentence], dict[str, int]]:
    """The distinct sentences of `paths` with `min_words`..`max_words` words that `held_out` does not
    hold, as untagged sentences (ids `self-train:LANG:FILE#:LINE`), and counts of what was dropped."""
    seen: set[tuple[str, ...]] = set()
    out: list[TaggedSentence] = []
    stats = {"lines": 0, "kept": 0, "length": 0, "duplicate": 0, "overlap": 0}
    for f, path in enumerate(paths):
        p = resolve_data_path(path)
        if not p.is_file():
            raise InputError(f"finetune.self_train.{lang}: {path}: no such file")
        try:
            with open_text(p) as fh:
                for n, line in enumerate(fh, 1):
                    stats["lines"] += 1
                    # a TSV line (numbered sentence lists, a sentence beside its segmentation): its first
                    # column with a letter in it
                    text = next((c for c in line.split("\t") if _LETTER_RE.search(c)), "")
                    tokens = words(text)
                    if not min_words <= len(tokens) <= max_words:
                        stats["length"] += 1
                        continue
                    key = _key(tokens)
                    if key in seen:
                        stats["duplicate"] += 1
                        continue
                    seen.add(key)
                    if held_out.holds(key):
                        stats["overlap"] += 1
                        continue
                    out.append(TaggedSentence(f"self-train:{lang}:{f}:{n}", tokens, None))
        except (UnicodeDecodeError, EOFError, OSError) as e:
            raise InputError(f"finetune.self_train.{lang}: {path}: cannot read as UTF-8 text ({e})") from None
    stats["kept"] = len(out)
    return out, stats


def most_confident(examples: Sequence[TaggedSentence], tags: Sequence[Sequence[str]],
                   confidences: Sequence[Sequence[float]], k: int,
                   min_confidence: float = 0.0) -> tuple[list[TaggedSentence], dict]:
    """The `k` sentences with the highest mean word confidence (the teacher's probability of its own
    tag), tagged with the teacher's tags, a word below `min_confidence` left untagged (None: not learnt);
    ties keep file order. Also what was kept, for the record."""
    means = [float(sum(c) / len(c)) if len(c) else -math.inf for c in confidences]
    order = sorted(range(len(examples)), key=lambda i: (-means[i], i))[:k]
    order.sort()
    kept = [TaggedSentence(examples[i].id, list(examples[i].tokens),
                           [t if c >= min_confidence else None for t, c in zip(tags[i], confidences[i], strict=True)],
                           examples[i].written) for i in order]
    counts = Counter(t for ex in kept for t in ex.tags if t is not None)
    total = sum(counts.values())
    info = {"pool": len(examples), "kept": len(kept), "words": sum(len(ex.tokens) for ex in kept),
            "tagged_words": total,
            "mean_confidence_kept": round(sum(means[i] for i in order) / len(order), 4) if order else None,
            "mean_confidence_pool": round(sum(m for m in means if m > -math.inf) / len(means), 4) if means else None,
            "tag_shares": {t: round(c / total, 4) for t, c in counts.most_common()} if total else {}}
    return kept, info
