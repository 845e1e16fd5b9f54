"""Language + script identification: script from characters, kaz/uig Arabic orthography, backends."""

from __future__ import annotations

from collections import Counter

import pytest

from corpora.lid import (
    LID_BACKENDS,
    FastTextLid,
    LanguageIdentifier,
    arabic_turkic_orthography,
    cyrillic_orthography,
    detect_script,
    fasttext_model_path,
)
from xling.core.langs import to_iso3
from xling.core.registry import RegistryError


@pytest.fixture(scope="module", params=["fasttext", "langid"])
def lid(request):
    return LanguageIdentifier(request.param)


def test_script_detection_from_characters():
    assert detect_script("Қазақстан Республикасы")[0] == "Cyrl"
    assert detect_script("قاغا خۇشال ھالدا")[0] == "Arab"
    assert detect_script("Hello world") == ("Latn", 1.0)
    assert detect_script("日本語のテキストです")[0] == "Jpan"
    assert detect_script("中文文本")[0] == "Hani"
    assert detect_script("1234 !!") == ("Zyyy", 0.0)
    script, share = detect_script("Привет world")
    assert script == "Cyrl" and 0.5 < share < 1


def test_ascii_fast_path_agrees_with_counting_letters():
    """ASCII text skips the script table: Latin with share 1 when it has a letter (counted here with
    str.isalpha, independently of the table), else no script."""
    for text in ("Hello world", "1234 !!", "a", "x-y_z 9", "", "\t\n", "@#$%^&*()", "Z"):
        letters = sum(c.isalpha() for c in text)
        assert detect_script(text) == (("Latn", 1.0) if letters else ("Zyyy", 0.0)), text
    # one non-ASCII letter takes the table path and still counts as Latin
    assert detect_script("Crème brûlée") == ("Latn", 1.0)


def test_fasttext_single_line_predict_equals_the_library_wrapper():
    """`FastTextLid.predict` calls fastText's C++ directly; fasttext's own `model.predict` is the reference."""
    import fasttext

    model = fasttext.load_model(fasttext_model_path())
    backend = FastTextLid()
    for line in ("Hello world, how are you today?", "Bugün hava çok güzel", "Ақ көңілдің аты арып",
                 "two\nlines", "x", "biz nechche yil tirishish arqiliq"):
        labels, probs = model.predict(line.replace("\n", " "), k=1)
        code, p = backend.predict(line)
        assert code == labels[0].removeprefix("__label__")
        assert p == pytest.approx(min(float(probs[0]), 1.0))
        assert backend.predict_topk(line, 1)[0] == (code, pytest.approx(p))


def test_backend_registry_and_codes():
    assert set(LID_BACKENDS) >= {"fasttext", "langid"}
    with pytest.raises(RegistryError, match="Did you mean"):
        LID_BACKENDS.get("fastext")
    assert to_iso3("kk") == "kaz" and to_iso3("ug") == "uig" and to_iso3("wuu") == "wuu"
    assert fasttext_model_path().endswith("lid.176.ftz")


def test_kazakh_vs_uyghur_arabic_orthography():
    assert arabic_turkic_orthography("زاڭ-ءتۇزىم | عىلىم-تەحنيكا") == "kaz"  # hamza ء, ع, ح
    assert arabic_turkic_orthography("ئۇيغۇر تىلى ۋە ئەدەبىياتى") == "uig"  # ئ, غ
    assert arabic_turkic_orthography("ونەركاسىپ ۇكىمەت") == "kaz"  # bare word-initial vowels
    assert arabic_turkic_orthography("كىتاب") is None


def test_cyrillic_orthography_rejects_impossible_labels():
    assert cyrillic_orthography("Қазақ тілі ұлттық", "ukr") == "kaz"
    assert cyrillic_orthography("Привет, как дела", "rus") is None
    assert cyrillic_orthography("Мен былтыр орта мектепті бітірдім.", "ukr") == "kaz"


def test_identify_labels(lid):
    assert lid.identify("Ақ көңілдің аты арып, тоны тозбас.").lang == "kaz_Cyrl"
    assert lid.identify("قاغا خۇشال ھالدا شاخقا قونۇپتۇ.").lang == "uig_Arab"
    assert lid.identify("The quick brown fox jumps over the lazy dog.").lang == "eng_Latn"
    res = lid.identify("12345 -- !!")
    assert res.lang == "und_Zyyy" and res.score == 0.0


def test_langid_language_restriction():
    lid = LanguageIdentifier("langid", languages=["kaz_Cyrl", "rus_Cyrl", "eng_Latn"])
    assert lid.identify("Бұл кітап жақсы.").lang == "kaz_Cyrl"
    with pytest.raises(ValueError, match="langid does not know"):
        LanguageIdentifier("langid", languages=["tat"])


def test_oscar_ug_sample_is_kazakh_in_arabic_script(data_root, lid):
    from xling.core.io import read_lines

    docs = [ln for ln in read_lines(data_root / "mono/ug/oscar2019_hf_dummy/ug_dedup.txt.gz") if ln.strip()]
    labels = Counter(lid.identify(d).lang for d in docs)
    assert labels == Counter({"kaz_Arab": len(docs)}), labels


def test_uyghur_common_voice_stays_uyghur(data_root, lid):
    from xling.core.io import read_lines

    lines = read_lines(data_root / "mono/ug/common_voice/sentence-collector.txt.xz")[::40]
    labels = Counter(lid.identify(ln).lang for ln in lines)
    assert labels["uig_Arab"] >= 0.97 * len(lines), labels
    assert labels["kaz_Arab"] == 0


@pytest.mark.parametrize("code,lang,min_acc", [("kk", "kaz_Cyrl", 0.97), ("ru", "rus_Cyrl", 0.88),
                                               ("en", "eng_Latn", 0.97), ("tr", "tur_Latn", 0.8),
                                               ("ar", "ara_Arab", 0.95), ("zh", "zho_Hani", 0.95)])
def test_lingua_testdata_accuracy(data_root, lid, code, lang, min_acc):
    from xling.core.io import read_lines

    lines = read_lines(data_root / f"lid/lingua_testdata/sentences/{code}.txt.xz")[:300]
    acc = sum(lid.identify(ln).lang == lang for ln in lines) / len(lines)
    assert acc >= min_acc, f"{lid.backend.name} {code}: {acc:.3f}"


def test_tatoeba_kazakh_mostly_kazakh_after_normalisation(data_root, lid):
    from corpora.normalize import normalize_text

    lines = (data_root / "tatoeba/tatoeba.kaz-eng.kaz").read_text(encoding="utf-8").splitlines()
    labels = Counter(lid.identify(normalize_text(ln)).lang for ln in lines)
    assert labels["kaz_Cyrl"] >= 0.9 * len(lines), labels


def test_russian_with_kazakh_names_stays_russian(lid):
    text = ("Медаль «Ұлттық қауіпсіздік қалқаны» І степени представляет собой металлический круг "
            "золотистого цвета диаметром 34 мм с выпуклым бортиком с обеих сторон.")
    assert lid.identify(text).lang == "rus_Cyrl"
    assert cyrillic_orthography(text, "rus", 0.99) is None


def test_one_script_fast_path_agrees_with_counting(data_root):
    """A line whose letters are all of its first letter's script skips the per-character table; on
    real lines of 8 scripts and on edge cases (numerals that are not letters, marks, mixed scripts)
    the answer equals the counting path's and the letter-by-letter reference's."""
    from test_hot_paths import reference_detect_script

    from corpora.lid_train import read_training_text

    lines = ["½ Қазақ", "፩ ሰላም", "Ⅻ Привет", "Crème ½", "日本語のテキストです", "ありがとう", "中文文本 abc", "Привет world",
             "مرحبا 123 ٤٥", "é\u0301", "\u0483Қ", "ĞİŞ ğış", "Ωmega Ω", "x\u00b2 ﬁ", "ǅemal ǈ", "ײַ", "Ꭰ ᏣᎳᎩ"]
    for rel in (f"lid/lingua_testdata/sentences/{c}.txt.xz" for c in ("kk", "ar", "el", "hi", "ja", "tr", "ka")):
        lines += read_training_text(data_root / rel)[:300]
    lines += read_training_text(data_root / "mono/ug/common_voice/sentence-collector.txt.xz")[:300]
    for text in lines:
        assert detect_script(text) == reference_detect_script(text) == detect_script(text, count=True), text


def test_identify_command_does_not_import_torch(tmp_path):
    """`xling corpora identify` needs fastText and the language profiles: torch and transformers (seconds to
    import, and every other command loads them) must stay out. A fresh interpreter runs the command and
    reports what it imported."""
    import json
    import subprocess
    import sys

    text = tmp_path / "lines.txt"
    text.write_text("Ақ көңілдің аты арып, тоны тозбас.\nThe quick brown fox jumps over the lazy dog.\n",
                    encoding="utf-8")
    code = ("import contextlib, io, json, sys\n"
            "from xling.cli import main\n"
            "out = io.StringIO()\n"
            "with contextlib.redirect_stdout(out):\n"
            "    rc = main(['corpora', 'identify', sys.argv[1]])\n"
            "heavy = sorted(m for m in ('torch', 'transformers') if m in sys.modules)\n"
            "print(json.dumps({'rc': rc, 'out': out.getvalue(), 'heavy': heavy}))\n")
    done = subprocess.run([sys.executable, "-c", code, str(text)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.splitlines()[-1])
    assert got["rc"] == 0
    assert [line.split("\t")[0] for line in got["out"].splitlines()] == ["kaz_Cyrl", "eng_Latn"]
    assert got["heavy"] == []
