"""Language profiles changed no behaviour: LID, normalisation and transliteration on real data-root text
agree with the outputs recorded from the code before profiles existed.

The golden file `data/profile_golden.json` was written by `make_profile_golden.py` run on main @ 12b5aca,
where the rules were Python literals (corpora/lid.py, corpora/normalize.py, vocab/alphabets.py,
xling/translit.py), BEFORE they moved into `xling/core/lang_profiles/`. It holds data-root paths, line
numbers and outputs (texts as sha1 digests), so it is an independent record, not our current code's output.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import make_profile_golden as golden  # noqa: E402  (the golden file's own sampler and output record)

GOLDEN = json.loads((HERE / "data" / "profile_golden.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def identifiers():
    from corpora.lid import LanguageIdentifier

    return LanguageIdentifier("fasttext"), LanguageIdentifier("langid")


def test_alphabets_are_the_old_ones():
    from vocab.alphabets import alphabet, alphabets

    for lang, letters in GOLDEN["alphabets"].items():
        assert alphabet(lang) == letters, lang
    assert set(GOLDEN["alphabets"]) <= set(alphabets())


def test_outputs_on_real_text_are_the_old_ones(data_root, identifiers):
    ft, li = identifiers
    want: dict[tuple[str, int], dict] = {(r["file"], r["line"]): r for r in GOLDEN["rows"]}
    files = sorted({r["file"] for r in GOLDEN["rows"]})
    assert files == sorted(golden.sources()), "the sampler's file list changed since the golden file"
    diffs: Counter = Counter()
    examples: list[str] = []
    seen = 0
    for rel in files:
        for lineno, text in golden.sample(data_root, rel):
            row = want.get((rel, lineno))
            assert row is not None, f"{rel}:{lineno} was not sampled when the golden file was made"
            got = {"file": rel, "line": lineno, **golden.outputs(text, ft, li)}
            seen += 1
            for key in row:
                if got[key] != row[key]:
                    diffs[key] += 1
                    if len(examples) < 8:
                        examples.append(f"{rel}:{lineno} {key}: was {row[key]!r}, now {got[key]!r}")
    assert seen == len(GOLDEN["rows"])
    assert not diffs, f"{dict(diffs)} differ, e.g.\n" + "\n".join(examples)
