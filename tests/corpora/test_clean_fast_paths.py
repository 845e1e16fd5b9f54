"""The clean pipeline's fast paths give what the slow paths they replace give, on real documents.

Each fast path is checked against an independent slow one: datatrove's own `BaseFilter.run` and
per-document `stat_update` for `XlingFilter.run`/`StatBuffer`, CCNet's normalisation written out the
straightforward way for `normalize_for_dedup`, `normalize_text` with its combined pre-check disabled,
and, end to end, a clean run with all of these slow paths (and a JSON-lines intermediate shard)
against the default run: every output file and stats.json byte for byte.
"""

from __future__ import annotations

import copy
import gzip
import re
import unicodedata
from collections import Counter
from pathlib import Path

import pytest
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from corpora import clean as clean_mod
from corpora import normalize as normalize_mod
from corpora.clean import CleanConfig, run_clean
from corpora.document import AtomicJsonlWriter, RowShardWriter, StatBuffer, XlingFilter, read_row_shard
from corpora.exact_dedup import normalize_for_dedup
from corpora.filters import QualityFilter
from corpora.lid import LanguageFilter
from corpora.normalize import normalize_text
from xling.core.errors import InputError
from xling.core.io import read_jsonl, read_lines

ODD = ["ＡＢＣ１２３ ！！", "x\U0001D7CE\U0001D7CFy", "a\u00a0 b\x1c c\u2003", "  Hello, World!! 42  ", "𝟘𝟙 ؟،",
       "İstanbul ǅ", "\u0660\u0661\u06f1", "Бiлiм — «Ақ» &quot;жол&quot;\r\nекі\u200bжол", "ﻛﯩﺘﺎﺏ كــــىتاب",
       "a\t\tb  \n\n\n\n c ", "\nзат\n", "x\n\n\n\ny", "\u202bبۇ\u202c\x07", "e\u0301te\u0301", " ", ""]


@pytest.fixture(scope="module")
def texts(data_root) -> list[str]:
    """Real lines in the benchmark's languages and scripts, plus a few multi-line documents."""
    lines: list[str] = []
    for name in ("mono/kk/common_voice/sentence-collector.txt.xz", "mono/ug/common_voice/sentence-collector.txt.xz",
                 *(f"lid/lingua_testdata/sentences/{c}.txt.xz" for c in ("ru", "en", "ar", "zh", "tr", "el"))):
        lines += read_lines(data_root / name)[:150]
    docs = ["\n".join(lines[i:i + 7]) for i in range(0, 140, 7)]
    return lines + docs + ODD


def _ccnet_reference(line: str) -> str:
    """CCNet's normalisation the direct way: a dict translate table and a whitespace regex."""
    table = {cp: None for cp in range(0x10000) if unicodedata.category(chr(cp))[0] in "PS"}
    _ccnet_reference.__dict__.setdefault("table", table)
    line = re.sub(r"\d", "0", line.lower()).translate(_ccnet_reference.table)
    return re.sub(r"\s+", " ", line).strip()


def test_normalize_for_dedup_matches_the_direct_version(texts):
    lines = [ln for t in texts for ln in t.split("\n")]
    assert [normalize_for_dedup(ln) for ln in lines] == [_ccnet_reference(ln) for ln in lines]


def test_normalize_text_precheck_changes_nothing(texts, monkeypatch):
    fast = []
    for t in texts:
        c: Counter = Counter()
        fast.append((normalize_text(t, c), dict(c)))
    monkeypatch.setattr(normalize_mod, "_ANY_FIX_RE", re.compile(""))  # always "something to fix"
    slow = []
    for t in texts:
        c = Counter()
        slow.append((normalize_text(t, c), dict(c)))
    assert fast == slow
    assert any(c for _, c in fast) and any(not c for _, c in fast)  # both paths were taken


def _docs(texts: list[str]) -> list[Document]:
    langs = ["kaz_Cyrl", "uig_Arab", "rus_Cyrl", "eng_Latn", "und_Zyyy", "zho_Hani"]
    return [Document(text=t, id=str(i), metadata={"lang": langs[i % len(langs)], "lang_score": (i % 10) / 10,
                                                   "chars_in": len(t) + i % 3})
            for i, t in enumerate(texts) if t]


@pytest.mark.parametrize("make", [lambda w: QualityFilter(exclusion_writer=w),
                                  lambda w: LanguageFilter(["kaz_Cyrl", "uig_Arab", "rus_Cyrl"], 0.3,
                                                           exclusion_writer=w)])
def test_xling_filter_run_matches_datatrove_run(texts, tmp_path, make):
    results = {}
    for name, run in (("fast", XlingFilter.run), ("datatrove", BaseFilter.run)):
        step = make(AtomicJsonlWriter(tmp_path / name, "removed.jsonl.gz"))
        kept = [(d.id, d.text, d.metadata) for d in run(step, iter(copy.deepcopy(_docs(texts))), rank=0)]
        removed = list(read_jsonl(tmp_path / name / "removed.jsonl.gz"))
        results[name] = kept, removed, step.stats.stats.to_dict(), step.stats.time_stats.n
    fast, slow = results["fast"], results["datatrove"]
    assert fast[0] == slow[0] and fast[1] == slow[1] and fast[3] == slow[3]
    assert fast[0] and fast[1]  # documents both kept and removed
    assert list(fast[2]) == list(slow[2])  # same labels in the same order
    for label, s in slow[2].items():
        f = fast[2][label]
        if isinstance(s, dict):  # datatrove's running mean/variance vs ours: equal up to rounding
            assert {k: v for k, v in f.items() if k not in ("mean", "variance", "std_dev")} == \
                   {k: v for k, v in s.items() if k not in ("mean", "variance", "std_dev")}, label
            for key in ("mean", "variance"):
                assert f.get(key, 0.0) == pytest.approx(s.get(key, 0.0)), (label, key)
        else:
            assert f == s, label


def test_stat_buffer_equals_per_document_updates():
    class Step(XlingFilter):
        def filter(self, doc):
            return True

    values = [3, 1, 4, 1, 5, 9, 2, 6]
    one, bulk = Step(), Step()
    for v in values:
        one.stat_update("x", value=v)
        one.stat_update("n")
    buf = StatBuffer()
    for v in values:
        buf.add("x", v)
        buf.add("n")
    buf.flush(bulk)
    a, b = one.stats["x"], bulk.stats["x"]
    assert (a.total, a.n, a.min, a.max) == (b.total, b.n, b.min, b.max) == (31, 8, 1, 9)
    assert a.mean == pytest.approx(b.mean) and a.variance == pytest.approx(b.variance)
    assert one.stats["n"].to_dict() == bulk.stats["n"].to_dict() == 8


def test_row_shard_round_trip_and_truncation(tmp_path):
    rows_in = [{"id": str(i), "text": f"жол {i}\nسەتىر", "lang": "kaz_Cyrl", "lang_score": i / 7,
                "source": "s", "metadata": {"norm": "", "chars_in": i}} for i in range(2500)]
    writer = RowShardWriter(tmp_path, "${rank}.rows.gz", compresslevel=1)
    with writer:
        for r in rows_in:
            writer.write(Document(text=r["text"], id=r["id"], metadata={"lang": r["lang"], "lang_score": r["lang_score"],
                                                                        "source": "s", "chars_in": r["metadata"]["chars_in"]}))
    path = tmp_path / "00000.rows.gz"
    rows = list(read_row_shard(path))
    assert [(r["id"], r["text"], r["lang_score"], r["metadata"]["chars_in"]) for r in rows] == \
           [(r["id"], r["text"], r["lang_score"], r["metadata"]["chars_in"]) for r in rows_in]
    cut = tmp_path / "cut.rows.gz"
    raw = gzip.decompress(path.read_bytes())
    cut.write_bytes(gzip.compress(raw[: len(raw) - 100]))
    with pytest.raises(InputError, match=r"cut\.rows\.gz: truncated row shard"):
        list(read_row_shard(cut))


def test_clean_output_equals_the_slow_paths(data_root, tmp_path, monkeypatch):
    """End to end on real text: default run vs datatrove's filter loop, no normalisation pre-check and a
    JSON-lines intermediate shard (read through ShardReader's fallback)."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    for code in ("kk", "ru", "en"):
        (inputs / f"{code}.txt").write_text("\n".join(read_lines(
            data_root / f"lid/lingua_testdata/sentences/{code}.txt.xz")[:80] * 2) + "\n", encoding="utf-8")
    ug = read_lines(data_root / "mono/ug/common_voice/sentence-collector.txt.xz")[:80]
    (inputs / "ug.txt").write_text("\n".join(ug) + "\n" + "\n".join(ODD) + "\n", encoding="utf-8")

    def outputs(out: Path) -> dict[str, bytes]:
        files = sorted(out.glob("kept/*/*.jsonl.gz")) + sorted(out.glob("removed/*.jsonl.gz"))
        return {str(p.relative_to(out)): gzip.decompress(p.read_bytes()) for p in files} | {
            "stats.json": (out / "stats.json").read_bytes()}

    fast = outputs(run_clean(CleanConfig(inputs=[str(inputs)], out=str(tmp_path / "fast"))))
    monkeypatch.setattr(XlingFilter, "run", BaseFilter.run)
    monkeypatch.setattr(normalize_mod, "_ANY_FIX_RE", re.compile(""))
    monkeypatch.setattr(clean_mod, "RowShardWriter",
                        lambda folder, filename, compresslevel: AtomicJsonlWriter(folder, "${rank}.jsonl.gz"))
    slow_out = run_clean(CleanConfig(inputs=[str(inputs)], out=str(tmp_path / "slow")))
    assert list((slow_out / "work" / "docs").glob("*.jsonl.gz"))  # the JSON-lines intermediate was used
    slow = outputs(slow_out)
    assert len(fast) > 6 and fast == slow
