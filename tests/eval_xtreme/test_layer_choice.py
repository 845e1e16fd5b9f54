"""`retrieval.layer_candidates`: the retrieval layer chosen per model on dev sets that no task reads."""

from __future__ import annotations

import numpy as np
import pytest

from eval_xtreme.retrieval import Encoded, Encoder, RetrievalConfig, choose_layer
from eval_xtreme.runner import EvalConfig, check_dev_disjoint, plan, run_eval
from eval_xtreme.tasks import RETRIEVAL_DEV, TASKS
from xling.core.config import ConfigError
from xling.core.errors import InputError, XlingError
from xling.core.io import read_json, read_lines

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class _Tables:
    """A stand-in encoder of `n_layers` layers: each sentence's pooled vector per layer looked up in a table."""

    def __init__(self, n_layers: int, tables: dict[int, dict[str, np.ndarray]]) -> None:
        self.n_layers, self.tables = n_layers, tables

    def encode_layers(self, sentences, layers, scorings=("cosine",)) -> dict[int, Encoded]:
        return {layer: Encoded(pooled=np.stack([self.tables[layer][s] for s in sentences]).astype(np.float32))
                for layer in layers}


def _dev(n: int) -> dict[str, tuple[list[str], list[str]]]:
    return {"a": ([f"a{i}" for i in range(n)], [f"A{i}" for i in range(n)]),
            "b": ([f"b{i}" for i in range(n)], [f"B{i}" for i in range(n)])}


def test_the_layer_that_finds_the_translations_is_chosen_with_hand_computed_scores():
    n = 5
    sents = [s for src, en in _dev(n).values() for s in (*src, *en)]
    # layer -1: every sentence the same vector, so each search returns index 0 (ties → lowest):
    # one of 5 right per direction = 20 %. Layer -2: a pair shares a one-hot vector = 100 %.
    same = {s: np.ones(4) for s in sents}
    oracle = {s: np.eye(n)[int(s[1:])] for s in sents}
    got = choose_layer(_Tables(3, {-1: same, -2: oracle}), [-1, -2], _dev(n), RetrievalConfig())
    assert got["chosen"] == -2
    assert got["top1"]["-1"] == {"a": [20.0, 20.0], "b": [20.0, 20.0]} and got["mean"]["-1"] == 20.0
    assert got["top1"]["-2"] == {"a": [100.0, 100.0], "b": [100.0, 100.0]} and got["mean"]["-2"] == 100.0
    assert got["dev_pairs"] == {"a": 5, "b": 5} and got["candidates"] == [-1, -2]
    # a tie goes to the earlier candidate, in the order given
    both = _Tables(3, {-3: oracle, -2: oracle})
    assert choose_layer(both, [-3, -2], _dev(n), RetrievalConfig())["chosen"] == -3
    assert choose_layer(both, [-2, -3], _dev(n), RetrievalConfig())["chosen"] == -2


def test_dev_scores_of_a_real_model_match_a_plain_forward_pass(tiny_encoder, data_root):
    """Per candidate, top-1 equals cosine search over mean-pooled `hidden_states` computed here directly."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    dev = {name: RETRIEVAL_DEV.get(name).load(data_root, 12) for name in ("newstest2020_ru_en",
                                                                               "flores200_dev_ug_en")}
    got = choose_layer(Encoder(str(tiny_encoder), -1, batch_size=8), [-1, 0], dev, RetrievalConfig())
    tok, net = AutoTokenizer.from_pretrained(str(tiny_encoder)), AutoModel.from_pretrained(str(tiny_encoder)).eval()

    def pooled(sentences, index):
        batch = tok(list(sentences), padding=True, truncation=True, max_length=128, return_tensors="pt")
        with torch.inference_mode():
            h = net(**batch, output_hidden_states=True).hidden_states[index]
        m = batch["attention_mask"].unsqueeze(-1).float()
        v = ((h * m).sum(1) / m.sum(1)).numpy()
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    for layer, index in (("-1", 2), ("0", 1)):  # XTREME numbering: layer 0 = hidden_states[1]
        for name, (src, en) in dev.items():
            sims = pooled(src, index) @ pooled(en, index).T
            gold = np.arange(len(src))
            want = [100 * np.mean(sims.argmax(1) == gold), 100 * np.mean(sims.argmax(0) == gold)]
            assert got["top1"][layer][name] == pytest.approx(want, abs=1e-3), (layer, name)
    means = {k: np.mean([x for v in got["top1"][k].values() for x in v]) for k in ("-1", "0")}
    assert got["chosen"] == max((-1, 0), key=lambda k: (means[str(k)], -[-1, 0].index(k)))


def test_one_pass_over_every_layer_equals_one_encoder_per_layer(tiny_encoder, data_root):
    src = RETRIEVAL_DEV.get("newstest2020_ru_en").load(data_root, 20)[0]
    full = Encoder(str(tiny_encoder), -1, batch_size=8).encode_layers(src, [-1, 0, -2], ("cosine", "maxsim"))
    for layer in (-1, 0, -2):
        one = Encoder(str(tiny_encoder), layer, batch_size=8).encode(src, ("cosine", "maxsim"))
        assert np.allclose(full[layer].pooled, one.pooled, atol=1e-5)
        assert np.allclose(full[layer].tokens.vectors, one.tokens.vectors, atol=1e-5)
        assert (full[layer].tokens.offsets == one.tokens.offsets).all() and (full[layer].tokens.ids == one.tokens.ids).all()
    with pytest.raises(ValueError, match="needs every block"):
        Encoder(str(tiny_encoder), 0).encode_layers(src, [0])


def test_candidates_the_model_lacks_are_skipped_and_named(tiny_encoder, data_root):
    dev = {"newstest2020_ru_en": RETRIEVAL_DEV.get("newstest2020_ru_en").load(data_root, 8)}
    enc = Encoder(str(tiny_encoder), -1, batch_size=8)
    got = choose_layer(enc, [-2, -1, -3, -4], dev, RetrievalConfig())  # 2 layers
    assert got["candidates"] == [-2, -1] and got["skipped"] == [-3, -4] and set(got["top1"]) == {"-2", "-1"}
    with pytest.raises(InputError, match=r"none of the retrieval layer candidates \[-3, 5\] exists; the model has 2 layers"):
        choose_layer(enc, [-3, 5], dev, RetrievalConfig())


def test_dev_sets_exist_and_do_not_share_lines_with_the_test_split_read_from_the_same_file(data_root):
    for name, spec in RETRIEVAL_DEV.items():
        src, en = spec.load(data_root, 0)
        assert len(src) == len(en) > 100, name
    flores = RETRIEVAL_DEV.get("flores200_dev_ug_en")
    test = TASKS.get("flores_en_ug").resolve("test", "ug", data_root, allow_fixtures=False)
    assert flores.start == 300 and (data_root / flores.source) in test.paths  # devtest is absent here
    first = set(read_lines(data_root / flores.source)[:flores.start])
    assert not first & set(flores.load(data_root, 0)[0])


def test_a_run_whose_test_split_reaches_the_dev_lines_is_refused(data_root):
    cfg = EvalConfig(model="m", tasks=["flores_en_ug"], max_eval_examples=0,
                     retrieval=RetrievalConfig(layer_candidates=[-1, -2]))
    with pytest.raises(ConfigError, match=r"flores200_dev_ug_en is lines 301 on of .*uig_Arab\.dev.*"
                                          r"flores_en_ug/ug reads that file as its test split \(all of it\)"):
        check_dev_disjoint(cfg, plan(cfg))
    cfg.max_eval_examples = 301
    with pytest.raises(ConfigError, match=r"\(301 lines\); set max_eval_examples to at most 300"):
        check_dev_disjoint(cfg, plan(cfg))
    cfg.max_eval_examples = 300
    check_dev_disjoint(cfg, plan(cfg))
    cfg.max_eval_examples, cfg.retrieval.layer_dev_sets = 0, ["newstest2020_ru_en"]
    check_dev_disjoint(cfg, plan(cfg))


def test_the_refusal_comes_before_any_task_runs(tiny_encoder, tmp_path):
    out = tmp_path / "o"
    cfg = EvalConfig(model=str(tiny_encoder), tasks=["udpos_turkic:kk", "flores_en_ug"], out=str(out), threads=1,
                     max_eval_examples=0, retrieval=RetrievalConfig(layer_candidates=[-1, 0]))
    with pytest.raises(ConfigError, match="flores200_dev_ug_en"):
        run_eval(cfg)
    assert not (out / "tasks").exists() and not (out / "finetune").exists()


def test_a_missing_dev_set_is_named_before_anything_runs(tmp_path):
    cfg = EvalConfig(model="m", tasks=["flores_en_ug"], data_root=str(tmp_path), max_eval_examples=300,
                     retrieval=RetrievalConfig(layer_candidates=[-1, -2], layer_dev_sets=["newstest2018_tr_en"]))
    with pytest.raises(FileNotFoundError, match=r"newstest2018_tr_en needs .*newstest2018\.tr\.xz, which is missing"):
        check_dev_disjoint(cfg, plan(cfg))


def test_config_errors():
    with pytest.raises(ValueError, match="has a layer twice"):
        RetrievalConfig(layer_candidates=[-1, -1])
    with pytest.raises(ValueError, match=r"needs at least one retrieval\.layer_dev_sets"):
        RetrievalConfig(layer_candidates=[-1], layer_dev_sets=[])


def test_an_evaluation_reads_every_retrieval_task_at_the_chosen_layer(tiny_encoder, tmp_path, monkeypatch):
    import eval_xtreme.runner as runner

    seen = {}
    real = runner.choose_layer

    def spy(encoder, candidates, dev, rc):
        seen.update(dev)
        return real(encoder, candidates, dev, rc)

    monkeypatch.setattr(runner, "choose_layer", spy)
    out = tmp_path / "o"
    cfg = EvalConfig(model=str(tiny_encoder), tasks=["flores_en_ug", "tatoeba_turkic:ug"], out=str(out), threads=1,
                     max_eval_examples=20, view=["ug"],
                     retrieval=RetrievalConfig(layer_candidates=[-1, 0], layer_dev_pairs=10))
    results = run_eval(cfg)
    choice = read_json(out / "retrieval_layer.json")
    assert results["retrieval_layer"] == choice and choice["chosen"] in (-1, 0)
    assert choice["dev_pairs"] == {"newstest2020_ru_en": 10, "newstest2018_tr_en": 10, "flores200_dev_ug_en": 10}
    assert {results["details"][t]["layer"] for t in ("flores_en_ug", "tatoeba_turkic")} == {choice["chosen"]}
    # the Uyghur dev side is read in the run's view (ULY, Latin letters), English as it is
    assert not any("\u0600" <= c <= "\u06ff" for s in seen["flores200_dev_ug_en"][0] for c in s)
    assert seen["flores200_dev_ug_en"][1][0] == _english_line(301)
    report = (out / "report.md").read_text(encoding="utf-8")
    assert f"## Retrieval layer chosen on dev: {choice['chosen']}" in report
    # the candidates are part of a finished task's settings: a fixed layer is another evaluation
    with pytest.raises(XlingError, match=r"settings\.layer_candidates\.0: -1 → <unset>"):
        run_eval(EvalConfig(model=str(tiny_encoder), tasks=["flores_en_ug"], out=str(out), threads=1,
                            max_eval_examples=20, view=["ug"]))


def _english_line(number: int) -> str:
    from xling.core.paths import data_root

    return read_lines(data_root() / RETRIEVAL_DEV.get("flores200_dev_ug_en").english)[number - 1]
