"""Readers: every input format, format sniffing, and broken input that must be skipped and counted."""

from __future__ import annotations

import gzip
import json
import lzma

import pytest

from corpora.readers import MultiFormatReader, detect_format


def read(path, fmt="auto", **kw):
    reader = MultiFormatReader([str(path)], fmt, **kw)
    docs = list(reader.run())
    stats = {k: v.total for k, v in reader.stats.stats.items()}
    return docs, stats


def test_lines_cc100_jsonl_ccnet_parquet(tmp_path):
    lines = tmp_path / "a.txt"
    lines.write_text("бірінші сөйлем\n\nекінші сөйлем\n", encoding="utf-8")
    cc100 = tmp_path / "b.txt.xz"
    with lzma.open(cc100, "wt", encoding="utf-8") as f:
        f.write("doc one line one\ndoc one line two\n\ndoc two line one\ndoc two line two\n\n")
    jsonl = tmp_path / "c.jsonl.gz"
    with gzip.open(jsonl, "wt", encoding="utf-8") as f:
        f.write(json.dumps({"text": "hello there", "url": "http://x"}) + "\n")
    ccnet = tmp_path / "d.json"
    ccnet.write_text(json.dumps({"raw_content": "cc net text", "language": "en", "url": "http://y"}) + "\n")
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": ["p one", "p two"], "id": ["x1", "x2"]}), tmp_path / "e.parquet")

    assert detect_format(lines) == "lines"
    assert detect_format(cc100) == "cc100"
    assert detect_format(jsonl) == "jsonl"
    assert detect_format(ccnet) == "ccnet"
    assert detect_format(tmp_path / "e.parquet") == "parquet"

    docs, _ = read(lines)
    assert [d.text for d in docs] == ["бірінші сөйлем", "екінші сөйлем"]
    docs, _ = read(cc100)
    assert [d.text for d in docs] == ["doc one line one\ndoc one line two", "doc two line one\ndoc two line two"]
    docs, _ = read(jsonl)
    assert docs[0].text == "hello there" and docs[0].metadata["url"] == "http://x"
    docs, _ = read(ccnet)
    assert docs[0].text == "cc net text" and docs[0].metadata["cc_lang"] == "en"
    docs, _ = read(tmp_path / "e.parquet")
    assert [d.text for d in docs] == ["p one", "p two"] and docs[0].metadata["orig_id"] == "x1"
    # the override flag wins over sniffing: read the CC-100 file line by line
    docs, _ = read(cc100, fmt="lines")
    assert len(docs) == 4


def test_ids_sources_and_hints_are_stable(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text("one line here\nanother line\n", encoding="utf-8")
    a = list(MultiFormatReader([str(p)], hints={str(p): "uig_Latn"}).run())
    b = list(MultiFormatReader([str(p)]).run())
    assert [d.id for d in a] == [d.id for d in b]
    assert a[0].metadata["source"] == str(p) and a[0].metadata["lang_hint"] == "uig_Latn"
    assert len({d.id for d in a}) == 2


def test_sharding_by_rank(tmp_path):
    files = []
    for i in range(5):
        p = tmp_path / f"f{i}.txt"
        p.write_text(f"file {i} text\n", encoding="utf-8")
        files.append(str(p))
    reader = MultiFormatReader(files)
    got = [[d.text for d in reader.run(rank=r, world_size=2)] for r in range(2)]
    assert got == [["file 0 text", "file 2 text", "file 4 text"], ["file 1 text", "file 3 text"]]


def test_broken_input_is_skipped_and_counted(tmp_path):
    good = "\n".join(f"line number {i} with some text" for i in range(2000)) + "\n"
    truncated = tmp_path / "truncated.txt.gz"
    blob = gzip.compress(good.encode())
    truncated.write_bytes(blob[: len(blob) // 2])
    docs, stats = read(truncated)
    assert 0 < len(docs) < 2000 and stats["broken_compression"] == 1

    corrupt_xz = tmp_path / "corrupt.txt.xz"
    data = bytearray(lzma.compress(good.encode()))
    data[200:260] = b"\x00" * 60
    corrupt_xz.write_bytes(bytes(data))
    docs, stats = read(corrupt_xz)
    assert stats["broken_compression"] == 1

    bad_utf8 = tmp_path / "bad.txt"
    bad_utf8.write_bytes(b"good line one\n\xff\xfe broken \xc3\x28 line\ngood line two\n")
    docs, stats = read(bad_utf8)
    assert [d.text for d in docs] == ["good line one", "good line two"] and stats["invalid_utf8"] == 1

    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"text": "fine one"}\n{"text": broken\n{"no_text": 1}\n{"text": "fine two"}\n')
    docs, stats = read(bad_json)
    assert [d.text for d in docs] == ["fine one", "fine two"]
    assert stats["malformed_json"] == 1 and stats["missing_text_field"] == 1

    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    docs, stats = read(empty)
    assert docs == [] and stats["empty_file"] == 1

    empty_gz = tmp_path / "empty.txt.gz"
    empty_gz.write_bytes(gzip.compress(b""))
    docs, stats = read(empty_gz)
    assert docs == [] and stats["empty_file"] == 1

    huge = tmp_path / "huge.txt"
    huge.write_text("short one\n" + "x" * 50_000 + "\nshort two\n", encoding="utf-8")
    docs, stats = read(huge, max_line_bytes=10_000)
    assert [d.text for d in docs] == ["short one", "short two"] and stats["line_too_long"] == 1


@pytest.mark.parametrize("rel,fmt,n,url", [
    ("cc_samples/commoncrawl_whirlwind/whirlwind.warc.wet.gz", "wet", 1, "https://an.wikipedia.org/wiki/Escopete"),
    ("cc_samples/commoncrawl_whirlwind/whirlwind.warc.wet", "wet", 1, "https://an.wikipedia.org/wiki/Escopete"),
    ("cc_samples/commoncrawl_whirlwind/whirlwind.warc.gz", "warc", 1, "https://an.wikipedia.org/wiki/Escopete"),
    ("cc_samples/cc_net_test/sample.warc.txt", "wet", 3, "http://sample_english.com"),
    ("cc_samples/warcio_test/example.warc.gz", "warc", 1, "http://example.com/"),
    ("cc_samples/warcio_test/example-iana.org-chunked.warc", "warc", 1, "http://www.iana.org/"),
])
def test_real_common_crawl_samples(data_root, rel, fmt, n, url):
    path = data_root / rel
    assert detect_format(path) == fmt
    docs, _ = read(path)
    assert len(docs) == n
    assert docs[0].metadata["url"] == url
    assert all(len(d.text) > 50 for d in docs)
    assert "<html" not in docs[0].text.lower() and "<script" not in docs[0].text.lower()


def test_real_cc_net_wet_with_wrong_lengths_keeps_all_documents(data_root):
    docs, _ = read(data_root / "cc_samples/cc_net_test/sample.warc.txt")
    assert [d.metadata["url"] for d in docs] == ["http://sample_english.com", "http://sample_chinese.zh",
                                                 "http://sample_russian.ru"]
    assert docs[2].text.startswith("Цитаты знаменитого Марка Твена")


def test_real_oscar_and_gov_text(data_root):
    docs, _ = read(data_root / "mono/ug/oscar2019_hf_dummy/ug_dedup.txt.gz")
    assert docs and all(d.text for d in docs)
    docs, _ = read(data_root / "parallel/kk-ru/apertium_kaz_rus_CORPUS/akorda-kaz-12.xz")
    assert len(docs) >= 10


def test_tsv_reads_one_column(tmp_path):
    tsv = tmp_path / "t.tsv.gz"
    with gzip.open(tsv, "wt", encoding="utf-8") as f:
        f.write("a\\001.wav\tбіз келдік\n\nb\\002.wav\tсіз кеттіңіз\tартық\nжалғыз\n")
    assert detect_format(tsv) == "tsv"
    docs, stats = read(tsv)  # the last column
    assert [d.text for d in docs] == ["біз келдік", "артық", "жалғыз"]
    assert {d.metadata["format"] for d in docs} == {"tsv"}
    # a named column wins over the global format; a line without it is skipped and counted
    docs, stats = read(tsv, fmt="lines", columns={str(tsv): 2})
    assert [d.text for d in docs] == ["біз келдік", "сіз кеттіңіз"]
    assert stats["missing_tsv_column"] == 1
    docs, _ = read(tsv, fmt="lines")  # asked for whole lines: whole lines
    assert docs[0].text == "a\\001.wav\tбіз келдік"


def test_real_tsv_inputs_keep_only_their_text_column(data_root):
    """THUYG-20 is `wav path<TAB>text`; the apertium-kaz segmentation corpus `sentence<TAB>morphs·split`."""
    thuyg = data_root / "mono/ug/thuyg20_transcripts_latin/thuyg20_train.tsv.xz"
    docs, _ = read(thuyg)
    assert len(docs) == 9923
    assert not any(".wav" in d.text or "thuyg20_data" in d.text for d in docs)
    assert docs[0].text == "biz nechche yil tirishish arqiliq bu qaqas yerni axiri munbet étizgha aylandurduq"
    seg = data_root / "mono/kk/apertium_kaz_segmentation_corpus/segmentation-corpus.lines1-8000.tsv.xz"
    docs, stats = read(seg, fmt="lines", columns={str(seg): 1})
    assert len(docs) == 8000 and not stats.get("missing_tsv_column")
    assert not any("·" in d.text or "\t" in d.text for d in docs)
    assert docs[0].text.startswith("Өсімдік географияның өсімдік флорасына")
