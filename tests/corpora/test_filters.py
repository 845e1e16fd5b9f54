"""Quality filters: boilerplate lines, reasons, per-language thresholds."""

from __future__ import annotations

from datatrove.data import Document

from corpora.filters import QualityFilter, QualityThresholds, is_boilerplate_line, thresholds_for
from corpora.lid import LanguageFilter


def doc(text: str, lang: str = "kaz_Cyrl", score: float = 0.9) -> Document:
    return Document(text=text, id="d", metadata={"lang": lang, "lang_score": score, "script_share": 1.0})


def test_boilerplate_lines():
    for line in ["ЖАҢАЛЫҚТАР БАСПАСӨЗ МӘЛІМЕТІ СӨЙЛЕГЕН СӨЗДЕРІ ФОТО ВИДЕО",
                 "Негізгі бет » Баспасөз қызметі » Жаңалықтар 24 тамыз 2015",
                 "Қатені байқадыңыз ба? Белгілеп, үстінен басыңыз.",
                 "© 2015 Қазақстан мұсылмандары діни басқармасы",
                 "Home | News | Contacts | About us",
                 "زاڭ-ءتۇزىم | عىلىم-تەحنيكا | ءتىل-ادەبيەت | تۇرمىس | دەنە تاربيە",
                 "Все права защищены", "This site uses cookies."]:
        assert is_boilerplate_line(line), line
    for line in ["Кеңес отырысына діни бірлестіктердің басшылары қатысты.",
                 "ҚР Премьер-Министрі Кәрім Мәсімов жаңа басшыны таныстырды.",
                 "NASA ANNOUNCED THE LAUNCH.", "قاغا خۇشال ھالدا شاخقا قونۇپتۇ.",
                 "جاڭادان سالىنعان S313 جولىنىڭ شاپشال اۋدانى"]:  # uncased script + one capital
        assert not is_boilerplate_line(line), line


def run_filter(f, docs):
    kept = list(f.run(iter(docs)))
    stats = {k: v.total for k, v in f.stats.stats.items()}
    return kept, stats


def test_quality_reasons():
    f = QualityFilter()
    cases = {
        "too_short": "Иә.",
        "too_few_words": "Сәлеметсізбебарлығыңызға",
        "too_few_letters": "12 34 56 78 90 12 34 56 %%%% a b",
        "mixed_script": None,
        "repeated_lines": "Сатып алу үшін басыңыз\nСатып алу үшін басыңыз\nСатып алу үшін басыңыз\nБасқа жол мұнда",
        "repeated_ngrams": " ".join(["арзан баға жеткізу тегін"] * 20),
        "boilerplate": "Басты бет | Жаңалықтар | Фото | Байланыс\n© 2015 Барлық құқықтар қорғалған",
    }
    for reason, text in cases.items():
        if text is None:
            d = doc("Қазақстан Республикасы Kazakhstan Republic of the world")
            d.metadata["script_share"] = 0.55
        else:
            d = doc(text)
        kept, stats = run_filter(QualityFilter(), [d])
        assert kept == [] and stats[f"dropped_{reason}"] == 1, (reason, stats)
        assert stats[f"removed_docs/kaz_Cyrl/{reason}"] == 1
    good = doc("Кеңес отырысына діни бірлестіктердің басшылары қатысты.")
    assert run_filter(f, [good])[0] == [good]


def test_boilerplate_lines_are_stripped_from_kept_documents():
    d = doc("Негізгі бет » Баспасөз қызметі » Жаңалықтар\n"
            "Кеңес отырысына діни бірлестіктердің басшылары қатысты.\n"
            "Шара барысында өзекті мәселелер қарастырылды.")
    kept, stats = run_filter(QualityFilter(), [d])
    assert kept[0].text.startswith("Кеңес отырысына") and stats["boilerplate_lines_removed"] == 1


def test_per_language_thresholds():
    f = QualityFilter(QualityThresholds(min_chars=40), {"uig_Arab": {"min_chars": 10}})
    assert run_filter(f, [doc("قاغا خۇشال ھالدا قونۇپتۇ", "uig_Arab")])[0]
    assert not run_filter(f, [doc("Бұл кітап өте жақсы екен.", "kaz_Cyrl")])[0]
    assert thresholds_for(QualityThresholds(), {"min_words": 5}).min_words == 5
    import pytest

    with pytest.raises(ValueError, match="unknown quality threshold"):
        thresholds_for(QualityThresholds(), {"min_word": 5})


def test_language_filter_reasons_and_thresholds():
    f = LanguageFilter(languages=["kaz_Cyrl", "uig_Arab"], min_score=0.5, thresholds={"uig_Arab": 0.9})
    docs = [doc("a", "kaz_Cyrl", 0.6), doc("b", "uig_Arab", 0.8), doc("c", "rus_Cyrl", 0.99),
            doc("d", "und_Zyyy", 0.0)]
    kept, stats = run_filter(f, docs)
    assert [d.text for d in kept] == ["a"]
    assert stats["dropped_lid_low_score"] == 1 and stats["dropped_lang_not_selected"] == 1
    assert stats["dropped_no_letters"] == 1


def test_breadcrumb_prefix_is_stripped():
    from corpora.filters import strip_breadcrumbs

    assert strip_breadcrumbs("Негізгі бет » Баспасөз қызметі » Жаңалықтар Кеше кеңес өтті.") == \
        "Жаңалықтар Кеше кеңес өтті."
    assert strip_breadcrumbs("Негізгі бет » Комитет туралы") == ""
    assert strip_breadcrumbs("Басты бет » Қазақстан Республикасының Президенті бүгін сөз сөйледі.") == \
        "Қазақстан Республикасының Президенті бүгін сөз сөйледі."
    line = "Ол айтты, бұл өте жақсы болды деп ойлаймын » және кетті"
    assert strip_breadcrumbs(line) == line
