"""Source words written in a target language's script while fine-tuning (`finetune.script_augment`).

A tagger fine-tuned on English alone has never seen a Cyrillic or Arabic-script piece. On Kazakh it
gives those unfamiliar pieces what English gives its own unfamiliar tokens: the demo's studied model
tags 12 % of the Kazakh test words NUM and 10 % PROPN where the gold has 3.5 % and 4.8 %, its MLM-only
control 46 % NUM (docs/experiments.md). Rewriting a share of the training words in the target's script,
with their own tags, shows the tagger pieces of that script under every tag. The rewrite is the inverse
of the language's Latin view (Kazakh 2021 Latin → Cyrillic, Uyghur Latin (ULY) → Arabic script), applied
to English or Turkish spelling as it stands: the words it makes are not Kazakh or Uyghur, only their
letters are. Only words made of Latin letters are rewritten, so digits and punctuation keep their cues.
The choice of words is fixed by the seed, so a resumed fine-tuning reads the same text.
"""

from __future__ import annotations

import dataclasses
import random
import unicodedata
from collections.abc import Callable, Mapping, Sequence

from corpora.normalize import uly_to_uey
from xling.translit import kk_latn_to_cyrl

# language → how a Latin-spelled word is written in that language's own script
SCRIPTS: dict[str, Callable[[str], str]] = {"kk": kk_latn_to_cyrl, "ug": uly_to_uey}


def check_shares(shares: Mapping[str, float], where: str) -> None:
    for lang, share in shares.items():
        if lang not in SCRIPTS:
            raise ValueError(f"{where}: no script rewrite for {lang!r}; known: {sorted(SCRIPTS)}")
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"{where}.{lang}: a share of words in [0, 1], got {share}")
    if sum(shares.values()) > 1.0:
        raise ValueError(f"{where}: the shares add up to {sum(shares.values())}, more than every word")


def is_latin_word(word: str) -> bool:
    return bool(word) and all(ch.isalpha() and "LATIN" in unicodedata.name(ch, "") for ch in word)


def augment(examples: Sequence, shares: Mapping[str, float], seed: int) -> list:
    """`examples` (objects with `tokens`) with each Latin-letter word rewritten in language L's script
    with probability `shares[L]` (at most one language per word); tags and everything else unchanged."""
    if not shares or not any(shares.values()):
        return list(examples)
    rng = random.Random(seed)
    langs = sorted(shares)
    out = []
    for ex in examples:
        tokens = list(ex.tokens)
        for i, word in enumerate(tokens):
            draw = rng.random()  # one draw per word whatever it is, so the choice of a word never shifts the next
            if not is_latin_word(word):
                continue
            edge = 0.0
            for lang in langs:
                edge += shares[lang]
                if draw < edge:
                    tokens[i] = SCRIPTS[lang](word)
                    break
        out.append(dataclasses.replace(ex, tokens=tokens))
    return out
