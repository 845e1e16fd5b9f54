"""xling.parallel: readers, misalignment errors, cleaning reasons, temperature-sampled resumable stream."""

from __future__ import annotations

import gzip
import lzma

import pytest

from xling.parallel import (
    PairStream,
    ParallelConfig,
    ParallelSource,
    clean_pairs,
    load_parallel,
    read_aligned,
    read_source,
    read_tmx,
    read_tsv,
    read_udhr,
    script_fraction,
    write_tsv_pairs,
)

KK = ["Бүгін ауа райы жақсы.", "Мен кітап оқимын.", "Ол мектепке барады.", "Біз үйге қайттық.", "Қала үлкен."]
RU = ["Сегодня хорошая погода.", "Я читаю книгу.", "Он идёт в школу.", "Мы вернулись домой.", "Город большой."]


def _write(path, lines, opener=open):
    with opener(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def fake_encode(texts):
    return [[4 + (ord(c) % 50) for c in t[:6]] for t in texts]


def test_aligned_pair_plain_gz_xz(tmp_path):
    a = _write(tmp_path / "x.kk.gz", KK, gzip.open)
    b = _write(tmp_path / "x.ru.xz", RU, lzma.open)
    assert read_aligned(a, b) == list(zip(KK, RU, strict=True))


def test_misaligned_files_error_names_both_files_and_counts(tmp_path):
    a = _write(tmp_path / "a.src", KK)
    b = _write(tmp_path / "b.tgt", RU[:3])
    with pytest.raises(ValueError) as e:
        read_aligned(a, b)
    msg = str(e.value)
    assert str(a) in msg and str(b) in msg and "5 lines" in msg and "3 lines" in msg


def test_misaligned_real_apertium_pair(data_root):
    d = data_root / "parallel/kk-ru/apertium_kaz_rus_CORPUS"
    # 868 newlines + an unterminated last line = 869 lines (wc -l says 868)
    with pytest.raises(ValueError, match=r"869 lines.*867 lines"):
        read_aligned(d / "primeminister-kaz-860.xz", d / "primeminister-ru.xz")


def test_real_apertium_pair_loses_its_trailing_segment_tags(data_root):
    """apertium-kaz-rus's muftyat pair was extracted from TMX with `</seg>` left at 432 Kazakh and 218
    Russian line ends (counted here from the raw files, of 725 lines); read as the recipe reads it, no tag is left and
    every line is the raw line without it."""
    d = data_root / "parallel/kk-ru/apertium_kaz_rus_CORPUS"
    raw = {}
    for name in ("muftyat-kaz-725.xz", "muftyat-ru.xz"):
        with lzma.open(d / name, "rt", encoding="utf-8") as f:
            raw[name] = [line.rstrip("\n") for line in f]
    assert [sum("</seg>" in x for x in raw[n]) for n in raw] == [432, 218]
    pairs = read_aligned(d / "muftyat-kaz-725.xz", d / "muftyat-ru.xz", unescape=True)
    assert len(pairs) == len(raw["muftyat-kaz-725.xz"]) == 725  # 724 newlines + an unterminated last line
    for side, name in enumerate(raw):
        for (got, line) in zip((p[side] for p in pairs), raw[name], strict=True):
            assert "</seg>" not in got
            if "&" not in line:  # entity decoding aside, the line is the raw one without its tag
                assert got == " ".join(line.replace("</seg>", "").split())


def test_tsv_reader_and_malformed_line(tmp_path):
    p = tmp_path / "p.tsv"
    p.write_text("a b\tc d\n\nx\ty\n", encoding="utf-8")
    assert read_tsv(p) == [("a b", "c d"), ("x", "y")]
    p.write_text("a\tb\nonly one column\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"p\.tsv:2: expected 2 tab-separated columns"):
        read_tsv(p)


def test_write_tsv_roundtrip(tmp_path):
    pairs = [("a\tb", "c\nd"), ("e", "f")]
    p = write_tsv_pairs(tmp_path / "o.tsv", pairs)
    assert read_tsv(p) == [("a b", "c d"), ("e", "f")]


def test_tmx_reader(tmp_path):
    tmx = tmp_path / "t.tmx"
    tmx.write_text("""<?xml version="1.0" encoding="UTF-8"?>
<tmx version="1.4"><header srclang="kk"/><body>
<tu><tuv xml:lang="kk-KZ"><seg>Мен кітап оқимын.</seg></tuv><tuv xml:lang="ru"><seg>Я читаю &quot;книгу&quot;.</seg></tuv></tu>
<tu><tuv xml:lang="ru"><seg>Город большой.</seg></tuv><tuv xml:lang="kk"><seg>Қала  үлкен.</seg></tuv></tu>
<tu><tuv xml:lang="kk"><seg>only one side</seg></tuv></tu>
</body></tmx>""", encoding="utf-8")
    assert read_tmx(tmx, ["kk", "ru"]) == [("Мен кітап оқимын.", 'Я читаю "книгу".'), ("Қала үлкен.", "Город большой.")]
    src = ParallelSource(src=str(tmx), src_lang="kaz_Cyrl", tgt_lang="rus_Cyrl", tmx_langs=["kk", "ru"])
    assert len(read_source(src)) == 2  # format sniffed as TMX


UDHR_KK = """<?xml version="1.0" encoding="UTF-8"?>
<udhr iso639-3='kaz' xmlns="http://www.unhchr.ch/udhr"><title>Декларация</title>
<preamble><title>Кіріспе</title><para>Бірінші  азат.</para><para>Екінші азат.</para></preamble>
<article number="1"><title>1-бап</title><para>Барлық адамдар тең.</para></article>
<article number="2"><title>2-бап</title><orderedlist><listitem><para>Бір.</para></listitem>
<listitem><para>Екі.</para></listitem></orderedlist></article></udhr>"""
UDHR_EN = """<?xml version="1.0" encoding="UTF-8"?>
<udhr iso639-3='eng' xmlns="http://www.unhchr.ch/udhr"><title>Declaration</title>
<preamble><title>Preamble</title><para>First recital.</para><para>Second recital.</para></preamble>
<article number="1"><title>Article 1</title><para>All human beings are equal.</para></article>
<article number="2"><title>Article 2</title><orderedlist><listitem><para>One.</para></listitem>
</orderedlist><para>Extra.</para></article></udhr>"""


def test_udhr_reader_pairs_units_by_place(tmp_path):
    kk, en = tmp_path / "kk.xml", tmp_path / "en.xml"
    kk.write_text(UDHR_KK, encoding="utf-8")
    en.write_text(UDHR_EN, encoding="utf-8")
    # by hand: the units both translations have, in document order; whitespace collapsed;
    # kk's second list item and en's trailing paragraph have no counterpart and are left out
    assert read_udhr(kk, en) == [
        ("Декларация", "Declaration"), ("Кіріспе", "Preamble"), ("Бірінші азат.", "First recital."),
        ("Екінші азат.", "Second recital."), ("1-бап", "Article 1"), ("Барлық адамдар тең.", "All human beings are equal."),
        ("2-бап", "Article 2"), ("Бір.", "One.")]
    src = ParallelSource(src=str(kk), tgt=str(en), src_lang="kaz_Cyrl", tgt_lang="eng_Latn", format="udhr")
    assert len(read_source(src)) == 8
    with pytest.raises(ValueError, match="not <udhr>"):
        read_udhr(tmp_path / "kk.xml", _write(tmp_path / "x.xml", ["<tmx/>"]))


def test_udhr_real_uyghur_english(data_root):
    focus = data_root / "parallel" / "udhr" / "focus"
    pairs = read_udhr(focus / "udhr_uig_arab.xml", focus / "udhr_eng.xml")
    assert len(pairs) == 92  # every unit of the Uyghur text has its English counterpart
    assert pairs[0] == ("دۇنيا كىشىلىك ھوقۇقى خىتابنامىسى", "Universal Declaration of Human Rights")
    art1 = [p for p in pairs if p[1].startswith("All human beings are born free")]
    assert len(art1) == 1 and art1[0][0].startswith("ھەممە ئادەم")


def test_bad_tmx_and_bad_lang_code(tmp_path):
    bad = tmp_path / "b.tmx"
    bad.write_text("<?xml version='1.0'?><tmx><body><tu>", encoding="utf-8")
    with pytest.raises(ValueError, match="not a valid TMX"):
        read_tmx(bad)
    with pytest.raises(ValueError, match="src_lang"):
        ParallelSource(src="x", src_lang="kk", tgt_lang="rus_Cyrl")


def test_cleaning_counts_reasons():
    cfg = ParallelConfig(max_length_ratio=3.0)
    pairs = [(KK[0], RU[0]), ("", RU[1]), (KK[2], "x" * 200), ("This is English text.", RU[3]),
             (KK[4], "Latin letters only here"), (KK[0], RU[0]), (KK[1], RU[1])]
    kept, reasons = clean_pairs(pairs, "kaz_Cyrl", "rus_Cyrl", cfg)
    assert kept == [(KK[0], RU[0]), (KK[1], RU[1])]
    assert reasons == {"empty_side": 1, "length_ratio": 1, "wrong_script_src": 1, "wrong_script_tgt": 1,
                       "duplicate": 1}
    assert script_fraction("Қала big", "Cyrl") == pytest.approx(4 / 7)
    assert script_fraction("123", "Arab") == 1.0


def _config(tmp_path, n=40):
    kk = [f"{KK[i % 5]} {i}" for i in range(n)]
    ru = [f"{RU[i % 5]} {i}" for i in range(n)]
    a, b = _write(tmp_path / "a.kk", kk), _write(tmp_path / "a.ru", ru)
    t = tmp_path / "b.tsv"
    t.write_text("".join(f"{RU[i % 5]} {i}\tТүркче {i} сөз\n" for i in range(10)), encoding="utf-8")
    return ParallelConfig(sources=[
        ParallelSource(src=str(a), tgt=str(b), src_lang="kaz_Cyrl", tgt_lang="rus_Cyrl"),
        ParallelSource(src=str(t), src_lang="rus_Cyrl", tgt_lang="kaz_Cyrl", format="tsv")], alpha=0.5, seed=3)


def test_stream_deterministic_resumable_and_sharded(tmp_path):
    cfg = _config(tmp_path)
    data = load_parallel(cfg)
    assert data.sizes() == {"kaz_Cyrl-rus_Cyrl": 40, "rus_Cyrl-kaz_Cyrl": 10}

    def stream(rank=0, world=1):
        return PairStream(data, fake_encode, seed=cfg.seed, alpha=cfg.alpha, swap_prob=0.5, rank=rank, world_size=world)

    full = stream().take(60)
    s = stream()
    first = s.take(25)
    state = s.state_dict()
    resumed = stream()
    resumed.load_state_dict(state)
    assert first + resumed.take(35) == full
    # two ranks interleave the same global sequence
    r0, r1 = stream(0, 2).take(30), stream(1, 2).take(30)
    assert [x for pair in zip(r0, r1, strict=True) for x in pair] == full
    # temperature: the small group is over-sampled relative to its natural 20% share
    p = stream().plan.probabilities()
    assert p["rus_Cyrl-kaz_Cyrl"] == pytest.approx(10**0.5 / (10**0.5 + 40**0.5))
    st = stream()
    groups = [st._draw()[0] for _ in range(4000)]
    assert groups.count(1) / len(groups) == pytest.approx(p["rus_Cyrl-kaz_Cyrl"], abs=0.03)
    # an epoch visits every pair of a group exactly once
    st = stream()
    seen = set()
    while st.cursor[0][0] == 0:
        g, idx, _ = st._draw()
        if g == 0:
            seen.add(idx)
    assert seen == set(range(40))


def test_stream_state_mismatch(tmp_path):
    cfg = _config(tmp_path)
    s = PairStream.from_config(cfg, fake_encode)
    state = s.state_dict()
    state["sizes"] = [1, 1]
    with pytest.raises(ValueError, match="parallel data changed"):
        s.load_state_dict(state)


def test_real_apertium_corpus(data_root):
    from pathlib import Path

    inc = Path(__file__).resolve().parents[2] / "recipes/parallel-kk-ru-apertium.yaml"
    data = load_parallel(ParallelConfig(include=[str(inc)]))
    stats = data.stats.to_json()
    assert stats["read"] == 13446  # the 22 aligned site pairs listed in the recipe
    assert 6000 < data.sizes()["kaz_Cyrl-rus_Cyrl"] < stats["read"]
    # the per-site files overlap heavily and carry TMX/markup debris: both are counted
    assert stats["removed"]["duplicate"] > 3000
    assert stats["removed"]["wrong_script_src"] > 100
    assert all('&quot;' not in s and '&quot;' not in t for s, t in data.groups["kaz_Cyrl-rus_Cyrl"])


def test_pretrain_fingerprint_covers_include_files_and_their_sources(tmp_path, monkeypatch):
    """Editing a `parallel.include` file, or a pair file it lists, must make a finished arm stale."""
    from xling.core.config import load_config
    from xling.core.stage import fingerprint
    from xling.pretrain import PretrainConfig, pretrain_stage

    monkeypatch.chdir(tmp_path)
    src, tgt = tmp_path / "a.kk", tmp_path / "a.ru"
    _write(src, ["бір", "екі"])
    _write(tgt, ["один", "два"])
    inc = tmp_path / "pairs.yaml"
    inc.write_text(f"sources:\n  - {{src: {src}, tgt: {tgt}, src_lang: kaz_Cyrl, tgt_lang: rus_Cyrl}}\n",
                   encoding="utf-8")
    (tmp_path / "tok").mkdir()  # its own folder: a folder input is fingerprinted by all its files
    flags = {"tokenizer": str(tmp_path / "tok"), "data": {"files": {"kaz_Cyrl": str(src)}},
             "objectives": [{"name": "mlm"}, {"name": "tlm"}], "parallel": {"include": [str(inc)]}}

    def digest() -> str:
        return fingerprint(pretrain_stage(load_config(PretrainConfig, None, [], flags=flags), tmp_path / "o").spec)["sha256"]

    first = digest()
    assert digest() == first
    _write(tgt, ["один", "три"])  # a listed pair file changes
    second = digest()
    assert second != first
    inc.write_text(inc.read_text(encoding="utf-8") + "# reviewed\n", encoding="utf-8")  # the include file itself
    assert digest() != second


def test_synthetic_side_is_carried_per_pair_and_kept_out_of_old_fingerprints(tmp_path):
    from xling.core.errors import InputError
    from xling.parallel import fingerprint_config

    human = write_tsv_pairs(tmp_path / "human.tsv", list(zip(KK, RU, strict=True)))
    made = write_tsv_pairs(tmp_path / "bt.tsv", [(r, f"{k} (машина)") for k, r in zip(KK, RU, strict=True)][:3])
    cfg = ParallelConfig(sources=[
        ParallelSource(src=str(made), src_lang="rus_Cyrl", tgt_lang="kaz_Cyrl", format="tsv", synthetic="tgt"),
        ParallelSource(src=str(human), src_lang="kaz_Cyrl", tgt_lang="rus_Cyrl", format="tsv"),
        ParallelSource(src=str(made), src_lang="kaz_Cyrl", tgt_lang="rus_Cyrl", format="tsv", synthetic="src",
                       name="same file, read the other way")], script_check=False, dedup=False)
    data = load_parallel(cfg)
    assert data.synthetic == {"kaz_Cyrl-rus_Cyrl": [""] * 5 + ["src"] * 3, "rus_Cyrl-kaz_Cyrl": ["tgt"] * 3}
    assert {k: len(v) for k, v in data.synthetic.items()} == data.sizes()
    with pytest.raises(InputError, match="synthetic: expected one of"):
        ParallelSource(src=str(made), src_lang="rus_Cyrl", tgt_lang="kaz_Cyrl", synthetic="both")
    # a source that does not set it fingerprints as before the field existed; one that does, with it
    fp = fingerprint_config(cfg)
    assert [("synthetic" in s) for s in fp["sources"]] == [True, False, True]
    assert fp["sources"][0]["synthetic"] == "tgt"
