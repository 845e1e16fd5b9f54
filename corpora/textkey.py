"""The text key used for matching text against text (near-duplicates, contamination, self-training's
held-out check): NFKC, lowercase, punctuation dropped, Kazakh/Cyrillic homoglyphs fixed, CJK/Thai split
per character.

It sits at the foot of the package layers (beside `corpora.normalize`, with no heavy import) so that
evaluation (`eval_xtreme.self_training`) and the corpus stages (`corpora.minhash`, `corpora.decontam`)
match with one and the same key.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import regex

from xling.core.langs import LanguageRegistry
from xling.core.langs import registry as lang_registry

_CYRILLIC_RE = regex.compile(r"\p{Cyrillic}")
_SPLIT_CHAR_SCRIPTS = ((0x0E00, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF), (0x3040, 0x30FF),
                       (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x2FFFF))


def _word_table() -> dict[int, str | None]:
    """str.translate table: punctuation/symbols/separators → space, format chars (ZWNJ…) dropped,
    CJK/Thai/Lao/Khmer/Myanmar characters padded with spaces so each is one word."""
    table: dict[int, str | None] = {}
    for cp in range(0x30000):
        cat = unicodedata.category(chr(cp))
        if cat[0] in "PSZ" or cat in ("Cc", "Cs", "Co", "Cn"):
            table[cp] = " "
        elif cat == "Cf":
            table[cp] = None
    for lo, hi in _SPLIT_CHAR_SCRIPTS:
        for cp in range(lo, hi + 1):
            if cp not in table:
                table[cp] = f" {chr(cp)} "
    return table


_WORD_TABLE: dict[int, str | None] = {}


@lru_cache(maxsize=8)
def _lookalikes(reg: LanguageRegistry) -> tuple[regex.Pattern, dict[int, str]]:
    """The language profiles' Latin look-alikes of Cyrillic letters ("Бiлгiм" typed with a Latin i), as
    the same repair `corpora.normalize` applies, for lower-cased text: (a regex for any of them, a
    str.translate table)."""
    table = {k: v for k, v in reg.homoglyphs("Cyrl").items() if k == k.lower()}
    return regex.compile("[" + regex.escape("".join(sorted(table))) + "]"), str.maketrans(table)


def normalized_words(text: str) -> list[str]:
    """Words of `text` for matching: NFKC, lowercase, no punctuation, homoglyphs fixed."""
    if not _WORD_TABLE:  # built on first use (0.3 s), not at import: the CLI imports this module
        _WORD_TABLE.update(_word_table())
    text = unicodedata.normalize("NFKC", text).lower()
    words = text.translate(_WORD_TABLE).split()
    if not _CYRILLIC_RE.search(text):  # most text: no registry lookup on this hot path
        return words
    lookalike_re, to_cyrillic = _lookalikes(lang_registry())
    if lookalike_re.search(text):
        return [w.translate(to_cyrillic) if _CYRILLIC_RE.search(w) else w for w in words]
    return words
