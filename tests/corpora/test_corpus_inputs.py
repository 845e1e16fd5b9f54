"""`LANG=file` inputs of the stages after `clean` (dedup, mix, decontamination, vocabulary,
pretraining data) and of `lid train`: a tab-separated file gives one column, `file.tsv#N` column N
(1-based), as `corpora clean` reads it. The expected texts are cut from the files here with
`str.split`, not by our readers."""

from __future__ import annotations

import gzip
import lzma
from collections import Counter

import pytest

from corpora.corpus import corpus_inputs, iter_docs
from corpora.dedup import dedup_corpus
from corpora.lid_train import read_training_text
from xling.core.errors import InputError
from xling.core.io import read_jsonl, read_lines
from xling.core.stage import StageError, input_fingerprint, read_record
from xling.data import DataConfig, shard_key

ROWS = ["a/1.wav\tбіз келдік\tbiz keldik", "a/2.wav\tсен бардың\tsen barding", "", "a/3.wav\tол\tol"]


def _texts(files, counts=None) -> list[str]:
    return [d["text"] for d in iter_docs(files, "kaz_Cyrl", counts if counts is not None else Counter())]


def test_a_named_column_is_read_and_the_last_by_default(tmp_path):
    f = tmp_path / "kk.tsv.gz"
    with gzip.open(f, "wt", encoding="utf-8") as g:
        g.write("\n".join(ROWS) + "\n")
    (one,) = corpus_inputs([f"kaz_Cyrl={f}#2"])["kaz_Cyrl"]
    assert str(one) == f"{f}#2"
    assert _texts([one]) == [r.split("\t")[1] for r in ROWS if r]
    (plain,) = corpus_inputs([f"kaz_Cyrl={f}"])["kaz_Cyrl"]
    assert _texts([plain]) == [r.split("\t")[-1] for r in ROWS if r]
    # a plain text file keeps its tabs: only tab-separated files (by name or `#N`) are cut
    txt = tmp_path / "kk.txt"
    txt.write_text("x\ty\n", encoding="utf-8")
    assert _texts(corpus_inputs([f"kaz_Cyrl={txt}"])["kaz_Cyrl"]) == ["x\ty"]


def test_a_line_without_the_column_is_counted_and_a_missing_file_named(tmp_path):
    f = tmp_path / "kk.tsv"
    f.write_text("only one cell\na\tb\tc\n", encoding="utf-8")
    counts: Counter = Counter()
    assert _texts(corpus_inputs([f"kaz_Cyrl={f}#3"])["kaz_Cyrl"], counts) == ["c"]
    assert counts["missing_tsv_column"] == 1
    with pytest.raises(FileNotFoundError, match=r"nope\.tsv is not a file"):
        corpus_inputs([f"kaz_Cyrl={tmp_path / 'nope.tsv'}#2"])
    # a file whose own name ends in `#1` stays that file
    odd = tmp_path / "odd#1"
    odd.write_text("бір\n", encoding="utf-8")
    assert _texts(corpus_inputs([f"kaz_Cyrl={odd}"])["kaz_Cyrl"]) == ["бір"]


def test_the_column_is_part_of_every_fingerprint(tmp_path):
    f = tmp_path / "kk.tsv"
    f.write_text("\n".join(ROWS) + "\n", encoding="utf-8")
    assert input_fingerprint(f"{f}#2") == f"{input_fingerprint(f)} column 2"
    assert input_fingerprint(f"{f}#2") != input_fingerprint(f"{f}#3")
    keys = {spec: shard_key("kaz_Cyrl", DataConfig(files={"kaz_Cyrl": spec}).input_files()["kaz_Cyrl"], "t",
                            DataConfig()) for spec in (f"{f}#2", f"{f}#3", str(f))}
    assert len(set(keys.values())) == 3
    with pytest.raises(FileNotFoundError, match=r"data\.files\.kaz_Cyrl"):
        DataConfig(files={"kaz_Cyrl": f"{tmp_path / 'nope.tsv'}#2"}).input_files()


def test_dedup_reads_thuyg_transcripts_from_their_text_column(data_root, tmp_path):
    """THUYG-20's `wav\\ttext` lines: the wav path never becomes part of a document, and asking for
    another column redoes the stage instead of calling the first run finished."""
    rows = read_lines(data_root / "mono/ug/thuyg20_transcripts_latin/thuyg20_train.tsv.xz")[:300]
    f = tmp_path / "thuyg.tsv.xz"
    with lzma.open(f, "wt", encoding="utf-8") as g:
        g.write("\n".join(rows) + "\n")
    want = {r.split("\t")[1].strip() for r in rows}
    out = dedup_corpus([f"uig_Latn={f}#2"], tmp_path / "d", progress=False)
    got = [r["text"] for p in sorted(out.glob("**/*.jsonl.gz")) for r in read_jsonl(p)]
    assert len(got) >= 290 and set(got) <= want and not any(".wav" in t for t in got)
    first = read_record(out / "stage.json")["fingerprint"]
    with pytest.raises(StageError, match="other settings"):
        dedup_corpus([f"uig_Latn={f}#1"], tmp_path / "d", progress=False)
    dedup_corpus([f"uig_Latn={f}#1"], tmp_path / "d", progress=False, overwrite=True)
    paths = [r["text"] for p in sorted(out.glob("**/*.jsonl.gz")) for r in read_jsonl(p)]
    assert read_record(out / "stage.json")["fingerprint"] != first and all(t.endswith(".wav") for t in paths)


def test_lid_training_text_reads_a_named_column(tmp_path):
    f = tmp_path / "ug.tsv"
    f.write_text("x.wav\tbiz keldik\tq\ny.wav\tsen\tr\n", encoding="utf-8")
    assert read_training_text(f"{f}#2") == ["biz keldik", "sen"]
    assert read_training_text(f) == ["q", "r"]
    f.write_text("x.wav\tbiz keldik\nonly\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"ug.tsv:2: no column 2"):
        read_training_text(f"{f}#2")
