"""Normalisation: targeted fixes (counted) and ULY → UEY transliteration; real-data checks."""

from __future__ import annotations

import re
from collections import Counter

from corpora.normalize import Normalize, latin_to_cyrillic, normalize_text, uly_to_uey

_LATIN_IN_CYRILLIC_WORD = re.compile(r"\w*[\u0400-\u04ff]\w*")


def latin_inside_cyrillic_words(text: str) -> list[str]:
    return [w for w in _LATIN_IN_CYRILLIC_WORD.findall(text) if re.search("[A-Za-z]", w)]


def test_latin_lookalikes_inside_cyrillic_words_are_fixed_and_counted():
    counts = Counter()
    out = normalize_text("Бiлгiм келмейдi, IBM президенті", counts)
    assert out == "Білгім келмейді, IBM президенті"  # a Latin word in Cyrillic text is left alone
    assert counts["latin_in_cyrillic"] == 3


def test_all_lookalike_short_word_in_cyrillic_text_is_fixed():
    counts = Counter()
    assert normalize_text("Ac адамның арқасы", counts) == "Ас адамның арқасы"
    assert counts["latin_in_cyrillic"] == 2


def test_latin_text_is_untouched():
    text = "Copy the file and open it in a text editor."
    counts = Counter()
    assert normalize_text(text, counts) == text
    assert sum(counts.values()) == 0


def test_arabic_presentation_forms_tatweel_zero_width_controls_whitespace():
    counts = Counter()
    # ﻗ ﺎ are presentation forms of ق ا; U+0640 tatweel; U+200B zero width space; U+200F RLM; \x07 bell
    text = "\ufed7\ufe8e\u0640\u0640غا\u200b\u200f \x07 خۇشال\u00a0  ھالدا \n\n\n\nتاماق"
    out = normalize_text(text, counts)
    assert out == "قاغا خۇشال ھالدا\n\nتاماق"
    assert counts["arabic_presentation"] == 2
    assert counts["tatweel"] == 1
    assert counts["zero_width"] == 1
    assert counts["bidi_control"] == 1
    assert counts["control_char"] == 1
    assert counts["whitespace"] >= 1


def test_nfc_composes_and_counts():
    counts = Counter()
    assert normalize_text("и\u0306", counts) == "й"
    assert counts["nfc"] == 1


def test_lookalike_table_maps_latin_to_cyrillic():
    for latin, cyr in latin_to_cyrillic().items():
        assert not ("\u0400" <= latin <= "\u04ff")
        assert "\u0400" <= cyr <= "\u04ff"


def test_uly_to_uey_known_words():
    # Uyghur Latin (ULY) → Uyghur Arabic (UEY), checked against standard spellings
    assert uly_to_uey("uyghur") == "ئۇيغۇر"
    assert uly_to_uey("Ürümchi") == "ئۈرۈمچى"
    assert uly_to_uey("mektep") == "مەكتەپ"
    assert uly_to_uey("sual") == "سۇئال"  # a vowel after a vowel takes the hamza carrier
    assert uly_to_uey("kitab, qelem?") == "كىتاب، قەلەم؟"
    assert uly_to_uey("shéhér") == "شېھېر"
    assert uly_to_uey("tonggha") == "توڭغا"
    assert uly_to_uey("men'gen") == "مەنگەن"  # apostrophe splits n'g


def test_normalize_step_transliterates_declared_uly_documents():
    from datatrove.data import Document

    docs = [Document(text="biz mektepke barimiz", id="a", metadata={"lang_hint": "uig_Latn"}),
            Document(text="biz mektepke barimiz", id="b", metadata={})]
    out = list(Normalize(transliterate_uly=True).run(iter(docs)))
    assert out[0].text == "بىز مەكتەپكە بارىمىز"
    assert out[0].metadata["lang_hint"] == "uig_Arab"
    assert out[1].text == "biz mektepke barimiz"


def test_tatoeba_kazakh_has_no_latin_left_inside_cyrillic_words(data_root):
    lines = (data_root / "tatoeba" / "tatoeba.kaz-eng.kaz").read_text(encoding="utf-8").splitlines()
    before = sum(1 for ln in lines if latin_inside_cyrillic_words(ln))
    assert before >= 60  # MANIFEST: 64 of 575 lines use Latin i for Cyrillic і
    counts = Counter()
    out = [normalize_text(ln, counts) for ln in lines]
    assert [ln for ln in out if latin_inside_cyrillic_words(ln)] == []
    assert not any(re.search(r"\w*[\u0400-\u04ff]\w*", ln) and re.search(r"[\u0400-\u04ff]i|i[\u0400-\u04ff]", ln)
                   for ln in out)
    assert counts["latin_in_cyrillic"] >= 64


def test_common_voice_kazakh_lookalikes_fixed(data_root):
    from xling.core.io import read_lines

    lines = read_lines(data_root / "mono/kk/common_voice/sentence-collector.txt.xz")
    counts = Counter()
    out = [normalize_text(ln, counts) for ln in lines]
    assert sum(1 for ln in lines if latin_inside_cyrillic_words(ln)) > 0
    assert [ln for ln in out if latin_inside_cyrillic_words(ln)] == []
    assert counts["latin_in_cyrillic"] >= 40  # MANIFEST: 58 look-alike letters in 27 lines


def test_common_voice_uyghur_presentation_forms_removed(data_root):
    from xling.core.io import read_lines

    lines = read_lines(data_root / "mono/ug/common_voice/sentence-collector.txt.xz")
    counts = Counter()
    out = [normalize_text(ln, counts) for ln in lines]
    assert counts["arabic_presentation"] == 67  # MANIFEST §10: 67 presentation-form chars in 2 lines
    assert not any(re.search("[\ufb50-\ufdff\ufe70-\ufefe]", ln) for ln in out)


def test_thuyg20_latin_transcripts_become_arabic_uyghur(data_root):
    from corpora.lid import LanguageIdentifier
    from xling.core.io import read_lines

    rows = read_lines(data_root / "mono/ug/thuyg20_transcripts_latin/thuyg20_train.tsv.xz")[:200]
    texts = [uly_to_uey(r.split("\t", 1)[1]) for r in rows]
    assert all(not re.search("[A-Za-z]", t) for t in texts)
    lid = LanguageIdentifier("fasttext")
    labels = Counter(lid.identify(t).lang for t in texts)
    assert labels["uig_Arab"] >= 0.95 * len(texts), labels


def test_tags_left_by_tmx_or_html_extraction_are_dropped_and_counted():
    counts = Counter()
    # the apertium muftyat lines' form: a trailing TMX segment end
    assert normalize_text("Бірінші кезең: 2015 — 2019 жылдар</seg>", counts) == "Бірінші кезең: 2015 — 2019 жылдар"
    assert normalize_text("<seg>Сәлем</seg> <B>әлем</B>", counts) == "Сәлем әлем"
    assert normalize_text('бір<br/>екі <p class="x">үш</p>', counts) == "бір\nекі\nүш"  # a line tag is a line end
    assert counts["markup_tag"] == 1 + 4 + 3
    # prose with angle brackets is not markup: none of these is a tag name of TMX or HTML's line/inline set
    counts = Counter()
    for text in ("a<b and c>d", "<< 2015 >>", "«<Нұр Отан>»", "x < 3 and y > 2", "<pre>", "<bdi>"):
        assert normalize_text(text, counts) == text
    assert counts["markup_tag"] == 0


def test_html_entities_left_in_scraped_text_are_decoded():
    counts = Counter()
    assert normalize_text("&quot;Нұр Астана&quot; мешіті &lt;&lt; 2015", counts) == "\"Нұр Астана\" мешіті << 2015"
    assert counts["html_entity"] == 4
    assert normalize_text("AT&T and R&D", counts) == "AT&T and R&D"
