"""The one language-code table against two independent references: the ISO 639-3 code table's Part1
column (Debian iso-codes) and the Tatoeba file codes in google-research/xtreme `utils_preprocess.py`."""

from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from xling.core.langs import registry, tatoeba_code, to_iso1, to_iso3
from xling.core.paths import data_root

ISO_XML = Path("/usr/share/xml/iso-codes/iso_639-3.xml")


def test_disputed_codes_are_the_iso_macrolanguages():
    # The two old tables disagreed on exactly these; ISO's Part1 column decides.
    assert (to_iso3("fa"), to_iso3("sw"), to_iso3("zh")) == ("fas", "swa", "zho")
    assert to_iso3("KK") == "kaz" and to_iso3("ug") == "uig" and to_iso3("wuu") == "wuu"
    assert to_iso1("kaz") == "kk" and to_iso1("uig") == "ug" and to_iso1("xyz") == "xyz"


@pytest.mark.skipif(not ISO_XML.is_file(), reason="Debian iso-codes not installed")
def test_every_two_letter_code_matches_iso_639_3_part1():
    part1 = {e.get("part1_code"): e.get("id") for e in ET.parse(ISO_XML).getroot() if e.get("part1_code")}
    wrong = {k: (v, part1.get(k)) for k, v in registry().part1.items() if part1.get(k) != v}
    assert not wrong, f"ours vs ISO 639-3 Part1: {wrong}"


def test_tatoeba_codes_match_xtreme_preprocessing():
    root = data_root(required=False)
    script = root / "xtreme_reference" / "utils_preprocess.py" if root else None
    if script is None or not script.is_file():
        pytest.skip("xtreme_reference/utils_preprocess.py not in the data root")
    src = script.read_text(encoding="utf-8")
    body = re.search(r"lang3_dict = (\{.*?\})", src, re.S).group(1)
    xtreme = {two: three for three, two in ast.literal_eval(body).items()}
    assert {lang: tatoeba_code(lang) for lang in xtreme} == xtreme


# --- profiles and the registry ---------------------------------------------------------------------

def test_profiles_are_found_by_every_code_they_go_by():
    from xling.core.langs import profile, registry

    for code in ("kk", "kaz", "kaz_Cyrl", "kaz_Arab", "kk-ru", "KK"):
        assert profile(code).code == "kaz"
    assert registry().find("xyz") is None
    required = {"kaz", "uig", "kir", "tat", "uzb", "tuk", "aze", "bak", "sah", "tur", "rus", "eng"}
    assert required <= set(registry().profiles)
    assert set(profile("kk").scripts) == {"Cyrl", "Arab", "Latn"} and set(profile("ug").scripts) == {"Arab", "Latn", "Cyrl"}
    # Part1 codes of the profiles agree with the ISO table (Debian iso-codes test above covers all of them)
    assert {p.iso639_1 for p in registry() if p.iso639_1} <= set(registry().part1)


def test_glotlid_labels_map_to_ours():
    from xling.core.langs import registry

    reg = registry()
    # GlotLID names individual languages of a macrolanguage (ISO 639-3 `uzn` Northern Uzbek, `azj`
    # North Azerbaijani, `khk` Halh Mongolian); our labels use the macrolanguage, as lid.176 does
    assert reg.from_glotlid("__label__uzn_Latn") == "uzb_Latn" and reg.from_glotlid("azj_Latn") == "aze_Latn"
    assert reg.from_glotlid("khk_Cyrl") == "mon_Cyrl" and reg.from_glotlid("uig_Latn") == "uig_Latn"
    assert reg.from_glotlid("deu_Latn") == "deu_Latn"  # no profile: the label's own code


def test_unknown_language_names_the_profiles_and_the_env_var():
    from xling.core.langs import profile
    from xling.core.registry import RegistryError

    with pytest.raises(RegistryError, match=r"no language profile for 'kzz'\. Did you mean 'kaz'.*XLING_LANG_PROFILES"):
        profile("kzz")


def _write(d, name, text):
    d.mkdir(exist_ok=True)
    (d / name).write_text(text, encoding="utf-8")
    return d


MINI = "code: {code}\nname: X\ndefault_script: Latn\nscripts: {{Latn: {{alphabet: abc}}}}\n{extra}"


def test_user_profiles_add_and_replace_languages(tmp_path, monkeypatch):
    from xling.core.langs import profile, registry, tatoeba_code, to_iso1, to_iso3

    d = _write(tmp_path / "p", "crh.yaml", MINI.format(code="crh", extra="lid: {labels: {lid176: crh}}\n"))
    _write(d, "eng.yaml", MINI.format(code="eng", extra="iso639_1: en\n"))
    monkeypatch.setenv("XLING_LANG_PROFILES", str(d))
    assert profile("crh").path == d / "crh.yaml" and to_iso3("crh") == "crh" and tatoeba_code("crh") == "crh"
    assert profile("en").alphabet("Latn") == "abc" and to_iso1("eng") == "en"  # the user's file wins
    monkeypatch.delenv("XLING_LANG_PROFILES")
    assert registry().find("crh") is None and len(profile("en").alphabet("Latn")) == 26


@pytest.mark.parametrize("text,named", [
    (MINI.format(code="crh", extra="colour: red\n"), r"crh\.yaml: unknown config key 'colour'"),
    (MINI.format(code="crx", extra=""), r"crh\.yaml: code: 'crx' differs from the file name"),
    (MINI.format(code="crh", extra="iso639_1: kk\n"), r"ISO 639-1 code 'kk' is claimed by both .*crh\.yaml"),
    (MINI.format(code="crh", extra="").replace("default_script: Latn", "default_script: Cyrl"),
     r"default_script: 'Cyrl' is not one of scripts"),
    (MINI.format(code="crh", extra="").replace("alphabet: abc", "alphabet: ABC"), r"scripts\.Latn\.alphabet"),
    (MINI.format(code="crh", extra="").replace("alphabet: abc", "alphabet: abc, other_letters: Â"),
     r"scripts\.Latn\.other_letters"),
    (MINI.format(code="crh", extra="normalize: {homoglyphs: {Latn: {a: b}}}\n"), r"homoglyphs\.Latn: only Cyrl"),
    ("code: [crh\n", r"crh\.yaml: invalid YAML"),
])
def test_bad_profiles_name_file_and_key(tmp_path, monkeypatch, text, named):
    from xling.core.errors import InputError
    from xling.core.langs import registry

    monkeypatch.setenv("XLING_LANG_PROFILES", str(_write(tmp_path / "p", "crh.yaml", text)))
    with pytest.raises(InputError, match=named):
        registry()


def test_lang_show_lists_evaluation_sets_and_what_is_missing(data_root):
    from xling.lang_cli import format_report, language_report

    rep = language_report("tt", data_root)
    text = format_report(rep)
    assert text.startswith("Tatar (tat, tt)")
    assert ("tatoeba_turkic", "test") in {(t, s) for t, s, where in rep.eval_sets if where}
    assert any("tatoeba.tat-eng.tat" in where for _, _, where in rep.eval_sets)
    assert any(m.startswith("lid.labels.langid") for m in rep.missing)  # langid.py has no Tatar
    assert any(m.startswith("scripts.Latn.alphabet") for m in rep.missing)
    kk = language_report("kk", data_root)
    assert not any(m.startswith("translit") for m in kk.missing)  # the 2021 Latin view
    assert "translit latn2021: Cyrl → Latn (letters" in format_report(kk)
