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
  for words made only of the letters that map one-to-one (`kk_exact()`), which the tests check on
  real text, and the share of real words that round-trip is measured in docs/experiments.md.

Views keep whitespace-separated words one-to-one (`view_tokens` never merges, splits or empties a
token), so a tagger's prediction for a viewed token is the prediction for the original token.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial

from corpora.normalize import uly_table, uly_to_uey
from xling.core.langs import LanguageRegistry, Translit
from xling.core.langs import registry as lang_registry

# --- Uyghur: Arabic → ULY ------------------------------------------------------------------------


@dataclass(frozen=True)
class _UlyInverse:
    letters: dict[str, str]
    vowels: dict[str, str]
    punct: dict[str, str]
    digraphs: frozenset[str]
    hamza: str


@lru_cache(maxsize=8)
def _uly_inverse(table: Translit) -> _UlyInverse:
    # The inverse of the ULY → Arabic tables. Two Latin letters map to ۋ (w, v) and two to چ (ch, c):
    # ULY's own spelling (w, ch) is chosen (`inverse_skip` in the profile).
    letters = {a: lat for lat, a in table.digraphs.items()}
    letters.update({a: lat for lat, a in table.consonants.items() if lat not in table.inverse_skip})
    return _UlyInverse(letters, {a: lat for lat, a in table.vowels.items()},
                       {a: lat for lat, a in table.punct.items()}, frozenset(table.digraphs), table.hamza)


def uey_to_uly(text: str) -> str:
    """Uyghur Arabic script → Uyghur Latin script (lowercase; characters outside the tables pass through)."""
    inv = _uly_inverse(uly_table())
    text = unicodedata.normalize("NFC", text)
    out: list[str] = []
    in_word = False  # the previous character was a Uyghur letter
    for ch in text:
        if ch == inv.hamza:
            # A syllable-initial vowel: nothing at the start of a word, an apostrophe inside one.
            if in_word:
                out.append("'")
            continue
        piece = inv.vowels.get(ch) or inv.letters.get(ch)
        if piece is None:
            out.append(inv.punct.get(ch, ch))
            in_word = False
            continue
        if in_word and out and (out[-1][-1] + piece[0]) in inv.digraphs:
            out.append("'")  # n + g is not ng, s + h is not sh
        out.append(piece)
        in_word = True
    return "".join(out)


# --- Letter tables (Kazakh: Cyrillic → Latin 2021) ----------------------------------------------------


@dataclass(frozen=True)
class _Letters:
    forward: dict[str, str]
    upper: dict[str, str]
    exact: frozenset[str]  # source letters whose image is one letter no other source letter gets
    inverse: dict[str, str]


@lru_cache(maxsize=32)
def _letters(table: Translit) -> _Letters:
    fwd = table.letters
    exact = frozenset(c for c, lat in fwd.items() if len(lat) == 1 and sum(v == lat for v in fwd.values()) == 1)
    exact |= frozenset(table.inverse_prefer.values())
    inverse = {lat: c for c, lat in fwd.items() if c in exact and c not in table.inverse_prefer.values()}
    inverse.update(table.inverse_prefer)
    return _Letters(fwd, table.upper, exact, inverse)


def _upper(s: str, upper: dict[str, str]) -> str:
    # e.g. Turkish-style dotted/dotless pairs: и → i → İ, і → ı → I.
    return "".join(upper.get(c, c.upper()) for c in s[:1]) + s[1:]


def letters_forward(table: Translit, text: str) -> str:
    """Apply a `letters` table: lower-case letters map by the table, capitals keep their case."""
    t = _letters(table)
    out: list[str] = []
    for ch in unicodedata.normalize("NFC", text):
        low = ch.lower()
        lat = t.forward.get(low)
        if lat is None:
            out.append(ch)
        elif ch != low and lat:
            out.append(_upper(lat, t.upper))
        else:
            out.append(lat)
    return "".join(out)


def letters_inverse(table: Translit, text: str) -> str:
    """Invert a `letters` table for its one-to-one letters; ambiguous letters take `inverse_prefer`."""
    t = _letters(table)
    lower = {v: k for k, v in t.upper.items()}
    out: list[str] = []
    for ch in unicodedata.normalize("NFC", text):
        low = lower.get(ch, ch.lower())
        src = t.inverse.get(low)
        out.append(ch if src is None else (src.upper() if ch != low else src))
    return "".join(out)


def _kk_table() -> Translit:
    return lang_registry().get("kaz").translit["latn2021"]


def kk_cyrl_to_latn(text: str) -> str:
    return letters_forward(_kk_table(), text)


def kk_latn_to_cyrl(text: str) -> str:
    """Inverse for the one-to-one letters (`kk_exact()`); ambiguous Latin letters take their first reading."""
    return letters_inverse(_kk_table(), text)


def kk_exact() -> frozenset[str]:
    """Cyrillic letters whose Latin image is one letter no other Cyrillic letter gets (exact round trip),
    plus и, х, е, the readings the inverse picks for i, h, e."""
    return _letters(_kk_table()).exact


# --- Views --------------------------------------------------------------------------------------

@lru_cache(maxsize=8)
def _views_for(reg: LanguageRegistry) -> dict[str, tuple[str, Callable[[str], str]]]:
    views: dict[str, tuple[str, Callable[[str], str]]] = {}
    for prof in reg:
        for name, table in prof.translit.items():
            if not table.view:
                continue
            if table.kind == "uly":
                views[prof.short] = (name, uey_to_uly)
            else:
                views[prof.short] = (name, partial(letters_forward, table))
    return views


def views() -> dict[str, tuple[str, Callable[[str], str]]]:
    """{language (ISO 639-1, else 639-3): (view name, function)}: each profile's `view: true` table."""
    return _views_for(lang_registry())


def view_language(lang: str) -> str | None:
    """The view key for a language code (ug, uig_Arab, kk-ru → kk, ...), None if it has no view."""
    prof = lang_registry().find(lang)
    if prof is None or prof.short not in views():
        return None
    # `kaz_Latn` is not what the Cyrillic → Latin view reads: a label with a script must name the view's
    script = lang.split("-")[0].partition("_")[2]
    source = next(t.source for t in prof.translit.values() if t.view)
    return prof.short if not script or script == source else None


def view_function(lang: str) -> Callable[[str], str]:
    """The text view of a language; the identity for languages without one."""
    key = view_language(lang)
    return views()[key][1] if key else _identity


def _identity(text: str) -> str:
    return text


def active_view(lang: str, view: Sequence[str]) -> str | None:
    """`lang`'s view key when `view` (a list of languages) switches it on, else None."""
    key = view_language(lang)
    return key if key is not None and key in {view_language(v) for v in view} else None


def view_label(lang: str, view: Sequence[str]) -> str:
    """The label of what a model reads for `lang` (`uig_Arab` → `uig_Latn` under the ug view), so that
    statistics of viewed text are checked against the viewed script's alphabet; `lang` itself otherwise."""
    key = active_view(lang, view)
    if key is None:
        return lang
    prof = lang_registry().get(key)
    return f"{prof.code}_{prof.translit[views()[key][0]].to}"


def text_view(lang: str, view: Sequence[str]) -> Callable[[str], str]:
    """`lang`'s view when `view` (a list of languages) switches it on, else the identity."""
    key = active_view(lang, view)
    return views()[key][1] if key else _identity


def check_view_languages(langs: Sequence[str], where: str) -> list[str]:
    bad = [lg for lg in langs if view_language(lg) is None]
    if bad:
        raise ValueError(f"{where}: no transliteration view for {', '.join(bad)} (views exist for "
                         f"{', '.join(sorted(views()))})")
    return list(langs)


def view_tokens(tokens: Sequence[str], view: Callable[[str], str]) -> list[str]:
    """One viewed token per token; a token the view would empty (a lone ь) stays as it was."""
    return [view(t) or t for t in tokens]


def is_latin_free(text: str) -> bool:
    apostrophes = uly_table().apostrophes
    return not any(("a" <= c.lower() <= "z") or c in apostrophes for c in text)


def uey_round_trips(text: str) -> bool:
    return uly_to_uey(uey_to_uly(text)) == unicodedata.normalize("NFC", text)
