"""Latin-script input views: Uyghur Arabic → ULY and Kazakh Cyrillic → the 2021 Kazakh Latin alphabet.

Muller et al. (NAACL 2021) found that transliterating Uyghur into the Latin script turns it from a
failure case into a transfer success for mBERT: the Latin form shares subwords with Turkish,
Uzbek and English. A *view* maps text of one language into that script everywhere the model sees it
(corpus, vocabulary, pretraining, evaluation), one direction table per language:

- `ug` / `uig_Arab`: Uyghur Arabic script (UEY) → Uyghur Latin script (ULY), the inverse of
  `corpora.normalize.uly_to_uey`, built from the same letter tables so the two cannot drift apart.
  The hamza carrier `ئ` is dropped at the start of a word and written `'` inside one (`mu'ellim`),
  and `'` also separates letters that would otherwise read as a digraph (`n'g` = ن + گ, not ڭ).
  Round trip (tested on real text): `uly_to_uey(uey_to_uly(x)) == x` for UEY text that follows the
  orthography (every vowel that starts a syllable is written with `ئ`) and holds no Latin letters.
- `kk` / `kaz_Cyrl`: Kazakh Cyrillic → the 2021 Latin alphabet (ä ğ ñ ö ş ū ü, ı for і, y for ы,
  i for и and й, as in the 2021 table on Wikipedia's "Kazakh alphabets"); the Russian-loanword
  letters follow that table's spelling (ц ts, ч ç, щ şş, ё io, ю iu, я ia, э e, ъ/ь dropped). The
  2021 alphabet merges и/й, х/һ, е/э, so it is not invertible in general; `kk_latn_to_cyrl` is exact
  for words made only of the letters that map one-to-one (`KK_EXACT`), which the tests check on
  real text, and the share of real words that round-trip is measured in docs/experiments.md.

Views keep whitespace-separated words one-to-one (`view_tokens` never merges, splits or empties a
token), so a tagger's prediction for a viewed token is the prediction for the original token.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence

from corpora.normalize import (
    APOSTROPHES,
    HAMZA,
    ULY_CONSONANTS,
    ULY_DIGRAPHS,
    ULY_PUNCT,
    ULY_VOWELS,
    uly_to_uey,
)

# --- Uyghur: Arabic → ULY ------------------------------------------------------------------------

# The inverse of the ULY → Arabic tables. Two Latin letters map to ۋ (w, v) and two to چ (ch, c):
# ULY's own spelling (w, ch) is chosen.
_UEY_LETTERS: dict[str, str] = {a: lat for lat, a in ULY_DIGRAPHS.items()}
_UEY_LETTERS.update({a: lat for lat, a in ULY_CONSONANTS.items() if lat not in ("v", "c")})
_UEY_VOWELS = {a: lat for lat, a in ULY_VOWELS.items()}
_UEY_PUNCT = {a: lat for lat, a in ULY_PUNCT.items()}


def uey_to_uly(text: str) -> str:
    """Uyghur Arabic script → Uyghur Latin script (lowercase; characters outside the tables pass through)."""
    text = unicodedata.normalize("NFC", text)
    out: list[str] = []
    in_word = False  # the previous character was a Uyghur letter
    for ch in text:
        if ch == HAMZA:
            # A syllable-initial vowel: nothing at the start of a word, an apostrophe inside one.
            if in_word:
                out.append("'")
            continue
        piece = _UEY_VOWELS.get(ch) or _UEY_LETTERS.get(ch)
        if piece is None:
            out.append(_UEY_PUNCT.get(ch, ch))
            in_word = False
            continue
        if in_word and out and (out[-1][-1] + piece[0]) in ULY_DIGRAPHS:
            out.append("'")  # n + g is not ng, s + h is not sh
        out.append(piece)
        in_word = True
    return "".join(out)


# --- Kazakh: Cyrillic → Latin (2021) ---------------------------------------------------------------

_KK_LOWER = {
    "а": "a", "ә": "ä", "б": "b", "в": "v", "г": "g", "ғ": "ğ", "д": "d", "е": "e", "ж": "j", "з": "z",
    "и": "i", "й": "i", "к": "k", "қ": "q", "л": "l", "м": "m", "н": "n", "ң": "ñ", "о": "o", "ө": "ö",
    "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ұ": "ū", "ү": "ü", "ф": "f", "х": "h", "һ": "h",
    "ы": "y", "і": "ı", "ш": "ş",
    # letters of Russian loanwords
    "ц": "ts", "ч": "ç", "щ": "şş", "ё": "io", "ю": "iu", "я": "ia", "э": "e", "ъ": "", "ь": "",
}
# Cyrillic letters whose Latin image is one letter no other Cyrillic letter gets: exact round trip.
KK_EXACT = frozenset(c for c, lat in _KK_LOWER.items()
                     if len(lat) == 1 and sum(v == lat for v in _KK_LOWER.values()) == 1) | {"и", "х", "е"}
_KK_INVERSE = {lat: c for c, lat in _KK_LOWER.items() if c in KK_EXACT}


def _upper_latin(s: str) -> str:
    # Turkish-style dotted/dotless pairs: и → i → İ, і → ı → I.
    return "".join({"i": "İ", "ı": "I"}.get(c, c.upper()) for c in s[:1]) + s[1:]


def kk_cyrl_to_latn(text: str) -> str:
    out: list[str] = []
    for ch in unicodedata.normalize("NFC", text):
        low = ch.lower()
        lat = _KK_LOWER.get(low)
        if lat is None:
            out.append(ch)
        elif ch != low and lat:
            out.append(_upper_latin(lat))
        else:
            out.append(lat)
    return "".join(out)


def kk_latn_to_cyrl(text: str) -> str:
    """Inverse for the one-to-one letters (`KK_EXACT`); ambiguous Latin letters take their first reading."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFC", text):
        low = {"İ": "i", "I": "ı"}.get(ch, ch.lower())
        cyr = _KK_INVERSE.get(low)
        out.append(ch if cyr is None else (cyr.upper() if ch != low else cyr))
    return "".join(out)


# --- Views --------------------------------------------------------------------------------------

VIEWS: dict[str, tuple[str, Callable[[str], str]]] = {
    "ug": ("uly", uey_to_uly),
    "kk": ("latn2021", kk_cyrl_to_latn),
}
_ALIASES = {"uig_Arab": "ug", "uig": "ug", "kaz_Cyrl": "kk", "kaz": "kk"}


def view_language(lang: str) -> str | None:
    """The view key for a language code (ug, uig_Arab, kk-ru → kk, ...), None if it has no view."""
    base = _ALIASES.get(lang, lang)
    base = _ALIASES.get(base.split("-")[0], base.split("-")[0])
    return base if base in VIEWS else None


def view_function(lang: str) -> Callable[[str], str]:
    """The text view of a language; the identity for languages without one."""
    key = view_language(lang)
    return VIEWS[key][1] if key else _identity


def _identity(text: str) -> str:
    return text


def active_view(lang: str, view: Sequence[str]) -> str | None:
    """`lang`'s view key when `view` (a list of languages) switches it on, else None."""
    key = view_language(lang)
    return key if key is not None and key in {view_language(v) for v in view} else None


def text_view(lang: str, view: Sequence[str]) -> Callable[[str], str]:
    """`lang`'s view when `view` (a list of languages) switches it on, else the identity."""
    key = active_view(lang, view)
    return VIEWS[key][1] if key else _identity


def check_view_languages(langs: Sequence[str], where: str) -> list[str]:
    bad = [lg for lg in langs if view_language(lg) is None]
    if bad:
        raise ValueError(f"{where}: no transliteration view for {', '.join(bad)} (views exist for "
                         f"{', '.join(sorted(VIEWS))})")
    return list(langs)


def view_tokens(tokens: Sequence[str], view: Callable[[str], str]) -> list[str]:
    """One viewed token per token; a token the view would empty (a lone ь) stays as it was."""
    return [view(t) or t for t in tokens]


def is_latin_free(text: str) -> bool:
    return not any(("a" <= c.lower() <= "z") or c in APOSTROPHES for c in text)


def uey_round_trips(text: str) -> bool:
    return uly_to_uey(uey_to_uly(text)) == unicodedata.normalize("NFC", text)
