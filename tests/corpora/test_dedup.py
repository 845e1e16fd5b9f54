"""MinHash near-duplicate removal: clustering, the dedup stage layout, bad input, determinism, resume."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from corpora.corpus import find_language_shards, iter_documents
from corpora.dedup import DedupConfig, dedup_corpus
from corpora.minhash import MinHashConfig, near_duplicate_clusters
from xling.core.io import read_json, read_jsonl, read_lines, write_jsonl_atomic

UG = "mono/ug/common_voice/sentence-collector.txt.xz"
KK_GOV = ["parallel/kk-ru/apertium_kaz_rus_CORPUS/knb-kaz-1010.xz",
          "parallel/kk-ru/apertium_kaz_rus_CORPUS/udp+kaz.xz",
          "parallel/kk-ru/apertium_kaz_rus_CORPUS/election-kaz-660.xz"]


@pytest.fixture(scope="module")
def ug_lines(data_root):
    return [ln for ln in read_lines(data_root / UG) if ln.strip()]


def _docs(lines: list[str], per_doc: int) -> list[str]:
    return [" ".join(lines[i:i + per_doc]) for i in range(0, len(lines) - per_doc + 1, per_doc)]


def test_clusters_near_copies_of_real_documents(ug_lines):
    docs = _docs(ug_lines[:1200], 6)  # 200 paragraphs of real Uyghur
    # A near copy: one sentence of six replaced (Jaccard of 5-gram sets stays high).
    variant = docs[7].replace(ug_lines[7 * 6 + 5], ug_lines[-1])
    punct = docs[11].replace("،", ",").replace(".", "!") + " ."  # punctuation-only changes
    texts = [*docs, variant, punct]
    kept, size = near_duplicate_clusters(texts, MinHashConfig())
    assert kept[len(docs)] == 7 and kept[len(docs) + 1] == 11
    assert size[7] == 2 and size[11] == 2
    survivors = np.flatnonzero(kept == np.arange(len(texts)))
    assert len(survivors) == len(docs)  # the 200 distinct paragraphs all survive


def test_keep_longest_is_deterministic(ug_lines):
    base = " ".join(ug_lines[:8])
    longer = base + " " + ug_lines[9]
    kept, _ = near_duplicate_clusters([base, longer], MinHashConfig(keep="longest", threshold=0.5))
    assert kept.tolist() == [1, 1]
    kept, _ = near_duplicate_clusters([base, longer], MinHashConfig(keep="first", threshold=0.5))
    assert kept.tolist() == [0, 0]


def test_config_errors():
    with pytest.raises(ValueError, match="num_bands"):
        MinHashConfig(num_bands=0)
    with pytest.raises(ValueError, match="threshold"):
        MinHashConfig(threshold=1.5)


def _write_corpus(root: Path, docs: dict[str, list[dict]], broken: bool = False) -> Path:
    for lang, rows in docs.items():
        write_jsonl_atomic(root / "kept" / lang / "00000.jsonl.gz", rows)
    if broken:
        p = root / "kept" / "uig_Arab" / "00001.jsonl.gz"
        with gzip.open(p, "wt", encoding="utf-8") as f:
            f.write('{"id": "bad-1", "text": "unterminated\n')
            f.write('{"id": "bad-2", "lang": "uig_Arab"}\n')
            f.write('["not", "an", "object"]\n')
    return root


@pytest.fixture(scope="module")
def small_corpus(ug_lines, data_root, tmp_path_factory):
    """Cleaned-corpus layout with real ug paragraphs (+ planted near copies) and real kk gov lines."""
    ug = _docs(ug_lines[:900], 5)
    ug_rows = [{"id": f"ug-{i}", "text": t, "lang": "uig_Arab", "lang_score": 0.99, "source": "cv"}
               for i, t in enumerate(ug)]
    # Near copies: punctuation changed and one word appended (boilerplate-style variation).
    ug_rows += [{"id": f"ug-copy-{i}", "text": ug[i].replace("،", ";") + " " + ug_lines[-1 - i].split()[0],
                 "lang": "uig_Arab",
                 "lang_score": 0.99, "source": "cv"} for i in range(0, 60, 3)]
    kk = [ln for rel in KK_GOV for ln in read_lines(data_root / rel) if len(ln.split()) >= 6]
    kk_rows = [{"id": f"kk-{i}", "text": t, "lang": "kaz_Cyrl", "lang_score": 0.9, "source": "gov"}
               for i, t in enumerate(kk)]
    return _write_corpus(tmp_path_factory.mktemp("clean"), {"uig_Arab": ug_rows, "kaz_Cyrl": kk_rows}, broken=True)


def _read_tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.suffix == ".gz"}


def test_dedup_stage_layout_and_stats(small_corpus, tmp_path):
    out = dedup_corpus([small_corpus], tmp_path / "dedup", progress=False)
    shards = find_language_shards(out)
    assert set(shards) == {"kaz_Cyrl", "uig_Arab"}
    stats = read_json(out / "stats.json")
    ug = stats["languages"]["uig_Arab"]
    assert ug["removed"]["near_duplicate"] == 20  # exactly the planted copies
    assert ug["removed"]["malformed_json"] == 2 and ug["removed"]["missing_text"] == 1
    kept = list(iter_documents(shards["uig_Arab"]))
    by_id = {d["id"]: d for d in kept}
    assert all(f"ug-copy-{i}" not in by_id for i in range(0, 60, 3))
    assert by_id["ug-0"]["metadata"]["dup_cluster_size"] == 2 and by_id["ug-1"]["metadata"]["dup_cluster_size"] == 1
    removed = [r for p in sorted((out / "removed").glob("uig_Arab-*.jsonl.gz")) for r in read_jsonl(p)]
    assert {r["reason"] for r in removed} == {"near_duplicate"}
    assert {r["duplicate_of"] for r in removed} == {f"ug-{i}" for i in range(0, 60, 3)}
    # Real gov web text overlaps heavily across sites (MANIFEST: ~57% of knb lines recur elsewhere).
    kk = stats["languages"]["kaz_Cyrl"]
    assert kk["removed"]["near_duplicate"] > 0.2 * kk["docs_in"]
    kk_texts = [" ".join(d["text"].split()) for d in iter_documents(shards["kaz_Cyrl"])]
    assert len(kk_texts) == len(set(kk_texts)) == kk["kept"]  # no exact copy survives
    assert (out / "report.md").is_file() and (out / "dedup.png").is_file() and (out / "stage.json").is_file()


def test_dedup_deterministic_and_resumes(small_corpus, tmp_path):
    a = dedup_corpus([small_corpus], tmp_path / "a", progress=False)
    b = dedup_corpus([small_corpus], tmp_path / "b", progress=False)
    assert _read_tree(a) == _read_tree(b)
    # Simulate a run killed while writing kaz_Cyrl: its marker and folder are gone, stage not done.
    shutil.rmtree(b / "kept" / "kaz_Cyrl")
    (b / ".done" / "kaz_Cyrl.json").unlink()
    _mark_unfinished(b)
    uig_before = (b / "kept" / "uig_Arab" / "00000.jsonl.gz").stat().st_mtime_ns
    dedup_corpus([small_corpus], b, progress=False)
    assert _read_tree(a) == _read_tree(b)
    assert (b / "kept" / "uig_Arab" / "00000.jsonl.gz").stat().st_mtime_ns == uig_before  # not redone
    with pytest.raises(ValueError, match="other settings"):
        dedup_corpus([small_corpus], b, DedupConfig(minhash=MinHashConfig(ngram=3)), progress=False)


def test_dedup_cli(small_corpus, tmp_path, capsys):
    import argparse

    from corpora.cli import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["corpora", "dedup", str(small_corpus), "--out", str(tmp_path / "o"), "--ngram", "4",
                              "--keep", "longest"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "uig_Arab" in out and str(tmp_path / "o") in out
    assert "ngram: 4" in (tmp_path / "o" / "config.yaml").read_text()


def test_refuses_to_resume_over_changed_inputs(small_corpus, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(small_corpus, corpus)
    out = dedup_corpus([corpus], tmp_path / "o", progress=False)
    shard = corpus / "kept" / "kaz_Cyrl" / "00000.jsonl.gz"
    rows = list(read_jsonl(shard))[:-5]
    write_jsonl_atomic(shard, rows)  # the cleaned corpus was rewritten
    with pytest.raises(ValueError, match=r"finished with other settings: input inputs\.0 \(.*corpus\): \"folder \d+ files [0-9a-f]+\" → "):
        dedup_corpus([corpus], out, progress=False)
    dedup_corpus([corpus], out, progress=False, overwrite=True)
    assert read_json(out / "stats.json")["languages"]["kaz_Cyrl"]["docs_in"] == len(rows)


def _mark_unfinished(folder):
    """What a kill before the end leaves: the stage record still says running."""
    rec = folder / "stage.json"
    rec.write_text(rec.read_text().replace('"status": "finished"', '"status": "running"'))
