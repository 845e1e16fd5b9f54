"""Rebuild eval_xtreme/pretrain_manifest.json after a shipped recipe changes its `$XLING_DATA/...` inputs.

    XLING_DATA=../shared/data python scripts/pretrain_manifest.py

Every such input of the recipes in LISTS (following `include:`) becomes a source: its upstream URL at the
commit the data root's MANIFEST.md records (rules in `upstream`; a new kind of file needs a rule), the
sha256 and size of the upstream bytes (the data root's copy, decompressed), its license. Files in DERIVED
have no public original and are listed in `manual`. `tests/eval_xtreme/test_fetch.py` checks the result
against the recipes and the data root.
"""
import hashlib
import json
import lzma
import os
import re
import urllib.parse
from pathlib import Path

import yaml

ROOT = Path(os.environ.get("XLING_DATA", "../shared/data"))
REPO = Path(__file__).resolve().parents[1]
RAW = "https://raw.githubusercontent.com/"
CV = {"kk": "3c37272da3a25e2af6c95b97e8cb8691f124bb26", "ug": "e125bd5d90767fca0ff8957d1aac4769d997166d"}
LINGUA = "8aa23cd523c9e13464159e7f35571c1169c9ec94"
APERTIUM = "7bd16ebbd005838988fd9c0d47a31e2564921b07"
OPUS = "ac0f19c0be3cb4e0d9450fcb2d7a9847c4bdd180"
UDHR = "91daa23a768864dfd2f5a9ddeeefe37e95fac31b"
# MANIFEST.md names gheyret/uyghur-asr-ctc @ 1211aaae2648 (abbreviated); the file is unchanged since the commit
# that added it, whose full id is this one (same 1,177,561 characters)
THUYG = "8d6465b11cf061096b63c473f581f1f7a80bfac0"
CV_NOTE = ("The data root's copy was re-assembled from 16,000-character pages of the upstream file (MANIFEST.md "
           "§10): its length equals upstream, but look-alike characters cannot be guaranteed byte-identical, so "
           "the canonical URL may fail this checksum; a mirror of the data root passes it.")

def upstream(rel: str) -> tuple[str, str, str, str]:
    """(url, license, note, name) for a data-root relative path (stored .xz)."""
    m = re.fullmatch(r"mono/(kk|ug)/common_voice/sentence-collector.txt.xz", rel)
    if m:
        ll = m.group(1)
        return (f"{RAW}common-voice/common-voice/{CV[ll]}/server/data/{ll}/sentence-collector.txt", "CC0-1.0",
                CV_NOTE, f"common-voice-{ll}-sentence-collector")
    m = re.fullmatch(r"lid/lingua_testdata/sentences/(\w+).txt.xz", rel)
    if m:
        ll = m.group(1)
        return (f"{RAW}pemistahl/lingua/{LINGUA}/src/accuracyReport/resources/language-testdata/sentences/{ll}.txt",
                "lingua repository Apache-2.0; sentences drawn from the Leipzig Corpora Collection (its terms apply)",
                "", f"lingua-leipzig-sentences-{ll}")
    m = re.fullmatch(r"parallel/kk-ru/apertium_kaz_rus_CORPUS/(.+)\.xz", rel)
    if m:
        up = {"udp+kaz": "udp+kaz."}.get(m.group(1), m.group(1))
        note = "upstream file name ends in a dot (CORPUS/udp+kaz.)" if up != m.group(1) else ""
        return (f"{RAW}apertium/apertium-kaz-rus/{APERTIUM}/CORPUS/{urllib.parse.quote(up)}",
                "GPL-3.0 (apertium-kaz-rus COPYING); text from Kazakh government web sites", note,
                f"apertium-kaz-rus-{m.group(1).replace('+', '-').replace('.', '-')}")
    if rel == "mono/ug/thuyg20_transcripts_latin/thuyg20_train.tsv.xz":
        return (f"{RAW}gheyret/uyghur-asr-ctc/{THUYG}/thuyg20_train.csv",
                "THUYG-20 (OpenSLR 22, CSLT@Tsinghua University & Xinjiang University; gheyret/uyghur-asr-ctc has "
                "no LICENSE file)", "upstream name thuyg20_train.csv (tab-separated wav path and ULY text)",
                "thuyg20-train-transcripts")
    m = re.fullmatch(r"parallel/udhr/focus/(udhr_\w+\.xml)", rel)
    if m:
        return (f"{RAW}unicode-org/udhr/{UDHR}/data/udhr/{m.group(1)}",
                "UDHR text © The Office of the High Commissioner for Human Rights (unicode-org/udhr has no "
                "LICENSE file)", "", m.group(1).replace("_", "-").removesuffix(".xml"))
    m = re.fullmatch(r"parallel/en-(kk|tr|ru)/wmt_newstest/(\d+)/([\w-]+)/newstest(\d+)\.(\w+)\.xz", rel)
    if m:
        year, pair, ll = m.group(2), m.group(3), m.group(5)
        note = ""
        if pair == "en-tr_both-directions":
            pair, note = "en-tr", "upstream en-tr and tr-en hold the same file; the data root keeps it once"
        return (f"{RAW}Helsinki-NLP/OPUS-MT-testsets/{OPUS}/datasets/statmt/wmt_newstest/{year}/{pair}/"
                f"newstest{year}.{ll}", "WMT news test set (statmt.org, distributed for research use)", note,
                f"wmt-newstest{year}-{m.group(3).replace('_both-directions', '')}-{ll}")
    raise SystemExit(f"no upstream rule for {rel}")

def refs(obj, out):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "include":
                for inc in v:
                    refs(yaml.safe_load((REPO / inc).read_text()), out)
            else:
                refs(v, out)
    elif isinstance(obj, list):
        for v in obj:
            refs(v, out)
    elif isinstance(obj, str) and "$XLING_DATA/" in obj:
        out.append(re.sub(r"#[0-9]+$", "", obj.split("$XLING_DATA/", 1)[1]))  # file.tsv#N: a column of the file

DERIVED = {"mono/kk/apertium_kaz_segmentation_corpus/segmentation-corpus.lines1-8000.tsv.xz"}
LISTS = {"demo": "recipes/kk-ug-demo.yaml", "cpu-long": "recipes/kk-ug-cpu-long.yaml",
         "corpus-kk-ug-cpu": "recipes/corpus-kk-ug-cpu.yaml", "xobj": "recipes/xobj.yaml",
         "pretrain-debug": "recipes/pretrain-debug.yaml", "bt-train-kk-ru": "recipes/bt-train-kk-ru.yaml",
         "bt-translate-kk-ru": "recipes/bt-translate-kk-ru.yaml"}
members: dict[str, list[str]] = {}
lists = {}
for name, recipe in LISTS.items():
    raw = yaml.safe_load((REPO / recipe).read_text())
    out: list[str] = []
    refs(raw, out)
    for rel in out:
        if rel not in DERIVED:
            members.setdefault(rel, [])
            if name not in members[rel]:
                members[rel].append(name)
    tasks = (raw.get("eval") or {}).get("tasks") or []
    lists[name] = {"recipe": recipe, "eval_tasks": tasks}
sources = []
for rel in sorted(members):
    xz = rel.endswith(".xz")
    if xz:
        with lzma.open(ROOT / rel, "rb") as f:
            data = f.read()
    else:
        data = (ROOT / rel).read_bytes()
    url, lic, note, name = upstream(rel)
    e = {"name": name, "tasks": members[rel], "url": url, "path": rel, **({"store": ".xz"} if xz else {}),
         "size": len(data),
         "sha256": hashlib.sha256(data).hexdigest(), "license": lic}
    if note:
        e["note"] = note
    sources.append(e)
manifest = {
    "version": 1,
    "about": ("Public sources of every pretraining input of the shipped recipes (`xling data fetch --pretrain "
              "LIST`). `tasks` names the lists a file belongs to; `size` and `sha256` are those of the upstream "
              "file's bytes (the decompressed content of the data root's copy, which is stored xz-compressed at "
              "`path`: `store`; the UDHR XML files are kept as published). Checksums were computed from the data root (shared/data), which holds these "
              "files byte-for-byte apart from re-compression (MANIFEST.md), except where a note says otherwise."),
    "lists": lists,
    "manual": {"cpu-long": ("mono/kk/apertium_kaz_segmentation_corpus/segmentation-corpus.lines1-8000.tsv.xz is "
                            "derived (the first 8,000 of 9,299 lines of apertium/apertium-kaz @ 95c6dd0d8536 "
                            "dev/segmentation-corpus.tsv; the rest is a held-out set), so no public file has "
                            "its checksum: copy it from a data root or drop it from the recipe's inputs.")},
    "sources": sources,
}
names = [s["name"] for s in sources]
assert len(set(names)) == len(names), names
(REPO / "eval_xtreme/pretrain_manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
print(len(sources), {k: sum(k in s["tasks"] for s in sources) for k in LISTS}, sum(s["size"] for s in sources))
