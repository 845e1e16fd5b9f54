"""Word-ending features beside the encoder, for tagging (`finetune.suffix_features: N`).

A tagger built on a small subword encoder can fit its training treebank and still tag a word it has seen,
or an unseen word with a telling ending, worse than a lookup table of words and 4-letter suffixes
(docs/experiments.md, Turkish-IMST). Neural taggers for morphologically rich languages have long read
each word's characters beside its contextual vector (UDPipe 2's character embeddings, spaCy's prefix and
suffix features); this is the cheap form: each word's last 1..N characters (lower-cased, with a
word-start mark so that a two-letter word differs from the same letters ending a longer one, and a word
shorter than N is its own feature) each get a learned vector, and their sum is added to the labelled
piece's last hidden state before the task head. In a suffixing language family (Turkish → Uyghur in its
Latin view, Kazakh in its Latin view) endings such as -lar/-ler are shared across languages, so the
features can transfer.

The features are an exact vocabulary of the training words' endings (`SuffixVocab`), not hashed buckets:
with 16,384 hashed buckets, 72 % (Turkish-IMST) to 86 % (English-EWT) of the buckets were used by
training, so 74–88 % of the Uyghur (Arabic script) endings fell into a trained bucket by collision although
only 4 % of them had occurred in training (docs/experiments.md); the zero-shot tagger read random
vectors as features. With the exact vocabulary an ending training never showed is no feature, exactly.

Zero-shot, most target words end in ways the source never showed (another script: Kazakh Cyrillic,
Uyghur Arabic). Two rules keep the tagger usable there: in training, each word's feature vectors are
dropped together with probability `dropout`, so the encoder alone must still tag; and a feature that
training never used (not in the vocabulary, or always dropped) counts as none, so such a word is tagged
from the encoder alone, a case training has covered.

Turkic endings in three scripts (`spelling="turkic"`): Turkish writes the plural -lar/-ler, the
locative -da/-de and the genitive -nın/-nin in Latin, Kazakh as -лар/-лер, -да/-де, -ның/-нің, Uyghur as
-لار/-لەر, -دا/-دە, -نىڭ. With the endings taken as written, a Turkish-trained tagger has no feature for any
Kazakh Cyrillic or Uyghur Arabic word; with this spelling each word in Arabic script is read as Uyghur
(ULY, then ULY's digraphs and letters as Turkish writes the same sounds: sh ş, ch ç, gh ğ, zh j, j c, q k,
x h, é e, w v, ng n) and each word in Cyrillic by a Turkic Cyrillic table (ы ı, і i, ш ş, ч ç, ғ ğ, қ k,
ң n, ә e, ө ö, ү ü, ұ u, ж j, ...), so the same ending gets the same key in all three. Only the keys change:
the encoder still reads the text as given (Kazakh keeps the Cyrillic it shares with Russian), Latin
words (Turkish, English) are keyed as written, and a word a transliteration view replaced is keyed from
its original writing (`TaggedSentence.written`), since ULY's `gh`/`sh`/`q` are not Turkish `ğ`/`ş`/`k`.
`n` for ң/ڭ and `k` for қ/ق fold distinctions Turkish does not write, so that Kazakh -ның/-нің meets
Turkish -nın/-nin.

The fine-tuned folder stays a Hugging Face token-classification model (`model.safetensors` +
`config.json`) plus `suffix_features.safetensors` and `suffix_features.json` (the vocabulary);
`load_model` puts the two back together. Loading the folder with `from_pretrained` alone gives the tagger
without its feature vectors.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from xling.core.errors import InputError
from xling.core.io import read_json, write_json_atomic
from xling.translit import uey_to_uly

WEIGHTS = "suffix_features.safetensors"
CONFIG = "suffix_features.json"
FORMAT = 2  # 1 was hashed buckets (crc32); its taggers must be fine-tuned again
WORD_START = "^"


SPELLINGS = ("native", "turkic")

# Cyrillic letters as Turkish writes the same sounds (Kazakh, Kyrgyz, Tatar, Bashkir and Russian letters).
_CYRILLIC_TURKIC = {
    "а": "a", "ә": "e", "б": "b", "в": "v", "г": "g", "ғ": "ğ", "д": "d", "е": "e", "ё": "yo", "ж": "j",
    "җ": "c", "з": "z", "и": "i", "й": "y", "к": "k", "қ": "k", "л": "l", "м": "m", "н": "n", "ң": "n",
    "о": "o", "ө": "ö", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ұ": "u", "ү": "ü", "ф": "f",
    "х": "h", "һ": "h", "ц": "ts", "ч": "ç", "ш": "ş", "щ": "şç", "ъ": "", "ы": "ı", "і": "i", "ь": "",
    "э": "e", "ю": "yu", "я": "ya", "ҙ": "z", "ҫ": "s", "ҡ": "k", "ҳ": "h", "ў": "u",
}
# ULY (the Uyghur Latin alphabet) → Turkish spelling of the same sounds; `'` only separates letters.
_ULY_TURKIC = {"sh": "ş", "ch": "ç", "gh": "ğ", "zh": "j", "ng": "n", "j": "c", "q": "k", "x": "h", "é": "e",
               "w": "v", "'": ""}
_ULY_PIECE = re.compile("|".join(sorted(map(re.escape, _ULY_TURKIC), key=len, reverse=True)))


def _script(ch: str) -> str:
    o = ord(ch)
    if 0x0400 <= o <= 0x04FF:
        return "cyrl"
    if 0x0600 <= o <= 0x06FF:
        return "arab"
    return ""


@lru_cache(maxsize=1 << 16)
def turkic_spelling(word: str) -> str:
    """`word` lower-cased, with Arabic-script (read as Uyghur) or Cyrillic letters spelled as Turkish
    writes the same sounds; Latin and other words only lower-cased."""
    w = unicodedata.normalize("NFKC", word).lower()
    scripts = {_script(c) for c in w} - {""}
    if "arab" in scripts:
        w = _ULY_PIECE.sub(lambda m: _ULY_TURKIC[m.group()], uey_to_uly(w))
    if "cyrl" in scripts:
        w = "".join(_CYRILLIC_TURKIC.get(c, c) for c in w)
    return w


_SPELL: dict[str, Callable[[str], str]] = {"native": str.lower, "turkic": turkic_spelling}


def check_spelling(spelling: str, name: str = "suffix spelling") -> str:
    if spelling not in SPELLINGS:
        raise ValueError(f"{name} must be one of {', '.join(SPELLINGS)}, got {spelling!r}")
    return spelling


def suffix_keys(word: str, max_len: int, spelling: str = "native") -> list[str | None]:
    """The word's last 1..max_len characters as keys; None where the marked word is shorter."""
    spell = _SPELL.get(spelling) or _SPELL[check_spelling(spelling)]
    w = WORD_START + spell(word)
    return [f"{k}\t{w[-k:]}" if k <= len(w) else None for k in range(1, max_len + 1)]


def keyed_words(tokens: list[str], written: list[str] | None, spelling: str) -> list[str]:
    """The words a sentence's endings are taken from: the Turkic spelling has its own Latin for Arabic and
    Cyrillic script, so it reads the words as the data wrote them, before a view (whose ULY / 2021 Latin
    it would key as written); endings as written read the tokens the model reads."""
    return written if written is not None and spelling == "turkic" else tokens


class SuffixVocab:
    """The features' exact vocabulary: key → id (1..len), 0 = no feature. Each word gets `max_len` ids,
    one per ending length, its endings spelled by `spelling` (`SPELLINGS`)."""

    def __init__(self, max_len: int, keys: list[str], spelling: str = "native"):
        if max_len < 1:
            raise ValueError(f"a suffix vocabulary needs endings of ≥ 1 character, got max_len {max_len}")
        self.max_len, self.keys, self.spelling = max_len, list(keys), check_spelling(spelling)
        self.index = {k: i + 1 for i, k in enumerate(self.keys)}
        if len(self.index) != len(self.keys):
            raise ValueError("duplicate keys in a suffix vocabulary")

    @classmethod
    def build(cls, words: Iterable[str], max_len: int, spelling: str = "native") -> SuffixVocab:
        """From the training words. Sorted keys, so the ids do not depend on the order of the sentences."""
        keys = {k for w in words for k in suffix_keys(w, max_len, spelling) if k is not None}
        return cls(max_len, sorted(keys), spelling)

    def __len__(self) -> int:
        return len(self.keys)

    def ids(self, word: str) -> list[int]:
        return [self.index.get(k, 0) if k is not None else 0
                for k in suffix_keys(word, self.max_len, self.spelling)]

    def to_json(self) -> dict:
        return {"format": FORMAT, "max_len": self.max_len, "lower": True, "word_start": WORD_START,
                "spelling": self.spelling, "keys": self.keys}

    @classmethod
    def from_json(cls, spec: dict) -> SuffixVocab:
        if spec.get("format") != FORMAT or spec.get("word_start") != WORD_START:
            raise ValueError(f"format {spec.get('format')!r} (this version reads {FORMAT}: an exact vocabulary; "
                             "a tagger with hashed features from an earlier version must be fine-tuned again)")
        # "spelling" is newer than format 2: a vocabulary written without it took the endings as written
        return cls(int(spec["max_len"]), [str(k) for k in spec["keys"]], str(spec.get("spelling", "native")))


class SuffixTagger(nn.Module):
    """A Hugging Face `...ForTokenClassification` model with summed feature vectors added to its encoder's
    output before its own dropout and classifier. The forward pass is the model's own (encoder → dropout →
    classifier → cross-entropy over the labelled pieces) with one addition, so without features (all ids
    0) it computes exactly what the wrapped model computes."""

    def __init__(self, net: nn.Module, vocab: SuffixVocab, dropout: float = 0.0) -> None:
        super().__init__()
        if not isinstance(getattr(net, "classifier", None), nn.Linear) or not hasattr(net, "dropout"):
            raise InputError(f"finetune.suffix_features needs a token-classification model with a linear "
                             f"`classifier` and a `dropout` after its encoder; {type(net).__name__} has not")
        self.net, self.vocab, self.dropout = net, vocab, dropout
        self.suffix = nn.Embedding(len(vocab) + 1, net.classifier.in_features, padding_idx=0)
        # as the model's own embeddings: small against the encoder's layer-normalised output at the start
        nn.init.normal_(self.suffix.weight, std=getattr(net.config, "initializer_range", 0.02))
        with torch.no_grad():
            self.suffix.weight[0].zero_()
        # the features training has used (after dropout): only their vectors were learned
        self.register_buffer("seen", torch.zeros(len(vocab) + 1, dtype=torch.bool), persistent=False)

    @property
    def config(self):
        return self.net.config

    @property
    def base_model(self):
        return self.net.base_model

    def forward(self, input_ids, attention_mask=None, suffix_ids=None, labels=None):
        from transformers.modeling_outputs import TokenClassifierOutput

        if suffix_ids is None:
            raise InputError("this tagger was fine-tuned with suffix features (finetune.suffix_features="
                             f"{self.vocab.max_len}); its inputs must carry them")
        if self.training:
            if self.dropout > 0:
                keep = torch.rand(suffix_ids.shape[:-1], device=suffix_ids.device) >= self.dropout
                suffix_ids = suffix_ids * keep.unsqueeze(-1)
            self.seen[suffix_ids.flatten()] = True
        else:
            suffix_ids = suffix_ids * self.seen[suffix_ids]
        hidden = self.net.base_model(input_ids=input_ids, attention_mask=attention_mask)[0]
        hidden = hidden + self.suffix(suffix_ids).sum(dim=-2).to(hidden.dtype)
        logits = self.net.classifier(self.net.dropout(hidden))
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits.view(-1, logits.shape[-1]), labels.view(-1),
                                               ignore_index=-100)
        return TokenClassifierOutput(loss=loss, logits=logits)

    def save_pretrained(self, folder: str | Path) -> None:
        from safetensors.torch import save_file

        folder = Path(folder)
        self.net.save_pretrained(folder)
        # beside the model's own files, in the folder its callers already write atomically
        save_file({"weight": self.suffix.weight.detach().contiguous().cpu(), "seen": self.seen.cpu()},
                  str(folder / WEIGHTS))
        write_json_atomic(folder / CONFIG, {**self.vocab.to_json(), "dropout": self.dropout})


def has_suffix_features(folder: str | Path) -> bool:
    return (Path(folder) / CONFIG).is_file()


def load_suffix_tagger(net: nn.Module, folder: str | Path) -> SuffixTagger:
    """`net` (loaded from `folder` with `from_pretrained`) with the feature vectors saved beside it."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    try:
        spec = read_json(folder / CONFIG)
        vocab, dropout = SuffixVocab.from_json(spec), float(spec["dropout"])
        tensors = load_file(str(folder / WEIGHTS))
        weight, seen = tensors["weight"], tensors["seen"]
    except (OSError, KeyError, TypeError, ValueError, SafetensorError) as e:
        raise InputError(f"{folder}: unreadable suffix features ({CONFIG}, {WEIGHTS}): {e}") from None
    tagger = SuffixTagger(net, vocab, dropout)
    if tuple(weight.shape) != tuple(tagger.suffix.weight.shape) or tuple(seen.shape) != tuple(tagger.seen.shape):
        raise InputError(f"{folder / WEIGHTS}: shapes {tuple(weight.shape)}, {tuple(seen.shape)}; the model needs "
                         f"{tuple(tagger.suffix.weight.shape)}, {tuple(tagger.seen.shape)}")
    with torch.no_grad():
        tagger.suffix.weight.copy_(weight)
        tagger.seen.copy_(seen.bool())
    return tagger
