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
