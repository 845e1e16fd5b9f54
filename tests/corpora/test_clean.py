"""End-to-end `clean`: layout, stats, determinism, resume after a crash, workers, CLI, real data."""

from __future__ import annotations

import dataclasses
import gzip
import re
from pathlib import Path

import pytest

from corpora.clean import CleanConfig, run_clean
from xling.core.errors import InputError
from xling.core.io import read_json, read_jsonl, read_lines

pytestmark = pytest.mark.usefixtures("index_cache")  # decontamination indexes stay in tmp


@pytest.fixture(scope="module")
def inputs(data_root, tmp_path_factory) -> Path:
    """A small mixed input folder of real text, with duplicates and broken files."""
    d = tmp_path_factory.mktemp("clean_inputs")
    kk = read_lines(data_root / "lid/lingua_testdata/sentences/kk.txt.xz")[:120]
    ug = read_lines(data_root / "mono/ug/common_voice/sentence-collector.txt.xz")[:120]
    ru = read_lines(data_root / "lid/lingua_testdata/sentences/ru.txt.xz")[:60]
    (d / "kk.txt").write_text("\n".join(kk) + "\n", encoding="utf-8")
    with gzip.open(d / "ug.txt.gz", "wt", encoding="utf-8") as f:
        f.write("\n".join(ug) + "\n")
    # the same Russian lines twice (second file) → exact duplicates across files
    (d / "ru1.txt").write_text("\n".join(ru) + "\n", encoding="utf-8")
    (d / "ru2.txt").write_text("\n".join(ru[:30]) + "\n", encoding="utf-8")
    (d / "oscar_ug.txt.gz").write_bytes((data_root / "mono/ug/oscar2019_hf_dummy/ug_dedup.txt.gz").read_bytes())
    (d / "cc.wet").write_bytes((data_root / "cc_samples/cc_net_test/sample.warc.txt").read_bytes())
    (d / "empty.txt").write_bytes(b"")
    (d / "bad.jsonl").write_text('{"text": "Бұл жақсы кітап, оны бәрі оқуы керек."}\n{"text": oops\n', encoding="utf-8")
    (d / "badutf8.txt").write_bytes("Бұл жол дұрыс жазылған сөйлем.\n".encode() + b"\xff\xfe\n")
    blob = gzip.compress(("\n".join(kk[:50]) + "\n").encode())
    (d / "truncated.txt.gz").write_bytes(blob[: len(blob) // 2])
    return d


def config(inputs: Path, out: Path, **kw) -> CleanConfig:
    return CleanConfig(inputs=[str(inputs)], out=str(out), **kw)


@pytest.fixture(scope="module")
def reference(inputs, tmp_path_factory) -> Path:
    return run_clean(config(inputs, tmp_path_factory.mktemp("ref") / "out"))


def output_files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.glob("kept/*/*.jsonl.gz"))
            + sorted(out.glob("removed/*.jsonl.gz"))}


def test_layout_fields_and_stats(reference):
    out = reference
    assert (out / "stats.json").is_file() and (out / "report.md").is_file() and (out / "report.png").is_file()
    assert (out / "config.yaml").is_file()
    kept = {p.parent.name for p in out.glob("kept/*/*.jsonl.gz")}
    assert {"kaz_Cyrl", "uig_Arab", "rus_Cyrl", "kaz_Arab"} <= kept
    for shard in out.glob("kept/*/*.jsonl.gz"):
        for row in read_jsonl(shard):
            assert {"id", "text", "lang", "lang_score", "source", "metadata"} <= set(row)
            assert row["lang"] == shard.parent.name
    removed = [row for p in out.glob("removed/*.jsonl.gz") for row in read_jsonl(p)]
    assert removed and all("reason" in r and r["text"] for r in removed)
    assert not list(out.rglob(".*.tmp-*"))  # no temporary files left behind

    stats = read_json(out / "stats.json")
    for lang, e in stats["languages"].items():
        assert e["docs_in"] == e["docs_kept"] + e["docs_removed"], lang
        assert e["docs_removed"] == sum(r["docs"] for r in e["removed_by_reason"].values())
    n_kept = sum(1 for p in out.glob("kept/*/*.jsonl.gz") for _ in read_jsonl(p))
    assert stats["totals"]["docs_kept"] == n_kept
    assert stats["totals"]["docs_removed"] == len(removed)
    # the OSCAR "ug" sample is Kazakh in Arabic script
    assert stats["languages"]["kaz_Arab"]["docs_kept"] >= 1
    assert "uig_Arab" not in {r["lang"] for p in out.glob("kept/kaz_Arab/*") for r in read_jsonl(p)}
    oscar = [r for p in out.glob("kept/*/*.jsonl.gz") for r in read_jsonl(p) if "oscar_ug" in r["source"]]
    assert oscar and {r["lang"] for r in oscar} == {"kaz_Arab"}
    # only the OSCAR page's menu row is boilerplate, not its news paragraphs
    assert stats["languages"]["kaz_Arab"]["chars_kept"] >= 0.85 * stats["languages"]["kaz_Arab"]["chars_in"]
    # the second Russian file only repeats the first: all its documents are duplicates
    assert stats["reasons"]["duplicate_doc"]["docs"] >= 30
    assert stats["broken_input"]["empty_file"] == 1
    assert stats["broken_input"]["malformed_json"] == 1
    assert stats["broken_input"]["invalid_utf8"] == 1
    assert stats["broken_input"]["broken_compression"] == 1
    assert all(isinstance(v, int) for v in stats["normalisation"].values())
    report = (out / "report.md").read_text()
    assert "| kaz_Cyrl |" in report and "report.png" in report


def test_kept_shards_load_with_datasets(reference):
    from datasets import load_dataset

    files = sorted(str(p) for p in reference.glob("kept/kaz_Cyrl/*.jsonl.gz"))
    ds = load_dataset("json", data_files=files, split="train")
    assert len(ds) > 50 and set(ds.column_names) >= {"id", "text", "lang", "lang_score", "source"}


def test_deterministic_output(inputs, reference, tmp_path):
    again = run_clean(config(inputs, tmp_path / "again"))
    assert output_files(again) == output_files(reference)


def test_resume_after_crash_loses_and_duplicates_nothing(inputs, reference, tmp_path, monkeypatch):
    import corpora.normalize as norm

    real = norm.normalize_text

    def crash_on_russian(text, counts=None, reg=None):
        if "ru2.txt" in crash_on_russian.source:
            raise RuntimeError("simulated kill")
        return real(text, counts, reg)

    crash_on_russian.source = ""
    real_run = norm.Normalize.run

    def tracking_run(self, data, rank=0, world_size=1):
        for doc in data or ():
            crash_on_russian.source = doc.metadata["source"]
            yield from real_run(self, iter([doc]), rank, world_size)

    monkeypatch.setattr(norm, "normalize_text", crash_on_russian)
    monkeypatch.setattr(norm.Normalize, "run", tracking_run)
    out = tmp_path / "crashy"
    with pytest.raises(RuntimeError, match="simulated kill"):
        run_clean(config(inputs, out))
    done = sorted(p.name for p in (out / "logs/stage1/completions").iterdir())
    assert done and len(done) < 11  # some tasks finished before the "kill", not all
    assert not (out / "stats.json").exists()
    monkeypatch.undo()
    stale = out / "kept/kaz_Cyrl/.00007.jsonl.gz.tmp-99999"  # what a SIGKILL mid-write leaves behind
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"partial")
    run_clean(config(inputs, out))  # the same command again
    assert output_files(out) == output_files(reference)
    assert not stale.exists()
    # statistics of tasks finished before the crash are neither lost nor counted twice
    stats, ref = (read_json(d / "stats.json") for d in (out, reference))
    assert stats["languages"] == ref["languages"] and stats["broken_input"] == ref["broken_input"]


def test_workers_give_the_same_output(inputs, reference, tmp_path):
    out = run_clean(config(inputs, tmp_path / "par", workers=2))
    assert output_files(out) == output_files(reference)


def test_changed_settings_are_refused_in_the_same_folder(inputs, reference):
    with pytest.raises(ValueError, match=r"finished with other settings: min_lang_score: 0\.[0-9]+ → 0\.9\. Re-run with "
                                         r"--force"):
        run_clean(config(inputs, reference, min_lang_score=0.9))


def test_language_selection_and_no_dedup(inputs, tmp_path):
    out = run_clean(config(inputs, tmp_path / "sel", languages=["uig_Arab", "kaz_Arab"], dedup=False,
                           lid="langid"))
    assert {p.parent.name for p in out.glob("kept/*/*.jsonl.gz")} == {"uig_Arab", "kaz_Arab"}
    assert not (out / "work/sig").exists()
    stats = read_json(out / "stats.json")
    assert stats["reasons"]["lang_not_selected"]["docs"] > 100


def test_uly_transliteration_joins_the_arabic_corpus(data_root, tmp_path):
    rows = read_lines(data_root / "mono/ug/thuyg20_transcripts_latin/thuyg20_train.tsv.xz")[:80]
    src = tmp_path / "uly.txt"
    src.write_text("\n".join(r.split("\t", 1)[1] for r in rows) + "\n", encoding="utf-8")
    out = run_clean(CleanConfig(inputs=[f"uig_Latn={src}"], out=str(tmp_path / "o"), transliterate_uly=True))
    kept = [r for p in out.glob("kept/*/*.jsonl.gz") for r in read_jsonl(p)]
    assert sum(r["lang"] == "uig_Arab" for r in kept) >= 0.9 * len(kept) > 0
    stats = read_json(out / "stats.json")
    assert stats["normalisation"]["uly_to_uey"] == 80


def test_config_roundtrip_and_errors(tmp_path):
    from xling.core.config import ConfigError, load_config, save_config

    cfg = CleanConfig(inputs=["a"], out="b", quality_by_lang={"zho_Hani": {"min_chars": 5}})
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(CleanConfig, tmp_path / "c.yaml") == cfg
    with pytest.raises(ConfigError, match="min_lang_scor"):
        load_config(CleanConfig, None, ["min_lang_scor=0.3"], flags={"inputs": ["a"], "out": "b"})
    with pytest.raises(ConfigError, match="Did you mean 'fasttext'"):
        load_config(CleanConfig, None, ["lid=fastext"])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        run_clean(dataclasses.replace(cfg, inputs=[str(tmp_path / "missing")], out=str(tmp_path / "x")))


def test_cli_clean_and_identify(inputs, tmp_path, capsys, monkeypatch):
    import io

    from xling.cli import main

    out = tmp_path / "cli"
    rc = main(["corpora", "clean", str(inputs / "kk.txt"), str(inputs / "oscar_ug.txt.gz"), "--out", str(out),
               "--lid", "langid", "--set", "quality.min_chars=20"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert str(out / "kept") in printed and "kaz_Cyrl" in printed
    assert "min_chars: 20" in (out / "config.yaml").read_text()

    monkeypatch.setattr("sys.stdin", io.StringIO("Бұл кітап өте жақсы екен.\n\nقاغا خۇشال ھالدا شاخقا قونۇپتۇ.\n"))
    assert main(["corpora", "identify", "-"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split("\t")[0] for ln in lines] == ["kaz_Cyrl", "und_Zyyy", "uig_Arab"]
    assert all(0.0 <= float(ln.split("\t")[1]) <= 1.0 for ln in lines)


@pytest.mark.slow
def test_decontamination_step_is_appended(data_root, tmp_path):
    """`decontaminate_against` appends corpora.decontam.Decontaminate; its removals reach removed/ and stats."""
    tatoeba = data_root / "tatoeba/tatoeba.kaz-eng.kaz"
    src = tmp_path / "mixed.txt"
    lingua = read_lines(data_root / "lid/lingua_testdata/sentences/kk.txt.xz")[:100]
    src.write_text("\n".join(read_lines(tatoeba)[:100] + lingua) + "\n", encoding="utf-8")
    out = run_clean(CleanConfig(inputs=[str(src)], out=str(tmp_path / "o"), decontaminate_against=[str(tatoeba)]))
    stats = read_json(out / "stats.json")
    assert stats["reasons"]["contaminated"]["docs"] >= 50
    removed = [r for p in out.glob("removed/decontam-*.jsonl.gz") for r in read_jsonl(p)]
    assert len(removed) == stats["reasons"]["contaminated"]["docs"]
    kept = {r["text"] for p in out.glob("kept/*/*.jsonl.gz") for r in read_jsonl(p)}
    assert not kept & set(read_lines(tatoeba))
    e = stats["languages"]["kaz_Cyrl"]
    assert e["docs_in"] == e["docs_kept"] + e["docs_removed"]


def test_real_government_web_text_loses_menus_and_duplicates(data_root, tmp_path):
    """apertium kaz-rus gov web text: menus, copyright lines, "found a typo?" notices and repeats go."""
    corpus = data_root / "parallel/kk-ru/apertium_kaz_rus_CORPUS"
    files = [corpus / n for n in ("akorda-kaz-12.xz", "dingov-kaz.tmx.xz", "muftyat-kaz-725.xz", "egov-kaz-130.xz")]
    out = run_clean(CleanConfig(inputs=[str(f) for f in files], out=str(tmp_path / "gov"),
                                languages=["kaz_Cyrl"]))
    kept = [r["text"] for p in out.glob("kept/kaz_Cyrl/*.jsonl.gz") for r in read_jsonl(p)]
    assert len(kept) > 200
    joined = "\n".join(kept)
    for junk in ("ЖАҢАЛЫҚТАР БАСПАСӨЗ МӘЛІМЕТІ", "Қатені байқадыңыз ба", "©", "Негізгі бет »", "&quot;"):
        assert junk not in joined, junk
    assert len(kept) == len(set(kept))
    assert not re.search(r"[\u0400-\u04ff][iI]|[iI][\u0400-\u04ff]", joined)  # Latin i typed for Kazakh і
    stats = read_json(out / "stats.json")
    assert stats["reasons"]["boilerplate"]["docs"] > 0 and stats["reasons"]["duplicate_doc"]["docs"] > 0
    assert stats["normalisation"]["html_entity"] > 0 and stats["normalisation"]["latin_in_cyrillic"] > 0


def test_real_common_crawl_samples_end_to_end(data_root, tmp_path):
    out = run_clean(CleanConfig(inputs=[str(data_root / "cc_samples")], out=str(tmp_path / "cc")))
    rows = [r for p in out.glob("kept/*/*.jsonl.gz") for r in read_jsonl(p)]
    by_url = {r["metadata"]["url"]: r["lang"] for r in rows if r["metadata"]["url"]}
    assert by_url["http://sample_english.com"] == "eng_Latn"
    assert by_url["http://sample_russian.ru"] == "rus_Cyrl"
    assert by_url["http://sample_chinese.zh"] == "zho_Hani"
    assert by_url["https://an.wikipedia.org/wiki/Escopete"].endswith("_Latn")
    # the same page as WARC, WET and WET.gz: one copy survives exact deduplication
    assert sum(1 for r in rows if r["metadata"]["url"] == "https://an.wikipedia.org/wiki/Escopete") <= 2


def test_tsv_inputs_in_a_clean_run(data_root, tmp_path):
    """`file.tsv#N` reads column N whatever `format` the run sets (a recipe's `format: lines`)."""
    import lzma

    from corpora.clean import expand_inputs

    rows = read_lines(data_root / "mono/ug/thuyg20_transcripts_latin/thuyg20_train.tsv.xz")[:60]
    seg = read_lines(data_root / "mono/kk/apertium_kaz_segmentation_corpus/segmentation-corpus.lines1-8000.tsv.xz")[:60]
    (tmp_path / "ug.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    with lzma.open(tmp_path / "kk.tsv.xz", "wt", encoding="utf-8") as f:
        f.write("\n".join(seg) + "\n")
    inputs = [f"uig_Latn={tmp_path / 'ug.tsv'}#2", f"{tmp_path / 'kk.tsv.xz'}#1"]
    files, hints, columns = expand_inputs(inputs)
    assert sorted(files) == [str(tmp_path / "kk.tsv.xz"), str(tmp_path / "ug.tsv")]
    assert columns == {str(tmp_path / "ug.tsv"): 2, str(tmp_path / "kk.tsv.xz"): 1} and hints == {str(tmp_path / "ug.tsv"): "uig_Latn"}
    out = run_clean(CleanConfig(inputs=inputs, out=str(tmp_path / "o"), transliterate_uly=True, format="lines",
                                lid="langid"))
    kept = {lang: [r["text"] for p in out.glob(f"kept/{lang}/*.jsonl.gz") for r in read_jsonl(p)]
            for lang in ("uig_Arab", "kaz_Cyrl")}
    # the wav path (ULY letters, transliterated with the rest) and the morph-split column are gone
    assert len(kept["uig_Arab"]) >= 50 and not any("ۋاۋ" in t or "\\" in t for t in kept["uig_Arab"])
    assert len(kept["kaz_Cyrl"]) >= 45 and not any("·" in t or "\t" in t for t in kept["kaz_Cyrl"])
    with pytest.raises(InputError, match="names one tab-separated file"):
        expand_inputs([f"{tmp_path}#1"])
