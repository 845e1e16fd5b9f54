"""`parallel.filter`: ratio margins against a hand computation, the drops and their counts, the LID check,
and the recipe's filter against a person's labels of 100 real apertium kk-ru pairs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import csr_matrix

from eval_xtreme.retrieval import aligned_margins
from xling.core.config import ConfigError, from_dict
from xling.core.errors import InputError
from xling.parallel import PairFilterConfig, ParallelConfig, ParallelSource, fingerprint_config, load_parallel

# source i · target j, with the target side the identity so that the product is this matrix itself
SIMS = np.array([[0.9, 0.1, 0.0],
                 [0.2, 0.5, 0.4],
                 [0.0, 0.6, 0.3]])
# k = 2 by hand. Rows' two best: (0.9 + 0.1) / 2 = 0.5, (0.5 + 0.4) / 2 = 0.45, (0.6 + 0.3) / 2 = 0.45;
# columns' two best: (0.9 + 0.2) / 2 = 0.55, (0.6 + 0.5) / 2 = 0.55, (0.4 + 0.3) / 2 = 0.35.
# margin_i = sims[i, i] / ((row_i + col_i) / 2): 0.9 / 0.525, 0.5 / 0.5, 0.3 / 0.4.
HAND = np.array([0.9 / 0.525, 1.0, 0.75])


@pytest.mark.parametrize("chunk_size", [1, 2, 1024])
def test_aligned_margins_match_a_hand_computation(chunk_size):
    got = aligned_margins(SIMS, np.eye(3), k=2, chunk_size=chunk_size)
    np.testing.assert_allclose(got, HAND, rtol=1e-12)
    # sparse rows (the character TF-IDF scorer's) give the same numbers
    np.testing.assert_allclose(aligned_margins(csr_matrix(SIMS), csr_matrix(np.eye(3)), k=2, chunk_size=chunk_size),
                               HAND, rtol=1e-12)


def test_aligned_margins_edge_cases():
    # a pair sharing nothing with anything scores 0 rather than dividing by zero
    sims = np.array([[1.0, 0.0], [0.0, 0.0]])
    np.testing.assert_array_equal(aligned_margins(sims, np.eye(2), k=1), [1.0, 0.0])
    # k beyond the pool: every candidate is a neighbour
    np.testing.assert_allclose(aligned_margins(SIMS, np.eye(3), k=10),
                               [0.9 / ((1.0 / 3 + 1.1 / 3) / 2), 0.5 / ((1.1 / 3 + 1.2 / 3) / 2),
                                0.3 / ((0.9 / 3 + 0.7 / 3) / 2)])
    with pytest.raises(ValueError, match="3 source rows but 2 target rows"):
        aligned_margins(SIMS, np.eye(2))


KK = ["Бүгін ауа райы өте жақсы, күн ашық.", "Мен кеше кітапханадан үш кітап алдым.", "Ол таңертең мектепке жаяу барады.",
      "Біз Алматыдан поезбен қайттық.", "Қала орталығында жаңа саябақ ашылды.", "Президент 2015 жылы Астанада сөйледі."]
RU = ["Сегодня погода очень хорошая, солнечно.", "Вчера я взял в библиотеке три книги.",
      "Утром он идёт в школу пешком.", "Мы вернулись из Алматы поездом.", "В центре города открылся новый парк.",
      "Президент выступил в Астане в 2015 году."]


def _tsv(path: Path, pairs) -> str:
    path.write_text("".join(f"{s}\t{t}\n" for s, t in pairs), encoding="utf-8")
    return str(path)


def _noisy_sources(tmp_path):
    # two sources of one language pair; the second has a pair whose sides share nothing (a date for a sentence)
    good = _tsv(tmp_path / "good.tsv", list(zip(KK[:4], RU[:4], strict=True)))
    noisy = _tsv(tmp_path / "noisy.tsv", [(KK[4], RU[4]), (KK[5], "01 сентября 2014"), ("Президент Астанада.", RU[5])])
    return [ParallelSource(src=good, src_lang="kaz_Cyrl", tgt_lang="rus_Cyrl", format="tsv", name="good"),
            ParallelSource(src=noisy, src_lang="kaz_Cyrl", tgt_lang="rus_Cyrl", format="tsv", name="noisy")]


def test_margin_filter_drops_the_lowest_and_counts_them_per_source(tmp_path, monkeypatch):
    import xling.parallel as parallel

    sources = _noisy_sources(tmp_path)
    plain = load_parallel(ParallelConfig(sources=sources, max_length_ratio=10))
    assert plain.sizes() == {"kaz_Cyrl-rus_Cyrl": 7}
    # the selection, given margins (the scorers are checked above and on real labelled pairs below)
    margins = np.array([0.9, 1.2, 1.1, 1.3, 1.0, 0.2, 0.95])
    seen = []
    monkeypatch.setattr(parallel, "pair_margins", lambda pairs, fc: seen.append(list(pairs)) or margins)
    cfg = ParallelConfig(sources=sources, max_length_ratio=10,
                         filter=PairFilterConfig(score="chars", drop_fraction=0.15))  # int(0.15 · 7) = 1 pair
    data = load_parallel(cfg)
    assert seen == [plain.groups["kaz_Cyrl-rus_Cyrl"]]  # one pool: both sources of the language pair
    kept = data.groups["kaz_Cyrl-rus_Cyrl"]
    assert kept == [p for i, p in enumerate(plain.groups["kaz_Cyrl-rus_Cyrl"]) if i != 5]
    assert data.stats.kept == {"good": 4, "noisy": 2}
    assert data.stats.reasons["noisy"] == {"low_margin": 1}
    report = data.stats.to_json()
    assert report["removed"] == {"low_margin": 1}
    assert report["margin_filter"]["kaz_Cyrl-rus_Cyrl"] == {"scored": 7, "dropped": 1, "score": "chars",
                                                             "lowest_kept_margin": 0.9}
    # a margin floor drops every pair under it as well; ties in the fraction go to the earlier pair
    data = load_parallel(ParallelConfig(sources=sources, max_length_ratio=10,
                                        filter=PairFilterConfig(score="chars", drop_fraction=0.15, min_margin=0.92)))
    assert data.stats.kept == {"good": 3, "noisy": 2}
    assert data.stats.reasons == {"good": {"low_margin": 1}, "noisy": {"low_margin": 1}}


def test_min_margin_synthetic_pairs_and_the_pairs_restriction(tmp_path):
    sources = _noisy_sources(tmp_path)
    cut_all = PairFilterConfig(score="chars", min_margin=1e9)
    with pytest.raises(InputError, match="no pairs left after cleaning for kaz_Cyrl-rus_Cyrl"):
        load_parallel(ParallelConfig(sources=sources, max_length_ratio=10, filter=cut_all))
    # back-translated pairs are never scored or dropped
    bt = _tsv(tmp_path / "bt.tsv", [("Жаңа сөйлем.", "Новое предложение.")])
    synthetic = ParallelSource(src=bt, src_lang="kaz_Cyrl", tgt_lang="rus_Cyrl", format="tsv", synthetic="tgt")
    data = load_parallel(ParallelConfig(sources=[*sources, synthetic], max_length_ratio=10, filter=cut_all))
    assert data.groups["kaz_Cyrl-rus_Cyrl"] == [("Жаңа сөйлем.", "Новое предложение.")]
    assert data.synthetic["kaz_Cyrl-rus_Cyrl"] == ["tgt"]
    # `pairs` names the language pairs filtered: others are left as cleaning left them
    other = load_parallel(ParallelConfig(sources=sources, max_length_ratio=10, filter=PairFilterConfig(
        score="chars", min_margin=1e9, lid="fasttext", pairs=["kaz_Cyrl-eng_Latn"])))
    assert len(other.groups["kaz_Cyrl-rus_Cyrl"]) == 7 and "margin_filter" not in other.stats.to_json()


def test_lid_drops_a_side_in_another_language(tmp_path):
    copied = "Тіркелген қолданушылар ғана пікір қалдыра алады, сондықтан сайтқа тіркеліңіз."
    src = _tsv(tmp_path / "p.tsv", [(KK[0], RU[0]), (KK[1], copied), (KK[2], "Ok."), (KK[3], RU[3])])
    source = ParallelSource(src=src, src_lang="kaz_Cyrl", tgt_lang="rus_Cyrl", format="tsv", name="p")
    data = load_parallel(ParallelConfig(sources=[source], max_length_ratio=100,
                                        filter=PairFilterConfig(lid="fasttext", lid_min_chars=20)))
    # the Kazakh sentence in the Russian column goes; "Ok." is too short to judge (and is not Cyrillic: the
    # script check already drops it)
    assert data.groups["kaz_Cyrl-rus_Cyrl"] == [(KK[0], RU[0]), (KK[3], RU[3])]
    assert data.stats.reasons["p"] == {"wrong_script_tgt": 1, "wrong_language_tgt": 1}


def test_filter_settings_are_checked_and_stay_out_of_old_fingerprints(tmp_path):
    with pytest.raises(ConfigError, match="`score` and a cut"):
        from_dict(ParallelConfig, {"filter": {"score": "chars"}})
    with pytest.raises(ConfigError, match="`score` and a cut"):
        from_dict(ParallelConfig, {"filter": {"drop_fraction": 0.2}})
    with pytest.raises(ConfigError, match="drop_fraction must be within"):
        from_dict(ParallelConfig, {"filter": {"score": "chars", "drop_fraction": 1.0}})
    with pytest.raises(ConfigError, match=r"unknown config key 'filter\.scorer'"):
        from_dict(ParallelConfig, {"filter": {"scorer": "chars"}})
    cfg = from_dict(ParallelConfig, {"filter": {"score": "runs/x/pretrain/xling/final", "drop_fraction": 0.2}})
    assert cfg.filter.scorer_model == "runs/x/pretrain/xling/final"
    # records written before the filter existed keep their fingerprint while it is off
    assert "filter" not in fingerprint_config(ParallelConfig())
    assert fingerprint_config(cfg)["filter"]["drop_fraction"] == 0.2


def test_recipe_filter_against_hand_labels(data_root, monkeypatch):
    """The demo recipe's kk-ru filter (LID + character margins, lowest 30 % dropped) on the real apertium
    pairs, read against a person's labels of 100 random pairs (31 not translations): measured 22 of the 31
    dropped and 6 of the 69 translations (2026-12-08)."""
    monkeypatch.setenv("XLING_DATA", str(data_root))
    labels = {}
    for line in (Path(__file__).parent / "data" / "apertium_kk_ru_alignment_labels.tsv").read_text().splitlines():
        if line and not line.startswith("#"):
            key, label = line.split("\t")
            labels[key] = label
    include = Path(__file__).resolve().parents[2] / "recipes/parallel-kk-ru-apertium.yaml"
    base = dict(include=[str(include)], max_length_ratio=2.5)
    before = load_parallel(ParallelConfig(**base)).groups["kaz_Cyrl-rus_Cyrl"]

    def key(pair):
        return hashlib.sha1(f"{pair[0]}\t{pair[1]}".encode()).hexdigest()[:16]

    assert len({key(p) for p in before} & set(labels)) == 100  # the labelled pairs are all still read as labelled
    after = load_parallel(ParallelConfig(**base, filter=PairFilterConfig(
        lid="fasttext", score="chars", drop_fraction=0.3, pairs=["kaz_Cyrl-rus_Cyrl"])))
    kept = {key(p) for p in after.groups["kaz_Cyrl-rus_Cyrl"]}
    bad = [k for k, v in labels.items() if v == "misaligned"]
    good = [k for k, v in labels.items() if v == "translation"]
    dropped_bad = sum(k not in kept for k in bad)
    dropped_good = sum(k not in kept for k in good)
    assert (len(bad), len(good)) == (31, 69)
    # the cleaned corpus is ~31 % misaligned; what the filter keeps must be far cleaner than that
    assert dropped_bad >= 18, (dropped_bad, dropped_good)
    assert dropped_good <= 10, (dropped_bad, dropped_good)
    assert (len(bad) - dropped_bad) / (100 - dropped_bad - dropped_good) < 0.2
