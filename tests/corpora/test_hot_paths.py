"""The clean pipeline's sped-up hot paths against plain reference implementations of the same rules."""

from __future__ import annotations

import random
import re
import unicodedata
from collections import Counter

from corpora import filters, lid

# Lines that exercise every branch: scripts, ties between scripts, kana/kanji, letters outside the
# known scripts, characters above U+FFFF, boilerplate in several cases.
LINES = [
    "Қазақстан Республикасы", "ئۇيغۇر تىلى", "abc абв", "ab аб αβ", "日本語のテキスト", "漢字だけ", "中文文本",
    "12345 !!", "", "𠀀𠀁 abc", "😀 emoji", "ǅungla", "ﬁne ligature", "İstanbul ıi", "All Rights Reserved.",
    "ВСЕ ПРАВА ЗАЩИЩЕНЫ", "Барлық құқықтар қорғалған", "ھوقۇقى ساقلىنىدۇ", "read mor", "Cookies here",
    "ſubscribe", "Home | News | Contacts", "a » b » c » d", "K\u212aelvin sign",
]


def reference_script_counts(text: str) -> Counter:
    """Letter by letter through the range list: the rule `script_counts` implements."""
    counts: Counter = Counter()
    for ch in text:
        if not ch.isalpha():
            continue
        for lo, hi, script in lid._SCRIPT_RANGES:
            if lo <= ord(ch) <= hi:
                counts[script] += 1
                break
    return counts


def reference_detect_script(text: str) -> tuple[str, float]:
    counts = reference_script_counts(text)
    total = sum(counts.values())
    if not total:
        return "Zyyy", 0.0
    kana = counts.get("Hira", 0) + counts.get("Kana", 0)
    if kana and kana >= 0.05 * total:
        jp = kana + counts.get("Hani", 0)
        counts = Counter({k: v for k, v in counts.items() if k not in ("Hira", "Kana", "Hani")})
        counts["Jpan"] = jp
    script, n = counts.most_common(1)[0]
    return script, n / total


def test_script_detection_matches_the_letter_by_letter_rule(data_root):
    from xling.core.io import read_lines

    lines = list(LINES)
    for code in ("kk", "ru", "ar", "ja", "zh", "el", "ka", "hy", "hi"):
        lines += read_lines(data_root / f"lid/lingua_testdata/sentences/{code}.txt.xz")[:50]
    for text in lines:
        assert lid.script_counts(text) == reference_script_counts(text), text
        assert lid.detect_script(text) == reference_detect_script(text), text
        assert lid.letter_count(text) == sum(reference_script_counts(text).values())


def test_cached_counts_follow_the_string_not_a_stale_entry():
    a = "abc"
    b = "".join(["ab", "c"])  # equal text, another object
    assert lid.script_counts(a) == lid.script_counts(b) == Counter({"Latn": 3})
    assert lid.script_counts("абв") == Counter({"Cyrl": 3})
    assert lid.script_counts(a) == Counter({"Latn": 3})


def test_trie_pattern_matches_what_the_flat_alternation_matches():
    phrases = filters._BOILERPLATE_PHRASES
    flat = re.compile("|".join(re.escape(p) for p in phrases), re.IGNORECASE)
    trie = re.compile(filters.literal_trie_pattern(phrases), re.IGNORECASE)
    rng = random.Random(0)
    samples = list(LINES)
    for _ in range(3000):
        p = rng.choice(phrases)
        cut = rng.randrange(len(p) + 1)
        piece = p[:cut] if rng.random() < 0.5 else p[cut:]
        case = rng.choice([str.upper, str.lower, str.title, lambda s: s])
        samples.append(case(rng.choice(["", "x ", "текст "]) + piece + rng.choice(["", " y", "!"])))
    samples += [unicodedata.normalize("NFD", s) for s in samples[:200]]
    for s in samples:
        assert bool(trie.search(s)) == bool(flat.search(s)), s


def test_menu_line_shortcut_keeps_the_rule():
    # separators the shortcut looks for, each alone and in menus
    for line in ["Home | News | Contacts", "Басты бет » Жаңалықтар » Фото", "a / b / c", "x > y > z",
                 "one·two·three", "Негізгі бет • Баспасөз • Байланыс", "plain sentence without a menu here",
                 "Қазақстан Республикасының Президенті бүгін Астанада"]:
        parts = [p for p in filters._MENU_SEP_RE.split(line.strip()) if p.strip()]
        menu = len(parts) >= 3 and sum(len(p.split()) for p in parts) / len(parts) <= 3.0
        if menu:
            assert filters.is_boilerplate_line(line), line
