"""Corpora in and out as Hugging Face datasets.

In: `corpora clean` (and the corpus stage) read a `datasets` folder written by `save_to_disk`
(a `Dataset` or a `DatasetDict`, every split in name order) and Parquet files, local or at an
fsspec URL (`s3://…`, `hf://datasets/…`, `file://…`), with a configurable text column
(`text_column`, default `text`). `MultiFormatReader` calls `iter_rows` for both.

Out: `xling corpora publish CORPUS_DIR --out DIR` writes a folder ready for `huggingface_hub`'s
`upload_folder`: one Parquet file per language (`<lang>/train-00000-of-00001.parquet`, columns
`text`, `id`, `source`) and a dataset card `README.md` whose YAML header declares one config per
language (so `datasets.load_dataset(DIR, "kaz_Cyrl")` reads it), the languages, the licenses, and
whose body gives per-language counts, the filters the run applied and each source with its license.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from fsspec.core import url_to_fs

from eval_xtreme.fetch import MANIFEST_PATH, PRETRAIN_MANIFEST_PATH, load_manifest
from xling.core.errors import InputError
from xling.core.io import atomic_path, read_json
from xling.core.langs import to_iso1

SAVED_MARKERS = ("dataset_dict.json", "state.json")  # written by Dataset(Dict).save_to_disk
KEPT_STAGES = ("decontam", "dedup", "clean")  # a corpus build's stages, the final cleaned text first
BATCH_ROWS = 1024


def _fs(path: str) -> tuple[Any, str]:
    return url_to_fs(path)


def is_saved_dataset(path: str | os.PathLike) -> bool:
    """A folder written by `Dataset.save_to_disk` or `DatasetDict.save_to_disk` (local or fsspec URL)."""
    p = str(path)
    if "://" in p:
        fs, root = _fs(p)
        return any(fs.isfile(f"{root.rstrip('/')}/{m}") for m in SAVED_MARKERS)
    return Path(p).is_dir() and any((Path(p) / m).is_file() for m in SAVED_MARKERS)


def _dataset_batches(path: str, columns: list[str]) -> Iterator[tuple[list[str], list[dict[str, Any]]]]:
    from datasets import Dataset, DatasetDict, load_from_disk

    loaded = load_from_disk(path)
    parts: list[Dataset] = [loaded[k] for k in sorted(loaded)] if isinstance(loaded, DatasetDict) else [loaded]
    for ds in parts:
        names = list(ds.column_names)
        keep = [c for c in columns if c in names]
        for start in range(0, len(ds), BATCH_ROWS):
            batch = ds.select_columns(keep)[start:start + BATCH_ROWS] if keep else {}
            n = min(BATCH_ROWS, len(ds) - start)
            yield names, [{c: batch[c][i] for c in keep} for i in range(n)]


def _parquet_batches(path: str, columns: list[str]) -> Iterator[tuple[list[str], list[dict[str, Any]]]]:
    import pyarrow.parquet as pq

    fs, root = _fs(path) if "://" in path else (None, path)
    pf = pq.ParquetFile(root, filesystem=fs) if fs is not None else pq.ParquetFile(root)
    names = pf.schema_arrow.names
    keep = [c for c in columns if c in names]
    if not keep:
        yield names, []
        return
    for batch in pf.iter_batches(columns=keep, batch_size=BATCH_ROWS):
        yield names, batch.to_pylist()


def iter_rows(path: str, fmt: str, text_column: str = "text") -> Iterator[dict[str, Any]]:
    """Rows of a saved dataset (`fmt` "hf_dataset") or a Parquet file (`fmt` "parquet") with the keys
    `text` (the text column's value, possibly not a string), `id` and `url` where the input has them.

    A missing text column raises `InputError` naming the file and its columns.
    """
    columns = [text_column, "id", "url"]
    batches = _dataset_batches(path, columns) if fmt == "hf_dataset" else _parquet_batches(path, columns)
    for names, rows in batches:
        if text_column not in names:
            raise InputError(f"{path}: no text column {text_column!r} (columns: {', '.join(names)}); set "
                             "text_column (--text-column) to the column holding the text")
        for row in rows:
            yield {"text": row.get(text_column), "id": row.get("id"), "url": row.get("url")}


# ---------------------------------------------------------------------------------------------
# Publishing a cleaned corpus


def kept_folder(corpus_dir: Path) -> tuple[Path, list[Path]]:
    """The folder whose `kept/<lang>/` holds the final text, and the stage folders of the run (for
    the card's filters): a corpus build (`clean/`, `dedup/`, `decontam/`, `mix/`) or one stage folder."""
    if (corpus_dir / "kept").is_dir():
        return corpus_dir, [corpus_dir]
    stages = [corpus_dir / s for s in ("clean", "dedup", "decontam") if (corpus_dir / s).is_dir()]
    for s in KEPT_STAGES:
        if (corpus_dir / s / "kept").is_dir():
            return corpus_dir / s, stages
    raise InputError(f"{corpus_dir}: neither a corpus build (clean/, dedup/, decontam/ with kept/) nor a stage "
                     "folder with kept/<lang>/; give the --out folder of `xling corpora build` or `clean`")


def _iter_kept(folder: Path) -> Iterator[dict[str, Any]]:
    for shard in sorted(folder.glob("*.jsonl.gz")):
        with gzip.open(shard, "rt", encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as e:
                    raise InputError(f"{shard}:{lineno}: not a JSON line ({e.msg})") from None


def _write_parquet(lang: str, docs: Iterator[dict[str, Any]], target: Path) -> tuple[int, int]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("text", pa.string()), ("id", pa.string()), ("source", pa.string())])
    n_docs = n_chars = 0
    with atomic_path(target) as tmp, pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        buf: dict[str, list[str]] = {"text": [], "id": [], "source": []}

        def flush() -> None:
            if buf["text"]:
                writer.write_table(pa.table(buf, schema=schema))
                for col in buf.values():
                    col.clear()

        for doc in docs:
            text = doc.get("text")
            if not isinstance(text, str):
                raise InputError(f"{lang}: a kept document without text (id {doc.get('id')!r})")
            buf["text"].append(text)
            buf["id"].append(str(doc.get("id", "")))
            buf["source"].append(Path(str(doc.get("source", ""))).name)
            n_docs += 1
            n_chars += len(text)
            if len(buf["text"]) >= BATCH_ROWS:
                flush()
        flush()
    return n_docs, n_chars


def source_licenses(inputs: list[str]) -> list[tuple[str, str]]:
    """(input, license) for each input of the clean stage: the license xling's source manifests
    record for a file at that data-root path, else "unknown"."""
    by_path: dict[str, str] = {}
    for manifest in (PRETRAIN_MANIFEST_PATH, MANIFEST_PATH):
        for s in load_manifest(manifest).sources:
            by_path.setdefault(s.path, s.license)
            if s.path.endswith(".xz"):
                by_path.setdefault(s.path[:-3], s.license)
    out = []
    for spec in inputs:
        path = spec.split("=", 1)[1] if "=" in spec.split("/", 1)[0] else spec
        lic = next((lic for rel, lic in by_path.items() if path.endswith("/" + rel) or path == rel), "")
        out.append((path, lic or "unknown (not in xling's source manifests; check the source)"))
    return out


def _stage_config(stage: Path) -> dict[str, Any]:
    cfg = stage / "config.yaml"
    return (yaml.safe_load(cfg.read_text(encoding="utf-8")) or {}) if cfg.is_file() else {}


def _filters(stages: list[Path]) -> list[str]:
    """One line per filter the run applied, from each stage's saved config and statistics."""
    lines: list[str] = []
    for stage in stages:
        cfg = _stage_config(stage)
        stats = read_json(stage / "stats.json") if (stage / "stats.json").is_file() else {}
        kind = stats.get("stage") or stage.name
        if "lid" in cfg:  # the clean stage
            q = cfg.get("quality") or {}
            lines.append(f"- clean: language ID `{cfg.get('lid')}` (min score {cfg.get('min_lang_score')}"
                         + (f", languages {', '.join(cfg['languages'])}" if cfg.get("languages") else "") + ")")
            if q:
                lines.append("- clean: quality thresholds " + ", ".join(f"`{k}={v}`" for k, v in sorted(q.items())))
            lines.append(f"- clean: exact deduplication {'on' if cfg.get('dedup', True) else 'off'}")
            reasons = {k: v.get("docs", 0) if isinstance(v, dict) else v
                       for k, v in (stats.get("reasons") or {}).items()}
            if reasons:
                lines.append("- clean: documents removed by reason: "
                             + ", ".join(f"{k} {v:,}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])))
        elif kind in ("dedup", "near_dedup") or "minhash" in cfg:
            mh = cfg.get("minhash") or {}
            lines.append("- dedup: MinHash near-duplicate removal "
                         + ", ".join(f"`{k}={v}`" for k, v in sorted(mh.items())))
        elif kind == "decontaminate" or "ngram" in cfg:
            sets = sorted(stats.get("eval_sets") or {})
            removed = stats.get("docs_in", 0) - stats.get("kept", 0) if stats else None
            lines.append(f"- decontaminate: {cfg.get('ngram', stats.get('ngram'))}-gram overlap with evaluation sets "
                         f"{', '.join(sets) or '(none found)'}"
                         + (f"; {removed:,} documents removed" if removed is not None else ""))
    return lines


def _card(name: str, counts: dict[str, tuple[int, int]], sources: list[tuple[str, str]],
          filters: list[str], corpus_dir: Path) -> str:
    iso = sorted({to_iso1(lang.split("_")[0]) for lang in counts})
    licenses = sorted({lic for _, lic in sources})
    n_docs = sum(d for d, _ in counts.values())
    size = ("n<1K" if n_docs < 1_000 else "1K<n<10K" if n_docs < 10_000 else "10K<n<100K" if n_docs < 100_000
            else "100K<n<1M" if n_docs < 1_000_000 else "n>1M")
    meta: dict[str, Any] = {
        "pretty_name": name,
        "language": iso,
        "license": "other",
        "license_name": "mixed",
        "license_details": "Each source keeps its own license; see the Sources table.",
        "multilinguality": "multilingual" if len(counts) > 1 else "monolingual",
        "size_categories": [size],
        "task_categories": ["fill-mask", "text-generation"],
        "tags": ["xling", "low-resource", *sorted(counts)],
        "configs": [{"config_name": lang, "data_files": [{"split": "train", "path": f"{lang}/*.parquet"}]}
                    for lang in sorted(counts)],
    }
    rows = "\n".join(f"| {lang} | {d:,} | {c:,} |" for lang, (d, c) in sorted(counts.items()))
    src = "\n".join(f"| `{Path(p).name}` | {p} | {lic} |" for p, lic in sources) or "| (not recorded) | | |"
    return (
        "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n\n"
        f"# {name}\n\n"
        f"Cleaned text written by `xling corpora publish {corpus_dir.name}` from an xling corpus run: one "
        "configuration per language (language and script, as xling's language ID labels them), one `train` "
        "split, columns `text`, `id` (xling's document id) and `source` (the input file).\n\n"
        "```python\nfrom datasets import load_dataset\n"
        f"ds = load_dataset(\"PATH_OR_REPO_ID\", \"{sorted(counts)[0]}\", split=\"train\")\n```\n\n"
        "## Languages\n\n| config | documents | characters |\n|---|---:|---:|\n" + rows + "\n"
        f"| **total** | {n_docs:,} | {sum(c for _, c in counts.values()):,} |\n\n"
        "## Filters applied\n\n" + ("\n".join(filters) or "(no stage configuration found)") + "\n\n"
        "## Sources\n\n| file | input | license |\n|---|---|---|\n" + src + "\n\n"
        f"Licenses: {'; '.join(licenses) or 'not recorded'}. The corpus is a derivative of these sources; "
        "its use is bound by each source's terms.\n"
    )


def publish_corpus(corpus_dir: str | os.PathLike, out: str | os.PathLike, name: str | None = None) -> dict[str, Any]:
    """Write the Hub dataset folder for a cleaned corpus; returns {language: (documents, characters)}."""
    corpus = Path(corpus_dir)
    if not corpus.is_dir():
        raise InputError(f"{corpus}: no such folder")
    final, stages = kept_folder(corpus)
    langs = sorted(p.name for p in (final / "kept").iterdir() if p.is_dir() and any(p.glob("*.jsonl.gz")))
    if not langs:
        raise InputError(f"{final}/kept: no language holds kept documents")
    out_p = Path(out)
    counts: dict[str, tuple[int, int]] = {}
    for lang in langs:
        counts[lang] = _write_parquet(lang, _iter_kept(final / "kept" / lang),
                                      out_p / lang / "train-00000-of-00001.parquet")
    clean_stage = next((s for s in stages if "lid" in _stage_config(s)), None)
    inputs = list(_stage_config(clean_stage).get("inputs", [])) if clean_stage else []
    card = _card(name or corpus.resolve().name, counts, source_licenses(inputs), _filters(stages), corpus)
    with atomic_path(out_p / "README.md") as tmp:
        tmp.write_text(card, encoding="utf-8")
    return {"languages": counts, "card": str(out_p / "README.md")}


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "publish", help="write a cleaned corpus as a Hugging Face dataset folder (Parquet per language + card)",
        description="Write CORPUS_DIR's final cleaned text (decontam/, else dedup/, else clean/ kept documents) as "
        "OUT/<lang>/train-00000-of-00001.parquet plus a dataset card README.md (per-language counts, filters, "
        "source licenses). Upload it with `huggingface_hub.upload_folder(folder_path=OUT, repo_type='dataset', "
        "repo_id=...)` or `hf upload --repo-type dataset REPO OUT`.")
    p.add_argument("corpus_dir", metavar="CORPUS_DIR", help="output folder of `xling corpora build` or `clean`")
    p.add_argument("--out", required=True, help="dataset folder to write")
    p.add_argument("--name", default=None, help="dataset name in the card (default: CORPUS_DIR's name)")
    p.set_defaults(func=_cli)


def _cli(args: argparse.Namespace) -> int:
    res = publish_corpus(args.corpus_dir, args.out, args.name)
    for lang, (docs, chars) in sorted(res["languages"].items()):
        print(f"{lang}: {docs:,} documents, {chars:,} characters → {args.out}/{lang}/")
    print(f"dataset card: {res['card']}")
    return 0
