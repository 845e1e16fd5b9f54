"""Near-duplicate removal throughput (documents/s), against baselines measured in the same run.

Corpus: real paragraphs (6 sentences/lines) of Uyghur Common Voice, Kazakh and Russian government
web text and English Leipzig sentences from the data root, plus planted near copies (commas
dropped, last word dropped or an extra word appended) making up 1/6 of the documents. All three
methods run end to end on the same `kept/<lang>/*.jsonl.gz` corpus, reading and writing gzip JSONL:

- `exact`: baseline, sha1 of the normalised text, keep the first (finds no near copies);
- `datatrove`: datatrove 0.10.1's 4-stage MinHash (signatures → buckets → clusters → filter) on
  the local executor, same parameters (5-grams, 14 × 8);
- `xling`: `corpora.dedup.dedup_corpus` (numpy MinHash-LSH per language).

Recall = share of planted (copy, original) pairs of which one was removed (which one depends on
input order, shuffled here).

    .venv/bin/python bench/near_dedup_throughput.py --docs 20000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

SOURCES = {
    "uig_Arab": ["mono/ug/common_voice/sentence-collector.txt.xz"],
    "kaz_Cyrl": ["parallel/kk-ru/apertium_kaz_rus_CORPUS/afn-kaz-1550.xz",
                 "parallel/kk-ru/apertium_kaz_rus_CORPUS/udp+kaz.xz",
                 "mono/kk/common_voice/sentence-collector.txt.xz"],
    "rus_Cyrl": ["parallel/kk-ru/apertium_kaz_rus_CORPUS/afn-ru.xz",
                 "parallel/kk-ru/apertium_kaz_rus_CORPUS/udp+ru+1435.xz"],
    "eng_Latn": ["lid/lingua_testdata/sentences/en.txt.xz"],
}


def make_corpus(root: Path, n_docs: int, seed: int = 0) -> tuple[int, dict[str, str]]:
    """Write the benchmark corpus; returns (documents, {planted near copy id: original id})."""
    from xling.core.io import read_lines, write_jsonl_atomic
    from xling.core.paths import data_root

    rng = random.Random(seed)
    base = data_root()
    per_lang = n_docs // len(SOURCES)
    planted: dict[str, str] = {}
    total = 0
    for lang, rels in SOURCES.items():
        lines = [ln.strip() for rel in rels for ln in read_lines(base / rel) if len(ln.split()) >= 3]
        originals = int(per_lang / 1.2)
        # 6 consecutive lines per paragraph; past the end of a small source, lines recombine with a stride.
        paras = [" ".join(lines[(6 * i + k * (1 + 6 * i // len(lines))) % len(lines)] for k in range(6))
                 for i in range(originals)]
        rows = [{"id": f"{lang}-{i}", "text": t, "lang": lang} for i, t in enumerate(paras)]
        for j in range(per_lang - originals):
            src = rng.randrange(len(paras))
            words = paras[src].split()
            if rng.random() < 0.5:
                words.pop()  # a truncated copy
            else:
                words.append(rng.choice(words))  # a copy with a trailing extra word
            text = " ".join(words).replace(",", "").replace("،", "")  # and different punctuation
            rows.append({"id": f"{lang}-near-{j}", "text": text, "lang": lang})
            planted[f"{lang}-near-{j}"] = f"{lang}-{src}"
        rng.shuffle(rows)
        write_jsonl_atomic(root / "kept" / lang / "00000.jsonl.gz", rows)
        total += len(rows)
    return total, planted


def run_exact(corpus: Path, out: Path) -> set[str]:
    from corpora.corpus import find_language_shards, iter_documents
    from corpora.textkey import normalized_words
    from xling.core.io import write_jsonl_atomic

    removed: set[str] = set()
    for lang, files in find_language_shards(corpus).items():
        seen: set[bytes] = set()
        kept = []
        for d in iter_documents(files):
            h = hashlib.sha1(" ".join(normalized_words(d["text"])).encode()).digest()
            if h in seen:
                removed.add(d["id"])
            else:
                seen.add(h)
                kept.append(d)
        write_jsonl_atomic(out / lang / "00000.jsonl.gz", kept)
    return removed


def run_xling(corpus: Path, out: Path) -> set[str]:
    from corpora.dedup import dedup_corpus
    from xling.core.io import read_jsonl

    dedup_corpus([corpus], out, progress=False)
    return {r["id"] for p in (out / "removed").glob("*.jsonl.gz") for r in read_jsonl(p)}


def run_datatrove(corpus: Path, out: Path) -> set[str]:
    from datatrove.data import Document
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.base import PipelineStep
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.utils.word_tokenizers import WordTokenizer

    from corpora.corpus import find_language_shards
    from corpora.document import AtomicJsonlWriter
    from xling.core.io import read_jsonl

    class Reader(PipelineStep):  # datatrove's JsonlReader needs orjson, which we do not install
        name = "bench reader"

        def run(self, data=None, rank: int = 0, world_size: int = 1):
            for files in find_language_shards(corpus).values():
                for f in files:
                    for row in read_jsonl(f):
                        yield Document(text=row["text"], id=row["id"], metadata={"lang": row["lang"]})

    class SplitTokenizer(WordTokenizer):  # datatrove's default word tokenizers need spaCy
        def word_tokenize(self, text: str) -> list[str]:
            return text.split()

        def sent_tokenize(self, text: str) -> list[str]:
            return text.splitlines()

        def span_tokenize(self, text: str) -> list[tuple[int, int]]:
            return [(0, len(text))]

    # datatrove 0.10.1 passes str to xxhash, which xxhash ≥ 3.5 rejects; encode first (same hash).
    import datatrove.utils.hashes.xxhash as dt_xxhash
    import xxhash

    dt_xxhash.xxhash64 = lambda data: xxhash.xxh64_intdigest(data.encode() if isinstance(data, str) else data)

    cfg = MinhashConfig(n_grams=5, num_buckets=14, hashes_per_bucket=8)

    def run(pipeline, tasks, name):
        LocalPipelineExecutor(pipeline, tasks=tasks, workers=1, logging_dir=str(out / "logs" / name)).run()

    run([Reader(), MinhashDedupSignature(str(out / "sigs"), cfg, language=SplitTokenizer())], 1, "sigs")
    run([MinhashDedupBuckets(str(out / "sigs"), str(out / "buckets"), config=cfg)], cfg.num_buckets, "buckets")
    run([MinhashDedupCluster(str(out / "buckets"), str(out / "remove"), config=cfg)], 1, "clusters")
    run([Reader(), MinhashDedupFilter(str(out / "remove")), AtomicJsonlWriter(out / "kept")], 1, "filter")
    kept = {r["id"] for p in (out / "kept").rglob("*.jsonl.gz") for r in read_jsonl(p)}
    return {r["id"] for files in find_language_shards(corpus).values() for f in files for r in read_jsonl(f)} - kept


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=20_000, help="documents in the benchmark corpus")
    ap.add_argument("--repeats", type=int, default=1, help="runs per method (best time is reported)")
    ap.add_argument("--no-datatrove", action="store_true", help="skip datatrove's minhash")
    args = ap.parse_args(argv)
    methods = {"exact": run_exact, "xling": run_xling}
    if not args.no_datatrove:
        methods["datatrove"] = run_datatrove
    tmp = Path(tempfile.mkdtemp(prefix="near_dedup_bench-"))
    try:
        n, planted = make_corpus(tmp / "corpus", args.docs)
        results = {}
        for name, fn in methods.items():
            best = float("inf")
            for r in range(args.repeats):
                out = tmp / f"{name}-{r}"
                t0 = time.perf_counter()
                removed = fn(tmp / "corpus", out)
                best = min(best, time.perf_counter() - t0)
                shutil.rmtree(out, ignore_errors=True)
            results[name] = {"seconds": round(best, 3), "docs_per_s": round(n / best, 1), "removed": len(removed),
                             "recall_planted": round(sum(c in removed or o in removed for c, o in planted.items())
                                                      / len(planted), 4)}
        # In memory, without reading/writing shards: the algorithms alone.
        from corpora.corpus import find_language_shards, iter_documents
        from corpora.minhash import near_duplicate_clusters
        from corpora.textkey import normalized_words

        texts = {lang: [d["text"] for d in iter_documents(f)] for lang, f in find_language_shards(tmp / "corpus").items()}
        t0 = time.perf_counter()
        for tx in texts.values():
            len({hashlib.sha1(" ".join(normalized_words(t)).encode()).digest() for t in tx})
        t_exact = time.perf_counter() - t0
        t0 = time.perf_counter()
        for tx in texts.values():
            near_duplicate_clusters(tx)
        t_mh = time.perf_counter() - t0
        memory = {"exact_docs_per_s": round(n / t_exact, 1), "xling_minhash_docs_per_s": round(n / t_mh, 1)}
        base = results["exact"]["docs_per_s"]
        print(f"{n:,} documents ({len(planted):,} planted near copies), 4 languages")
        print(f"{'method':<10} {'seconds':>8} {'docs/s':>10} {'× exact':>8} {'removed':>8} {'recall':>7}")
        for name, r in results.items():
            print(f"{name:<10} {r['seconds']:>8.2f} {r['docs_per_s']:>10,.0f} {r['docs_per_s'] / base:>8.2f} "
                  f"{r['removed']:>8,} {r['recall_planted']:>7.3f}")
        if "datatrove" in results:
            print(f"xling / datatrove speed: {results['xling']['docs_per_s'] / results['datatrove']['docs_per_s']:.2f}×")
        print(f"in memory, no I/O: exact {memory['exact_docs_per_s']:,.0f} docs/s, xling MinHash "
              f"{memory['xling_minhash_docs_per_s']:,.0f} docs/s "
              f"({memory['xling_minhash_docs_per_s'] / memory['exact_docs_per_s']:.2f}× exact)")
        print(json.dumps({"docs": n, "planted": len(planted), "results": results, "in_memory": memory}))
        from benchlib import conditions, emit, peak_rss_mb

        if "datatrove" in results:
            emit("near_dedup_throughput", "xling MinHash / datatrove MinHash (docs/s)",
                 round(results["xling"]["docs_per_s"] / results["datatrove"]["docs_per_s"], 3), None,
                 recall=results["xling"]["recall_planted"], peak_rss_mb=round(peak_rss_mb()), **conditions())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
