"""Corpora in and out as Hugging Face datasets: `datasets` folders and Parquet (local and fsspec URLs)
as clean inputs with a configurable text column; `xling corpora publish` read back by `datasets`."""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import pytest
import yaml

from corpora import hf_datasets as H
from corpora.clean import CleanConfig, expand_inputs, run_clean
from corpora.readers import MultiFormatReader
from xling.core.io import read_jsonl, read_lines

pytestmark = pytest.mark.usefixtures("index_cache")

KK = ["Ақ көңілдің аты арып, тоны тозбас.", "Бірлік болмай, тірлік болмас.", "Еңбек етсең, ерінбей тояды қарның."]


def read_all(reader: MultiFormatReader, path: str) -> list:
    return list(reader.read_file(path))


def test_saved_dataset_and_dataset_dict_with_another_text_column(tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict

    one = tmp_path / "one"
    Dataset.from_dict({"content": KK, "id": ["a", "b", "c"]}).save_to_disk(str(one))
    both = tmp_path / "both"
    DatasetDict({"validation": Dataset.from_dict({"content": KK[2:]}),
                 "train": Dataset.from_dict({"content": KK[:2]})}).save_to_disk(str(both))
    assert H.is_saved_dataset(one) and H.is_saved_dataset(both) and not H.is_saved_dataset(tmp_path)
    reader = MultiFormatReader([], text_column="content")
    docs = read_all(reader, str(one))
    assert [d.text for d in docs] == KK and [d.metadata["orig_id"] for d in docs] == ["a", "b", "c"]
    assert all(d.metadata["format"] == "hf_dataset" for d in docs)
    assert [d.text for d in read_all(reader, str(both))] == KK  # splits in name order: train, validation
    # A folder of Arrow files is one input, not many files.
    files, _, _ = expand_inputs([str(one), f"kaz_Cyrl={both}"])
    assert files == sorted([str(one), str(both)])


def test_parquet_at_an_fsspec_url_and_a_missing_column_is_counted(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "kk.parquet"
    pq.write_table(pa.table({"body": KK, "url": ["u1", "u2", "u3"]}), path)
    url = path.as_uri()  # file:///…: the fsspec path, as s3:// or hf:// would be
    assert expand_inputs([url])[0] == [url]
    docs = read_all(MultiFormatReader([], text_column="body"), url)
    assert [d.text for d in docs] == KK and docs[0].metadata["url"] == "u1"
    reader = MultiFormatReader([])  # default column `text` is absent
    assert read_all(reader, str(path)) == []
    assert reader.stats["missing_text_field"].total == 1


def test_clean_reads_a_datasets_folder_like_the_same_text_file(data_root: Path, tmp_path: Path) -> None:
    """Real data: the kk Common Voice lines as a text file and as a `datasets` folder clean identically."""
    from datasets import Dataset

    lines = read_lines(data_root / "mono/kk/common_voice/sentence-collector.txt.xz")[:300]
    text_file = tmp_path / "kk.txt"
    text_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    folder = tmp_path / "kk_ds"
    Dataset.from_dict({"sentence": lines}).save_to_disk(str(folder))
    kept = {}
    for name, inp, column in (("txt", text_file, "text"), ("ds", folder, "sentence")):
        out = run_clean(CleanConfig(inputs=[str(inp)], out=str(tmp_path / name), text_column=column,
                                    languages=["kaz_Cyrl"]))
        kept[name] = [r["text"] for p in sorted(out.glob("kept/*/*.jsonl.gz")) for r in read_jsonl(p)]
    assert len(kept["txt"]) > 200 and kept["ds"] == kept["txt"]


def fake_corpus(root: Path) -> tuple[Path, dict[str, list[str]]]:
    """A clean stage's folder, written by hand: kept/<lang>/ shards, config.yaml, stats.json."""
    docs = {"kaz_Cyrl": KK, "uig_Arab": ["قاغا خۇشال ھالدا شاخقا قونۇپتۇ.", "چىرايلىقنىڭ چىقىمى تولا."]}
    for lang, texts in docs.items():
        (root / "kept" / lang).mkdir(parents=True)
        with gzip.open(root / "kept" / lang / "00000.jsonl.gz", "wt", encoding="utf-8") as f:
            for i, t in enumerate(texts):
                f.write(json.dumps({"id": f"{lang}/{i}", "text": t, "lang": lang,
                                    "source": "/data/mono/kk/common_voice/sentence-collector.txt.xz"}) + "\n")
    cfg = {"inputs": ["/data/mono/kk/common_voice/sentence-collector.txt.xz",
                      "uig_Arab=/elsewhere/private.txt"], "lid": "fasttext", "min_lang_score": 0.5,
           "languages": ["kaz_Cyrl", "uig_Arab"], "quality": {"min_chars": 20}, "dedup": True}
    (root / "config.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    (root / "stats.json").write_text(json.dumps({"reasons": {"too_short": {"docs": 7}, "lid_low_score": {"docs": 3}}}))
    return root, docs


def test_publish_writes_parquet_per_language_and_a_card_datasets_reads(tmp_path: Path) -> None:
    from datasets import load_dataset
    from huggingface_hub import DatasetCard

    corpus, docs = fake_corpus(tmp_path / "corpus")
    out = tmp_path / "hub"
    parser = argparse.ArgumentParser(prog="xling")
    sub = parser.add_subparsers(dest="command", required=True)
    H.register(sub)
    args = parser.parse_args(["publish", str(corpus), "--out", str(out), "--name", "kk-ug-test"])
    assert args.func(args) == 0
    for lang, texts in docs.items():
        ds = load_dataset(str(out), lang, split="train", cache_dir=str(tmp_path / "cache"))  # the card's configs
        assert ds["text"] == texts and ds["id"] == [f"{lang}/{i}" for i in range(len(texts))]
    card = DatasetCard.load(out / "README.md")
    meta = card.data.to_dict()
    assert meta["language"] == ["kk", "ug"] and meta["license"] == "other"
    assert [c["config_name"] for c in meta["configs"]] == ["kaz_Cyrl", "uig_Arab"]
    body = card.text
    assert "| kaz_Cyrl | 3 | 97 |" in body  # documents and characters, counted by hand: 34 + 29 + 34
    assert "| uig_Arab | 2 | 55 |" in body  # 31 + 24
    assert "CC0-1.0" in body and "unknown (not in xling's source manifests" in body
    assert "too_short 7" in body and "`min_chars=20`" in body


def test_publish_refuses_a_folder_without_kept_documents(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="neither a corpus build"):
        H.publish_corpus(tmp_path, tmp_path / "out")
