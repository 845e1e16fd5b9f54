"""Parallel text is decontaminated like the monolingual corpus (`parallel.decontaminate`)."""

from __future__ import annotations

from xling.core.io import read_lines


def test_parallel_pairs_with_evaluation_text_are_dropped(tmp_path, data_root):
    from xling.parallel import ParallelConfig, ParallelSource, load_parallel

    tatoeba = [x.strip() for x in read_lines(data_root / "tatoeba/tatoeba.kaz-eng.kaz")]
    test_line = next(x for x in tatoeba if len(x.split()) >= 5)
    base = data_root / "parallel/kk-ru/apertium_kaz_rus_CORPUS"
    kk = [x for x in read_lines(base / "afn-kaz-1550.xz")[:30]]
    ru = [x for x in read_lines(base / "afn-ru.xz")[:30]]
    kk[3] = test_line  # a Tatoeba test sentence slipped into the training pairs
    (tmp_path / "p.kk").write_text("\n".join(kk) + "\n", encoding="utf-8")
    (tmp_path / "p.ru").write_text("\n".join(ru) + "\n", encoding="utf-8")
    src = ParallelSource(src=str(tmp_path / "p.kk"), tgt=str(tmp_path / "p.ru"), src_lang="kaz_Cyrl",
                         tgt_lang="rus_Cyrl")
    plain = load_parallel(ParallelConfig(sources=[src], max_length_ratio=10.0, script_check=False))
    clean = load_parallel(ParallelConfig(sources=[src], max_length_ratio=10.0, script_check=False,
                                         decontaminate=True))
    assert any(s == test_line for s, _ in plain.groups["kaz_Cyrl-rus_Cyrl"])
    assert not any(s == test_line for s, _ in clean.groups["kaz_Cyrl-rus_Cyrl"])
    assert clean.stats.to_json()["removed"].get("contaminated", 0) >= 1
    assert len(plain.groups["kaz_Cyrl-rus_Cyrl"]) - len(clean.groups["kaz_Cyrl-rus_Cyrl"]) == \
        clean.stats.to_json()["removed"]["contaminated"]
