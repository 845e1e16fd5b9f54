"""Throughput of `xling corpora clean` per core, against datatrove's bare read→write, and LID accuracy.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/corpora_throughput.py [--max-docs 40000] [--lid-sentences 300]

1. Builds one benchmark input from real text under the data root (Kazakh and Uyghur Common Voice,
   the apertium kaz/rus government web text, Leipzig sentences in 20 languages) as 4 Parquet shards.
2. Baseline (same run, same input): datatrove `ParquetReader → ParquetWriter`, 4 tasks, 1 worker —
   the I/O ceiling of any pipeline over this input.
3. The full clean pipeline (read, normalise, LID, filters, exact dedup, write) with 1 worker (one
   core) for each LID backend; prints documents/s and MB/s and the ratio to the baseline.
   Timed twice: wall clock and this process's CPU time (the local executor with 1 worker runs in
   this process). On a machine shared with other jobs the CPU-time ratio is the one to read; the
   target is clean ≥ 0.35× the baseline with fastText LID. Each line also gives its peak RSS.
4. LID accuracy per language on `lid/lingua_testdata/sentences` for both backends (the first N
   sentences per language; the language must match, the script is not scored).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchlib import conditions, emit, timed

from xling.core.io import read_json

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

LINGUA_BENCH_LANGS = ["kk", "ru", "en", "tr", "az", "ar", "fa", "zh", "mn", "uk", "be", "bg", "de", "fr", "es",
                      "ur", "hi", "ka", "hy", "el"]
# Leipzig/lingua codes whose label differs between macro- and individual-language codes
_EQUIV = {"nb": {"nor", "nob"}, "nn": {"nno", "nor"}, "ms": {"msa", "zsm", "ind"}, "hr": {"hrv", "hbs"},
          "bs": {"bos", "hbs"}, "sr": {"srp", "hbs"}}


def build_input(data_root: Path, folder: Path, max_docs: int) -> tuple[int, int]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from xling.core.io import read_lines

    texts: list[str] = []
    texts += read_lines(data_root / "mono/kk/common_voice/sentence-collector.txt.xz")
    texts += read_lines(data_root / "mono/ug/common_voice/sentence-collector.txt.xz")
    gov = data_root / "parallel/kk-ru/apertium_kaz_rus_CORPUS"
    for f in sorted(gov.iterdir()):
        if f.name != "COPYING":
            texts += read_lines(f)
    for code in LINGUA_BENCH_LANGS:
        texts += read_lines(data_root / f"lid/lingua_testdata/sentences/{code}.txt.xz")
    texts = [t for t in texts if t.strip()]
    # interleave sources so every shard sees every language, then cap
    texts = texts[::2] + texts[1::2]
    texts = texts[:max_docs]
    folder.mkdir(parents=True, exist_ok=True)
    n_shards = 4
    for i in range(n_shards):
        part = texts[i::n_shards]
        pq.write_table(pa.table({"text": part, "id": [f"{i}-{j}" for j in range(len(part))]}),
                       folder / f"part-{i}.parquet")
    return len(texts), sum(len(t.encode("utf-8")) for t in texts)


def run_baseline(inp: Path, out: Path):
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.writers import ParquetWriter

    with timed() as clock:
        LocalPipelineExecutor([ParquetReader(str(inp)), ParquetWriter(str(out / "data"))], tasks=4, workers=1,
                              logging_dir=str(out / "logs")).run()
    return clock


def run_pipeline(inp: Path, out: Path, lid: str):

    from corpora.clean import CleanConfig, run_clean

    with timed() as clock:
        run_clean(CleanConfig(inputs=[str(inp)], out=str(out), lid=lid, workers=1, tasks=4))
    return clock, read_json(out / "stats.json")


def lid_accuracy(data_root: Path, n: int) -> dict[str, dict[str, float]]:
    from corpora.lid import LanguageIdentifier, to_iso3
    from xling.core.io import read_lines

    folder = data_root / "lid/lingua_testdata/sentences"
    codes = sorted(p.name.split(".")[0] for p in folder.glob("*.txt.xz"))
    out: dict[str, dict[str, float]] = {}
    for backend in ("fasttext", "langid"):
        lid = LanguageIdentifier(backend)
        t0 = time.perf_counter()
        total = 0
        for code in codes:
            lines = read_lines(folder / f"{code}.txt.xz")[:n]
            want = _EQUIV.get(code, {to_iso3(code)})
            hits = sum(lid.identify(ln).lang.split("_")[0] in want for ln in lines)
            out.setdefault(code, {})[backend] = hits / len(lines)
            total += len(lines)
        out.setdefault("_speed", {})[backend] = total / (time.perf_counter() - t0)
    return out


def main(argv: list[str] | None = None) -> int:
    from xling.core.paths import data_root as find_data_root
    from xling.core.report import markdown_table

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-docs", type=int, default=40000)
    ap.add_argument("--lid-sentences", type=int, default=300, help="sentences per language for LID accuracy")
    ap.add_argument("--lids", default="fasttext,langid", help="LID backends to time, comma-separated")
    ap.add_argument("--no-accuracy", action="store_true", help="throughput only (skip the LID accuracy table)")
    ap.add_argument("--keep", default=None, help="keep outputs in this folder (default: a temp folder)")
    args = ap.parse_args(argv)

    root = find_data_root()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="xling-bench-"))
    try:
        n_docs, n_bytes = build_input(root, work / "input", args.max_docs)
        mb = n_bytes / 1e6
        print(f"input: {n_docs:,} documents, {mb:.1f} MB of UTF-8 text, 4 Parquet shards ({work / 'input'})")
        base = run_baseline(work / "input", work / "baseline")
        rows = [["datatrove ParquetReader → ParquetWriter (I/O ceiling)", n_docs / base.wall, n_docs / base.cpu,
                 mb / base.wall, 1.0, 1.0, base.peak_rss_mb, ""]]
        for lid in args.lids.split(","):
            clock, stats = run_pipeline(work / "input", work / f"clean-{lid}", lid)
            kept = stats["totals"]["docs_kept"]
            rows.append([f"xling corpora clean --lid {lid}", n_docs / clock.wall, n_docs / clock.cpu, mb / clock.wall,
                         base.wall / clock.wall, base.cpu / clock.cpu, clock.peak_rss_mb, f"{kept:,} kept"])
            for kind in ("cpu", "wall"):
                emit("corpora_throughput", f"clean --lid {lid} / bare read→write ({kind} time)",
                     round(getattr(base, kind) / getattr(clock, kind), 3), 0.35 if lid == "fasttext" else None,
                     docs=n_docs, peak_rss_mb=round(clock.peak_rss_mb), baseline_peak_rss_mb=round(base.peak_rss_mb),
                     **conditions())
        print()
        print("Throughput, 1 worker (one core); ratio = pipeline speed / baseline speed, same input, same run;\n"
              "docs/s by wall clock and by this process's CPU time (read the CPU ratio on a busy machine)")
        print(markdown_table(["pipeline", "docs/s (wall)", "docs/s (CPU)", "MB/s (wall)", "ratio (wall)",
                              "ratio (CPU)", "peak RSS MB", "output"], rows, digits=3))
        print(f"conditions: {conditions()}")
        if args.no_accuracy:
            return 0
        acc = lid_accuracy(root, args.lid_sentences)
        speed = acc.pop("_speed")
        print()
        print(f"LID accuracy on lid/lingua_testdata/sentences (first {args.lid_sentences} per language; "
              "language must match, script not scored)")
        table = [[code, v["fasttext"], v["langid"]] for code, v in sorted(acc.items())]
        mean = [sum(v[b] for v in acc.values()) / len(acc) for b in ("fasttext", "langid")]
        table.append(["**mean over languages**", *mean])
        table.append(["lines/s (identify, incl. script)", speed["fasttext"], speed["langid"]])
        print(markdown_table(["lang", "fasttext lid.176", "langid"], table, digits=3))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
