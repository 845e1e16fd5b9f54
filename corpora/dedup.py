"""`xling corpora dedup`: per-language MinHash near-duplicate removal of a cleaned corpus.

Reads `IN/kept/<lang>/*.jsonl.gz`, keeps one document per near-duplicate cluster (the first in
input order, or the longest) with `metadata.dup_cluster_size` set, and writes the others to
`OUT/removed/<lang>-*.jsonl.gz` with `reason: near_duplicate` and `duplicate_of: <kept id>`.
Streaming passes per language (signatures, then kept, then removed): only signatures stay in memory.
A language is the unit of resume: a killed run redoes at most the language it was on.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from corpora import stage_io
from corpora.corpus import corpus_inputs
from corpora.minhash import MinHashConfig, MinHasher, choose_representatives, find_clusters
from xling.core.config import add_set_option, load_config, save_config, to_dict
from xling.core.io import read_json, write_text_atomic
from xling.core.locking import locked_output
from xling.core.report import bar_chart, markdown_table
from xling.core.stage import add_allow_partial_option

log = logging.getLogger(__name__)


@dataclass
class DedupConfig:
    minhash: MinHashConfig = field(default_factory=MinHashConfig)
    shard_docs: int = stage_io.SHARD_DOCS
    max_line_bytes: int = stage_io.MAX_LINE_BYTES  # longer input lines are skipped and counted (bounds memory)

    def __post_init__(self) -> None:
        stage_io.check_reading_limits(self)


@locked_output(lambda a: a["out"])
def dedup_corpus(inputs: list[str | Path], out: str | Path, config: DedupConfig | None = None,
                 overwrite: bool = False, progress: bool = True, allow_partial: bool = False) -> Path:
    """Near-deduplicate every language of `inputs` into `out`; returns `out`. Resumes a killed run.
    One run per output folder at a time (`locked_output`)."""
    config = config or DedupConfig()
    out = Path(out)
    files = corpus_inputs(inputs)
    cfg = to_dict(config)
    stage = stage_io.begin_stage("corpus-dedup", out, cfg, inputs, overwrite, allow_partial)
    if stage is None:
        return out
    save_config(config, out / "config.yaml")
    hasher = MinHasher(config.minhash)
    langs: dict[str, dict] = {}
    for lang, lang_files in files.items():
        info = stage_io.lang_done(out, lang)
        if info is None:
            info = _dedup_language(out, lang, lang_files, config, hasher, progress)
            stage_io.mark_lang_done(out, lang, info)
            log.info("dedup %s: %d → %d documents", lang, info["docs_in"], info["kept"])
        langs[lang] = info
    stats = _stats(langs, config)
    stage_io.finish_stage(out, stats, stage)
    _write_report(out, stats)
    return out


def _dedup_language(out: Path, lang: str, files: list[Path], config: DedupConfig, hasher: MinHasher,
                    progress: bool) -> dict:
    """Cluster one language and write its kept/removed shards; returns its stats."""
    t0 = time.perf_counter()
    bad: Counter = Counter()
    lengths: list[int] = []

    def texts():
        docs = stage_io.iter_docs(files, lang, bad, config.max_line_bytes)
        for doc in tqdm(docs, desc=f"minhash {lang}", unit=" docs", disable=not progress, leave=False):
            lengths.append(len(doc["text"]))
            yield doc["text"]

    blocks = list(hasher.signatures_of(texts()))
    n = len(lengths)
    if n:
        roots = find_clusters(np.concatenate(blocks), config.minhash)
        kept_idx, sizes = choose_representatives(roots, np.array(lengths), config.minhash.keep)
    else:
        kept_idx = sizes = np.empty(0, dtype=np.int64)
    kept_ids: dict[int, str] = {}  # filled while writing kept documents, read while writing removed ones

    def kept():
        for i, doc in enumerate(stage_io.iter_docs(files, lang, Counter(), config.max_line_bytes)):
            if kept_idx[i] == i:
                kept_ids[i] = str(doc.get("id"))
                meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
                yield {**doc, "metadata": {**meta, "dup_cluster_size": int(sizes[i])}}

    def removed():
        for i, doc in enumerate(stage_io.iter_docs(files, lang, Counter(), config.max_line_bytes)):
            if kept_idx[i] != i:
                yield {**doc, "reason": "near_duplicate", "duplicate_of": kept_ids[int(kept_idx[i])]}

    stage_io.write_language(out, lang, kept(), removed(), config.shard_docs)
    clusters = np.bincount(kept_idx, minlength=n) if n else np.empty(0, dtype=np.int64)
    return {
        "docs_in": n, "kept": len(kept_ids),
        "removed": {"near_duplicate": n - len(kept_ids), **dict(sorted(bad.items()))},
        "chars_in": int(sum(lengths)), "clusters_with_duplicates": int((clusters > 1).sum()),
        "largest_cluster": int(clusters.max()) if n else 0, "seconds": round(time.perf_counter() - t0, 3),
    }


def _stats(langs: dict[str, dict], config: DedupConfig) -> dict:
    total_in = sum(v["docs_in"] for v in langs.values())
    total_kept = sum(v["kept"] for v in langs.values())
    return {"stage": "dedup", "docs_in": total_in, "kept": total_kept, "removed": total_in - total_kept,
            "minhash": {"ngram": config.minhash.ngram, "num_bands": config.minhash.num_bands,
                        "rows_per_band": config.minhash.rows_per_band, "threshold": config.minhash.threshold},
            "languages": langs}


def _write_report(out: Path, stats: dict) -> None:
    rows = [[lang, v["docs_in"], v["kept"], v["removed"]["near_duplicate"],
             100.0 * v["removed"]["near_duplicate"] / max(v["docs_in"], 1), v["clusters_with_duplicates"],
             v["largest_cluster"], sum(c for k, c in v["removed"].items() if k != "near_duplicate")]
            for lang, v in stats["languages"].items()]
    bar_chart(out / "dedup.png", {"near-duplicates removed (%)": {r[0]: r[4] for r in rows}},
              title="Near-duplicate removal per language", ylabel="% of documents")
    mh = stats["minhash"]
    text = "\n".join([
        "# Near-duplicate removal", "",
        f"MinHash over word {mh['ngram']}-grams, {mh['num_bands']} bands × {mh['rows_per_band']} rows, "
        f"candidate threshold {mh['threshold']}. {stats['docs_in']:,} documents in, {stats['kept']:,} kept.", "",
        markdown_table(["lang", "docs in", "kept", "near-dup", "near-dup %", "dup clusters", "largest cluster",
                        "broken input"], rows),
        "", "![near-duplicates](dedup.png)", ""])
    write_text_atomic(out / "report.md", text)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dedup", help="MinHash near-duplicate removal per language",
                       description="Keep one document per near-duplicate cluster (per language).")
    p.add_argument("inputs", nargs="+", metavar="IN", help="cleaned corpus folder(s) and/or LANG=file.txt")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--config", type=Path, help="YAML DedupConfig")
    add_set_option(p, "minhash.ngram=3")
    p.add_argument("--ngram", type=int, help="words per shingle (minhash.ngram)")
    p.add_argument("--bands", type=int, help="number of LSH bands (minhash.num_bands)")
    p.add_argument("--rows", type=int, help="hashes per band (minhash.rows_per_band)")
    p.add_argument("--keep", choices=["first", "longest"], help="which document of a cluster survives")
    p.add_argument("--force", "--overwrite", dest="overwrite", action="store_true",
                   help="redo the stage in OUT even if it finished or was started with other settings or inputs")
    add_allow_partial_option(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    flags = {"minhash.ngram": args.ngram, "minhash.num_bands": args.bands, "minhash.rows_per_band": args.rows,
             "minhash.keep": args.keep}
    config = load_config(DedupConfig, args.config, args.overrides, flags)
    out = dedup_corpus(args.inputs, args.out, config, overwrite=args.overwrite, allow_partial=args.allow_partial)
    stats = read_json(out / "stats.json")
    for lang, v in stats["languages"].items():
        print(f"  {lang}: {v['docs_in']:,} → {v['kept']:,} documents "
              f"({v['removed']['near_duplicate']:,} near-duplicates)")
    print(f"wrote {out}/kept/<lang>/, {out}/removed/, {out}/stats.json, {out}/report.md")
    return 0
