"""Text normalisation for web text in Turkic languages, with every fix counted.

`normalize_text` decodes leftover HTML entities, drops leftover segment and line tags, applies Unicode NFC and a few targeted repairs that web pipelines miss for
Kazakh and Uyghur: Latin look-alike letters typed inside Cyrillic words (Kazakh `і` typed as
Latin `i`), Arabic presentation forms and tatweel, zero-width/bidi/control characters, and
whitespace. `uly_to_uey` transliterates Uyghur Latin script (ULY) into the Arabic script (UEY),
so Latin-script Uyghur can join the Arabic-script corpus.

`Normalize` wraps it as a datatrove pipeline step that adds the counts to the step's stats
(`norm_<fix>`) and to `doc.metadata["norm"]`.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from xling.core.errors import InputError
from xling.core.langs import LanguageRegistry, Translit
from xling.core.langs import registry as lang_registry


# Latin letters that render identically (or nearly) to a Cyrillic letter, from the language profiles
# (`normalize.homoglyphs.Cyrl`: Russian's shared look-alikes, Kazakh's `i`→`і`, `h`→`һ` and schwa /
# barred-o forms). Inside a word that already has Cyrillic letters they can only be typing/OCR noise;
# `i`→`і` is the Kazakh case (64 of 575 Tatoeba Kazakh lines).
@dataclass(frozen=True)
class _Lookalikes:
    table: dict[str, str]
    lookalike_re: re.Pattern
    latin_re: re.Pattern  # Latin letters, look-alikes outside the Latin blocks included


@lru_cache(maxsize=8)
def _lookalikes_for(reg: LanguageRegistry) -> _Lookalikes:
    table = reg.homoglyphs("Cyrl")
    cls = re.escape("".join(sorted(table)))
    beyond = re.escape("".join(sorted(ch for ch in table if not re.match("[A-Za-z\u00c0-\u024f]", ch))))
    return _Lookalikes(table, re.compile(f"[{cls}]") if table else re.compile("(?!)"),
                       re.compile(f"[A-Za-z\u00c0-\u024f{beyond}]"))


def latin_to_cyrillic() -> dict[str, str]:
    """{Latin look-alike: Cyrillic letter} repaired inside Cyrillic words (all profiles together)."""
    return dict(_lookalikes_for(lang_registry()).table)


# Removed outright: zero-width spaces/joiners that carry no meaning in these scripts, BOMs, soft
# hyphens. ZWNJ (U+200C) is kept because Persian orthography needs it.
_ZERO_WIDTH = "\u200b\u2060\ufeff\u00ad\u180e"
_BIDI = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c"
_TATWEEL = "\u0640"
_ZW_RE = re.compile(f"[{_ZERO_WIDTH}]")
_BIDI_RE = re.compile(f"[{_BIDI}]")
# C0/C1 controls except tab and newline (carriage returns are handled as line ends).
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_PRESENTATION_RE = re.compile("[\ufb50-\ufdff\ufe70-\ufefe]")
# Arabic-script letter on at least one side: tatweel elsewhere (e.g. in a rule "ـــ") is left alone.
_TATWEEL_RE = re.compile(f"(?<=[\u0600-\u06ff]){_TATWEEL}+|{_TATWEEL}+(?=[\u0600-\u06ff])")
_SPACE_RE = re.compile("[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_ODD_SPACE_RE = re.compile("[\t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_WORD_RE = re.compile(r"\w+")
_CYR_RE = re.compile("[\u0400-\u04ff\u0500-\u052f]")
_MANY_BLANKS_RE = re.compile(r"\n{3,}")
# any whitespace that the line-by-line cleanup would change: odd spaces, runs, spaces at line edges
_MESSY_SPACE_RE = re.compile("[\t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]|  |^ | $| \n|\n ", re.MULTILINE)
_EDGE_SPACE_RE = re.compile(" *\n *")
# Web text scraped without decoding its markup keeps entities: "&quot;Нұр Астана&quot;", "&lt;&lt; 2015".
_ENTITY_RE = re.compile(r"&(?:[A-Za-z]{2,8}|#\d{2,6}|#x[0-9A-Fa-f]{2,5});")
# Text extracted from TMX or HTML by line keeps some tags: 432 of 724 lines of apertium-kaz-rus's
# muftyat-kaz-725 end in "</seg>". Only the names of TMX's segment markup and of HTML's line and
# inline tags are dropped, so "a<b", "<< 2015" or "<Нұр>" in prose stay. Line-breaking tags become a
# line end, the others nothing.
_TAG_NAMES = "seg|tuv|tu|bpt|ept|ph|it|hi|ut|br|p|div|span|b|i|u|em|strong|font|sup|sub"
# attributes only as name=value ("a<b and c>d" is prose, not a <b> tag)
_ATTR = r"""\s+[A-Za-z_:][-\w:.]*\s*=\s*(?:"[^"<>]*"|'[^'<>]*'|[^\s"'<>=`]+)"""
_MARKUP_TAG_RE = re.compile(rf"</?(?:{_TAG_NAMES})(?:{_ATTR})*\s*/?>", re.IGNORECASE)
_LINE_TAG_RE = re.compile(r"</?(?:br|p|div|tu|tuv)\b", re.IGNORECASE)

# Any character or pattern one of the fixes below acts on (besides NFC and the look-alikes, checked on
# their own): a text without one skips the dozen separate searches (most documents need no fix).
_ANY_FIX_RE = re.compile(f"[\r&<\ufb50-\ufdff\ufe70-\ufefe{_TATWEEL}{_ZERO_WIDTH}{_BIDI}\x00-\x08\x0b\x0c\x0e-\x1f"
                         "\x7f-\x9f\t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]|  |^ | $| \n|\n ", re.MULTILINE)

NORM_FIXES = ("html_entity", "markup_tag", "nfc", "latin_in_cyrillic", "arabic_presentation", "tatweel", "zero_width", "bidi_control",
              "control_char", "whitespace")


def _fix_lookalikes(text: str, counts: Counter, reg: LanguageRegistry | None = None) -> str:
    if not _CYR_RE.search(text):
        return text
    look = _lookalikes_for(reg or lang_registry())
    if not look.lookalike_re.search(text):
        return text
    table = look.table
    cyr = len(_CYR_RE.findall(text))
    lat = len(look.latin_re.findall(text))
    # In mostly-Cyrillic text, a short all-look-alike word between Cyrillic words ("Ac", "cay", "Kөп")
    # is Cyrillic noise too; a Latin word next to another Latin word ("Astana Tech") is left alone.
    cyrillic_text = cyr >= 4 * max(lat, 1)
    words = list(_WORD_RE.finditer(text))
    has_cyr = [bool(_CYR_RE.search(m.group(0))) for m in words]
    out: list[str] = []
    last = 0
    for i, m in enumerate(words):
        word = m.group(0)
        latin = look.latin_re.findall(word)
        if not latin or not all(ch in table for ch in latin):
            continue
        if not has_cyr[i]:
            neighbours = [has_cyr[j] for j in (i - 1, i + 1) if 0 <= j < len(words)]
            if not (cyrillic_text and len(word) <= 6 and any(ch.islower() for ch in word)
                    and neighbours and all(neighbours)):
                continue
        counts["latin_in_cyrillic"] += len(latin)
        out.append(text[last:m.start()])
        out.append("".join(table.get(ch, ch) for ch in word))
        last = m.end()
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


def normalize_text(text: str, counts: Counter | None = None, reg: LanguageRegistry | None = None) -> str:
    """Return `text` normalised; add the number of characters touched per fix to `counts`. `reg`: the
    language profiles whose look-alike tables apply (default: `xling.core.langs.registry()`)."""
    counts = counts if counts is not None else Counter()
    if not _ANY_FIX_RE.search(text) and unicodedata.is_normalized("NFC", text):
        # every fix below but the look-alikes is guarded by a search this one covers
        return _MANY_BLANKS_RE.sub("\n\n", _fix_lookalikes(text, counts, reg)).strip(" \n")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "&" in text and _ENTITY_RE.search(text):
        n = len(_ENTITY_RE.findall(text))
        unescaped = html.unescape(text)
        if unescaped != text:
            counts["html_entity"] += n
            text = unescaped
    if "<" in text:
        text = strip_markup_tags(text, counts)
    if not unicodedata.is_normalized("NFC", text):
        nfc = unicodedata.normalize("NFC", text)
        # characters merged by composition (a decomposed "й" is two code points, one after NFC)
        counts["nfc"] += max(1, len(text) - len(nfc))
        text = nfc
    if _PRESENTATION_RE.search(text):
        # NFKC of a presentation form is the base letter (joining is the renderer's job).
        def base(m: re.Match) -> str:
            counts["arabic_presentation"] += 1
            return unicodedata.normalize("NFKC", m.group(0))

        text = _PRESENTATION_RE.sub(base, text)
    if _TATWEEL in text:
        text, n = _TATWEEL_RE.subn("", text)
        counts["tatweel"] += n
    # search first: almost every document has none of these, and a miss is cheaper than a subn
    for regex, fix in ((_ZW_RE, "zero_width"), (_BIDI_RE, "bidi_control"), (_CONTROL_RE, "control_char")):
        if regex.search(text):
            text, n = regex.subn("", text)
            counts[fix] += n
    text = _fix_lookalikes(text, counts, reg)
    if _ODD_SPACE_RE.search(text):
        counts["whitespace"] += len(_ODD_SPACE_RE.findall(text))
    if _MESSY_SPACE_RE.search(text):
        text = _EDGE_SPACE_RE.sub("\n", _SPACE_RE.sub(" ", text))
    return _MANY_BLANKS_RE.sub("\n\n", text).strip(" \n")


def strip_markup_tags(text: str, counts: Counter | None = None) -> str:
    """`text` without leftover TMX segment and HTML line / inline tags (`_TAG_NAMES`). A tag that
    separates units (`<br>`, `<p>`, `<div>`, TMX `<tu>` / `<tuv>`) becomes a line end, any other
    (`</seg>`, `<b>` …) nothing. Adds the number of tags dropped to `counts["markup_tag"]`."""
    if "<" not in text:
        return text
    n = 0

    def drop(m: re.Match) -> str:
        nonlocal n
        n += 1
        return "\n" if _LINE_TAG_RE.match(m.group(0)) else ""

    text = _MARKUP_TAG_RE.sub(drop, text)
    if n and counts is not None:
        counts["markup_tag"] += n
    return text


# --- Uyghur Latin (ULY) → Uyghur Arabic (UEY) ---------------------------------------------------

def uly_table() -> Translit:
    """Uyghur's `uly` transliteration table (profile `uig`, `translit.uly`): Latin → Arabic letters."""
    prof = lang_registry().get("uig")
    for tr in prof.translit.values():
        if tr.kind == "uly":
            return tr
    raise InputError(f"{prof.path}: Uyghur's profile has no translit table of kind 'uly'")


def uly_to_uey(text: str) -> str:
    """Transliterate Uyghur Latin script (Uyghur Latin Yéziqi) into the Uyghur Arabic script.

    Digraphs (ch gh ng sh zh) match longest-first; an apostrophe splits them (`n'g` = n + g) and
    marks a syllable-initial vowel. A vowel at the start of a word or after another vowel is written
    with the hamza carrier `ئ`, as UEY orthography requires. Characters outside the alphabet
    (digits, other scripts) pass through.
    """
    t = uly_table()
    digraphs, vowels, consonants, punct, apostrophes = t.digraphs, t.vowels, t.consonants, t.punct, t.apostrophes
    text = unicodedata.normalize("NFC", text)
    out: list[str] = []
    i = 0
    n = len(text)
    prev_letter = ""  # "" = word boundary, "v" = vowel, "c" = consonant
    while i < n:
        ch = text[i]
        low = ch.lower()
        if low in apostrophes:
            # n'g and the like: separate letters; before a vowel it stands for the hamza carrier.
            if i + 1 < n and text[i + 1].lower() in vowels:
                prev_letter = "v"
            i += 1
            continue
        pair = text[i:i + 2].lower()
        if pair in digraphs:
            out.append(digraphs[pair])
            prev_letter = "c"
            i += 2
            continue
        if low in vowels:
            if prev_letter in ("", "v"):
                out.append(t.hamza)
            out.append(vowels[low])
            prev_letter = "v"
        elif low in consonants:
            out.append(consonants[low])
            prev_letter = "c"
        else:
            out.append(punct.get(ch, ch))
            prev_letter = ""
        i += 1
    return "".join(out)


class Normalize(PipelineStep):
    """datatrove step: normalise `doc.text` in place; counts go to stats (`norm_<fix>`) and metadata.

    Documents declared as Uyghur Latin (`metadata["lang_hint"] == "uig_Latn"`) are transliterated to
    the Arabic script when `transliterate_uly` is on, and their hint becomes `uig_Arab`.
    """

    name = "normalize"
    type = "🔧 - NORMALIZE"

    def __init__(self, transliterate_uly: bool = False) -> None:
        super().__init__()
        self.transliterate_uly = transliterate_uly

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        total: Counter = Counter()  # added to the stats once at the end (per-update stats are costly)
        reg = lang_registry()  # once per task, not per document
        for doc in data or ():
            # datatrove's own timer: corpora.document's cheaper StatBuffer is a layer above this module
            with self.track_time():
                counts: Counter = Counter()
                text = doc.text
                if self.transliterate_uly and doc.metadata.get("lang_hint") == "uig_Latn":
                    text = uly_to_uey(text)
                    counts["uly_to_uey"] += 1
                    doc.metadata["lang_hint"] = "uig_Arab"
                doc.text = normalize_text(text, counts, reg)
                if counts:
                    fixes = {k: v for k, v in sorted(counts.items()) if v}
                    if fixes:
                        doc.metadata["norm"] = fixes
                        total.update({f"norm_{k}": v for k, v in fixes.items()})
                        total["normalized_docs_changed"] += 1
            total["normalized_docs"] += 1
            yield doc
        for label, value in sorted(total.items()):
            self.stat_update(label, value=value)
