"""Quality filters for web text, each removal with a reason, thresholds per language.

`QualityFilter` first strips boilerplate lines (navigation menus, cookie/copyright notices, "read
more" links, in English, Russian, Kazakh and Uyghur), then drops documents that are too short,
have too few letters or too few letters of their own script, or repeat lines and n-grams the way
spam and templated pages do (the repetition rules follow Gopher, Rae et al. 2021, table A1).

Removals are counted per language and reason by `corpora.document.XlingFilter`.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, fields
from itertools import compress

from datatrove.data import Document

from corpora.document import XlingFilter
from corpora.lid import detect_script, letter_count
from xling.core.config import from_dict, to_dict
from xling.core.errors import InputError

UNSEGMENTED_SCRIPTS = {"Hani", "Jpan", "Thai", "Laoo", "Khmr", "Mymr", "Tibt"}


@dataclass
class QualityThresholds:
    """Quality thresholds; `CleanConfig.quality_by_lang` overrides any of them per language."""

    min_chars: int = 15
    min_words: int = 2
    min_letter_ratio: float = 0.5  # letters / non-space characters
    min_script_share: float = 0.7  # letters of the document's main script / all letters
    max_dup_line_frac: float = 0.3  # Gopher: duplicate lines / lines
    max_dup_line_char_frac: float = 0.2  # Gopher: chars in duplicate lines / chars
    max_top_ngram_char_frac: tuple[float, float, float] = (0.2, 0.18, 0.16)  # Gopher, n = 2, 3, 4
    max_dup_ngram_char_frac: tuple[float, float, float] = (0.15, 0.14, 0.13)  # Gopher, n = 5, 6, 7
    ngram_min_words: int = 50  # Gopher's repetition rules are meant for documents, not sentences
    strip_boilerplate: bool = True
    max_boilerplate_line_frac: float = 0.5  # drop the document when more of its lines are boilerplate


def thresholds_for(base: QualityThresholds, override: dict | None) -> QualityThresholds:
    """`base` with the fields named in `override` replaced (type-checked like any config)."""
    if not override:
        return base

    merged = to_dict(base) | dict(override)
    names = {f.name for f in fields(QualityThresholds)}
    unknown = sorted(set(override) - names)
    if unknown:
        raise InputError(f"unknown quality threshold(s) {unknown}; known: {', '.join(sorted(names))}")
    return from_dict(QualityThresholds, merged, "quality_by_lang")


# --- boilerplate lines ------------------------------------------------------------------------

_BOILERPLATE_PHRASES = [
    # English
    "all rights reserved", "cookie", "javascript", "privacy policy", "terms of use", "terms and conditions",
    "click here", "read more", "sign in", "log in", "sign up", "subscribe", "powered by", "skip to content",
    "share this", "copyright",
    # Russian
    "все права защищены", "политика конфиденциальности", "читать далее", "подробнее", "войти",
    "регистрация", "перейти к содержанию", "при использовании материалов", "ссылка обязательна",
    "поделиться", "версия для печати", "нашли ошибку",
    # Kazakh
    "барлық құқықтар қорғалған", "барлық құқығы қорғалған", "толығырақ", "тіркелу", "құпиялылық саясаты",
    "материалдарды пайдаланғанда", "сілтеме міндетті", "қатені байқадыңыз ба", "басып шығару нұсқасы",
    "бөлісу",
    # Uyghur
    "ھوقۇقى ساقلىنىدۇ", "نەشر ھوقۇقى", "تەپسىلاتى", "تىزىملىتىش", "ھەمبەھىرلەش",
]


def literal_trie_pattern(phrases: list[str]) -> str:
    """A regex matching exactly the given literal strings, with shared prefixes factored out.

    `re` tries every branch of a flat alternation at every position of the line; a trie tries only
    the branches whose first letters match, which halves the boilerplate check (the filter's hot loop).
    """
    trie: dict = {}
    for phrase in phrases:
        node = trie
        for ch in phrase:
            node = node.setdefault(ch, {})
        node[""] = {}  # a phrase ends here

    def build(node: dict) -> str:
        alts = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = "(?:" + "|".join(alts) + ")"
        return body + "?" if "" in node else body

    return build(trie)


_BOILERPLATE_RE = re.compile(literal_trie_pattern(_BOILERPLATE_PHRASES), re.IGNORECASE)
_MENU_SEP_RE = re.compile(r"\s[|»·•›>/]\s|\s?\|\s?")
_MENU_SEP_CHAR_RE = re.compile("[|»·•›>/]")  # every match of _MENU_SEP_RE holds one of them
_CRUMB_CHAR_RE = re.compile("[»›>/|]")  # every breadcrumb trail or home crumb holds one of them
# "Home » Press » News 24 August 2015 The council met ..." — a breadcrumb trail glued to the text
_BREADCRUMB_PREFIX_RE = re.compile(r"^(?:[^»›|\n]{1,40}?\s[»›]\s){2,}")
_CRUMB_AFTER_HOME_RE = re.compile(r"^(?:[^»›|\n]{1,40}?\s[»›]\s)+")
_HOME_CRUMB_RE = re.compile(r"^(?:негізгі бет|басты бет|главная(?: страница)?|home(?: page)?|باش بەت)\s*[»›>/|]\s*",
                            re.IGNORECASE)
_END_PUNCT = tuple(".!?…:;»\"'”)؟۔。！？")


def strip_breadcrumbs(line: str) -> str:
    """Remove a leading breadcrumb trail ("Home » ..." or two or more short `»`-separated segments)."""
    if not _CRUMB_CHAR_RE.search(line):  # the common case: no separator, no trail
        return line
    home = _HOME_CRUMB_RE.match(line)
    rest = line[home.end():] if home else line
    m = (_CRUMB_AFTER_HOME_RE if home else _BREADCRUMB_PREFIX_RE).match(rest)
    if m and not any(len(seg.split()) > 3 for seg in re.split(r"\s[»›]\s", m.group(0)) if seg.strip()):
        rest = rest[m.end():]
    elif not home:
        return line
    # nothing but the trail and a short last crumb: the whole line is navigation
    if len(rest.split()) <= 3 and not rest.rstrip().endswith(_END_PUNCT):
        return ""
    return rest


def is_boilerplate_line(line: str) -> bool:
    """Navigation, notices and link lists: the lines templated web pages repeat on every page."""
    s = line.strip()
    if not s:
        return False
    words = s.split()
    if len(words) <= 12 and _BOILERPLATE_RE.search(s):
        return True
    if "©" in s and len(words) <= 20:
        return True
    # splitting is the slow part; a line without a separator character is one part
    parts = [p for p in _MENU_SEP_RE.split(s) if p.strip()] if _MENU_SEP_CHAR_RE.search(s) else [s]
    if len(parts) >= 3 and sum(len(p.split()) for p in parts) / len(parts) <= 3.0:
        return True  # "Home | News | Contacts", "Негізгі бет » Баспасөз қызметі » Жаңалықтар"
    # An all-capitals run of words without sentence punctuation is a menu bar
    # ("ЖАҢАЛЫҚТАР БАСПАСӨЗ МӘЛІМЕТІ СӨЙЛЕГЕН СӨЗДЕРІ ФОТО ВИДЕО").
    # (str.isupper ignores uncased scripts, so Arabic text with one "S313" in it would pass alone)
    if len(words) < 3 or not s.isupper() or s.endswith(_END_PUNCT):
        return False
    letters = sum(1 for c in s if c.isalpha())
    return letters >= 10 and sum(1 for c in s if c.isupper()) >= 0.9 * letters


# --- the quality filter -----------------------------------------------------------------------

def _dup_line_stats(lines: list[str]) -> tuple[float, float]:
    counts = Counter(lines)
    dup_lines = sum(c - 1 for c in counts.values() if c > 1)
    dup_chars = sum(len(ln) * (c - 1) for ln, c in counts.items() if c > 1)
    total_chars = sum(len(ln) for ln in lines) or 1
    return dup_lines / max(len(lines), 1), dup_chars / total_chars


def _top_ngram_char_frac(words: list[str], n: int, total: int | None = None) -> float:
    """`total`: the characters of `words` (computed when not given)."""
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0.0
    gram, count = Counter(grams).most_common(1)[0]
    if count < 2:
        return 0.0
    total = (sum(map(len, words)) if total is None else total) or 1
    return sum(map(len, gram)) * count / total


def _dup_ngram_char_frac(words: list[str], n: int, total: int | None = None) -> float:
    """Share of word characters covered by n-grams that occur more than once (Gopher)."""
    if len(words) < n:
        return 0.0
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    counts = Counter(grams)
    covered = [False] * len(words)
    for i, g in enumerate(grams):
        if counts[g] > 1:
            for j in range(i, i + n):
                covered[j] = True
    total = (sum(map(len, words)) if total is None else total) or 1
    return sum(map(len, compress(words, covered))) / total


class QualityFilter(XlingFilter):
    """Boilerplate-line stripping plus document-level quality rules; reasons name the rule."""

    name = "quality filter"

    def __init__(self, default: QualityThresholds | None = None,
                 by_lang: dict[str, dict] | None = None, exclusion_writer=None) -> None:
        super().__init__(exclusion_writer)
        self.default = default or QualityThresholds()
        self.by_lang = {lang: thresholds_for(self.default, ov) for lang, ov in (by_lang or {}).items()}

    def thresholds(self, lang: str) -> QualityThresholds:
        return self.by_lang.get(lang, self.default)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        lang = doc.metadata.get("lang", "und_Zyyy")
        t = self.thresholds(lang)
        text = doc.text
        lines = [ln for ln in text.split("\n") if ln.strip()] if "\n" in text else [text] if text.strip() else []
        if t.strip_boilerplate and lines:
            stripped = [strip_breadcrumbs(ln) for ln in lines]
            # list equality is one C loop; most documents have no breadcrumbs to count
            n_crumbs = 0 if stripped == lines else sum(1 for a, b in zip(lines, stripped, strict=True) if a != b and b)
            if n_crumbs:
                self.count("breadcrumb_prefixes_removed", n_crumbs)
            # a line that was nothing but a breadcrumb trail counts as a removed boilerplate line
            keep = [ln for ln in stripped if ln.strip() and not is_boilerplate_line(ln)]
            if n_crumbs and len(keep) == len(lines):
                doc.text = "\n".join(keep)
                lines = keep
            removed = len(lines) - len(keep)
            if removed:
                self.count("boilerplate_lines_removed", removed)
                if not keep or removed / len(lines) > t.max_boilerplate_line_frac:
                    return self.drop(doc, "boilerplate")
                doc.text = "\n".join(keep)
                lines = keep
                doc.metadata["boilerplate_lines_removed"] = removed
        text = doc.text
        if len(text) < t.min_chars:
            return self.drop(doc, "too_short")
        script = lang.split("_")[-1] if "_" in lang else detect_script(text)[0]
        words = text.split()
        if script not in UNSEGMENTED_SCRIPTS and len(words) < t.min_words:
            return self.drop(doc, "too_few_words")
        letters = letter_count(text)
        non_space = len("".join(words)) or 1
        if letters / non_space < t.min_letter_ratio:
            return self.drop(doc, "too_few_letters")
        share = doc.metadata.get("script_share")
        if share is None:
            share = detect_script(text)[1]
        if share < t.min_script_share:
            return self.drop(doc, "mixed_script")
        if len(lines) > 1:
            dup_line_frac, dup_char_frac = _dup_line_stats(lines)
            if dup_line_frac > t.max_dup_line_frac or dup_char_frac > t.max_dup_line_char_frac:
                return self.drop(doc, "repeated_lines")
        if script not in UNSEGMENTED_SCRIPTS and len(words) >= t.ngram_min_words:
            chars = sum(map(len, words))
            for n, limit in zip((2, 3, 4), t.max_top_ngram_char_frac, strict=True):
                if _top_ngram_char_frac(words, n, chars) > limit:
                    return self.drop(doc, "repeated_ngrams")
            for n, limit in zip((5, 6, 7), t.max_dup_ngram_char_frac, strict=True):
                if _dup_ngram_char_frac(words, n, chars) > limit:
                    return self.drop(doc, "repeated_ngrams")
        return True
