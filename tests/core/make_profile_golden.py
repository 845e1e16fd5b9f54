"""Write `tests/core/data/profile_golden.json`: LID, normalisation and transliteration outputs on real
data-root text, as produced by the code BEFORE language profiles existed (main @ 12b5aca, where the
rules were Python literals in corpora/lid.py, corpora/normalize.py, vocab/alphabets.py, xling/translit.py).

It was run once on that commit; `tests/core/test_profiles_golden.py` recomputes the same outputs with
today's profile-driven code and compares. The file stores data-root paths, line numbers and outputs
(text outputs as sha1 digests), never the text itself. Re-running this script on later code only
re-records that code's behaviour: do not, unless a behaviour change is intended and reviewed.

    PYTHONPATH=. XLING_DATA=/work/shared/data python tests/core/make_profile_golden.py
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections import Counter
from pathlib import Path

from xling.core.io import read_lines
from xling.core.paths import data_root

PER_FILE = 30
TATOEBA = ("kaz", "uig", "tat", "uzb", "tur", "rus", "aze", "ukr", "bel", "bul", "mkd", "srp", "pes", "ara",
           "urd", "mhr", "kur", "deu")
LINGUA = ("kk", "az", "mn", "uk", "be", "ru", "bg", "mk", "sr", "tr", "ar", "fa", "ur", "en", "hu", "de")
OSCAR = ("mono/kk/oscar2019_hf_dummy/kk_dedup.txt.gz", "mono/ug/oscar2019_hf_dummy/ug_dedup.txt.gz",
         "mono/ky/oscar2019_hf_dummy/ky_dedup.txt.gz", "mono/tt/oscar2019_hf_dummy/tt_dedup.txt.gz",
         "mono/uz/oscar2019_hf_dummy/uz_dedup.txt.gz", "mono/ru/oscar2019_hf_dummy/ru_part_1.txt.gz")
OTHER = ("mono/kk/common_voice/sentence-collector.txt.xz", "mono/ug/common_voice/sentence-collector.txt.xz",
         "mono/ug/thuyg20_transcripts_latin/thuyg20_train.tsv.xz")
UDHR = ("sah", "tuk_latn", "uzn_cyrl", "uzn_latn", "uig_latn", "uig_arab", "kaz", "kir", "tat", "azj_latn")
_PARA_RE = re.compile(r"<para>(.*?)</para>", re.S)


def sources() -> list[str]:
    out = [f"tatoeba/tatoeba.{c}-eng.{c}" for c in TATOEBA] + ["tatoeba/tatoeba.kaz-eng.eng"]
    out += [f"lid/lingua_testdata/sentences/{c}.txt.xz" for c in LINGUA]
    return out + list(OSCAR) + list(OTHER) + [f"parallel/udhr/focus/udhr_{c}.xml" for c in UDHR]


def sample(root: Path, rel: str) -> list[tuple[int, str]]:
    """Up to PER_FILE (line number, text) pairs spread over the file; line numbers count from 1
    (UDHR: the n-th <para>; THUYG: the transcript column)."""
    if rel.endswith(".xml"):
        lines = [re.sub(r"\s+", " ", p).strip() for p in _PARA_RE.findall((root / rel).read_text("utf-8"))]
    else:
        lines = list(read_lines(root / rel))
        if rel.endswith(".tsv.xz"):
            lines = [ln.split("\t", 1)[1] if "\t" in ln else ln for ln in lines]
    numbered = [(i, ln) for i, ln in enumerate(lines, 1) if ln.strip()]
    step = max(1, len(numbered) // PER_FILE)
    return numbered[::step][:PER_FILE]


def sha(s: str) -> str:
    return hashlib.sha1(s.encode("utf-8")).hexdigest()[:10]


def outputs(text: str, ft, li) -> dict:
    from corpora.lid import arabic_turkic_orthography, cyrillic_orthography, detect_script
    from corpora.normalize import normalize_text, uly_to_uey
    from xling.translit import kk_cyrl_to_latn, kk_latn_to_cyrl, uey_to_uly

    counts: Counter = Counter()
    norm = normalize_text(text, counts)
    r = ft.identify(text)
    rn = ft.identify(norm)
    low = text.lower()
    return {
        "ft": [r.lang, r.score, r.model_lang], "ft_norm": [rn.lang, rn.score],
        "langid": li.identify(text).lang,
        "script": detect_script(text)[0],
        "norm": sha(norm), "norm_counts": dict(sorted((k, v) for k, v in counts.items() if v)),
        "arab": arabic_turkic_orthography(text),
        # only the relabellings (None, "predicted fits", is the common case)
        "cyrl": {p: c for p in ("rus", "ukr", "bul", "kaz", "tat") if (c := cyrillic_orthography(low, p))},
        "uey2uly": sha(uey_to_uly(text)), "uly2uey": sha(uly_to_uey(text)),
        "kk2latn": sha(kk_cyrl_to_latn(text)), "kklatn2cyrl": sha(kk_latn_to_cyrl(text)),
    }


def main() -> int:
    from corpora.lid import LanguageIdentifier
    from vocab.alphabets import ALPHABETS

    root = data_root(required=True)
    ft, li = LanguageIdentifier("fasttext"), LanguageIdentifier("langid")
    rows = []
    for rel in sources():
        for lineno, text in sample(root, rel):
            rows.append({"file": rel, "line": lineno, **outputs(text, ft, li)})
    golden = {"made_from": "main @ 12b5aca (rules as Python literals, before language profiles)",
              "per_file": PER_FILE, "alphabets": ALPHABETS, "rows": rows}
    out = Path(__file__).parent / "data" / "profile_golden.json"
    # one row per line: a behaviour change shows up in `git diff` as the rows it touched
    body = json.dumps({k: v for k, v in golden.items() if k != "rows"}, ensure_ascii=False)[:-1]
    row_lines = ",\n".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in rows)
    out.write_text(f'{body}, "rows": [\n{row_lines}\n]}}\n', encoding="utf-8")
    print(f"{len(rows)} rows → {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
