"""BERT2BERT back-translation: warm start copies the pretrained encoder, the decoder is causal, a
tiny model overfits a few real pairs with checkpoint selection on dev chrF, and chrF is checked
against a hand computation and an independent implementation."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from xling.bt.score import corpus_scores


@pytest.fixture(scope="module")
def tiny_encoder(tiny_spm, tmp_path_factory):
    """A randomly initialised 2-layer XLM-R MLM saved like a pretraining run's `final/` folder."""
    from transformers import AutoTokenizer, XLMRobertaConfig, XLMRobertaForMaskedLM

    tok = AutoTokenizer.from_pretrained(str(tiny_spm))
    torch.manual_seed(0)
    cfg = XLMRobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=64, max_position_embeddings=66, pad_token_id=tok.pad_token_id,
                           bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, type_vocab_size=1)
    d = tmp_path_factory.mktemp("encoder") / "final"
    XLMRobertaForMaskedLM(cfg).save_pretrained(str(d))
    tok.save_pretrained(str(d))
    return d


def test_warm_start_copies_encoder_weights(tiny_encoder):
    from transformers import XLMRobertaForMaskedLM

    from xling.bt.model import load_tokenizer_with_tags, warm_start_model

    mlm = XLMRobertaForMaskedLM.from_pretrained(str(tiny_encoder))
    tok = load_tokenizer_with_tags(tiny_encoder, ["kaz_Cyrl", "rus_Cyrl"])
    n_pre = mlm.config.vocab_size
    assert len(tok) == n_pre + 2
    model = warm_start_model(tiny_encoder, tok, max_len=64)
    pre, enc, dec = mlm.state_dict(), model.encoder.state_dict(), model.decoder.state_dict()
    word = "embeddings.word_embeddings.weight"
    n_checked = 0
    for name, p in pre.items():
        if not name.startswith("roberta.") or name.endswith("position_ids"):
            continue
        inner = name[len("roberta."):]
        for side in (enc[inner], dec[name]):
            got = side[:n_pre] if inner == word else side
            assert torch.equal(got, p), name
            n_checked += 1
    assert n_checked >= 2 * 30
    for name in ("lm_head.dense.weight", "lm_head.layer_norm.weight", "lm_head.bias"):  # the MLM head outputs
        assert torch.equal(dec[name][:n_pre] if name == "lm_head.bias" else dec[name], pre[name]), name
    assert enc[word].shape[0] == dec["roberta." + word].shape[0] == dec["lm_head.decoder.weight"].shape[0] == len(tok)
    cross = [n for n in dec if ".crossattention." in n]
    assert cross and not any(".crossattention." in n for n in pre)  # fresh cross-attention, decoder only
    assert model.decoder.config.is_decoder and model.decoder.config.add_cross_attention


def test_decoder_is_causal(tiny_encoder):
    from xling.bt.model import load_tokenizer_with_tags, warm_start_model

    tok = load_tokenizer_with_tags(tiny_encoder, ["kaz_Cyrl", "rus_Cyrl"])
    model = warm_start_model(tiny_encoder, tok, max_len=64).eval()
    x = torch.tensor([[5, 6, 7, 2]])
    d = torch.tensor([[0, 10, 11, 12, 13]])
    d2 = d.clone()
    d2[0, 3:] = torch.tensor([40, 41])
    with torch.no_grad():
        a = model(input_ids=x, decoder_input_ids=d).logits
        b = model(input_ids=x, decoder_input_ids=d2).logits
    assert torch.allclose(a[0, :3], b[0, :3], atol=1e-5)  # earlier positions never see later inputs
    assert not torch.allclose(a[0, 3:], b[0, 3:])


def test_warm_start_refuses_what_it_cannot_use(tiny_encoder, tmp_path):
    from xling.bt.model import load_tokenizer_with_tags, warm_start_model

    tok = load_tokenizer_with_tags(tiny_encoder, ["kaz_Cyrl"])
    with pytest.raises(ValueError, match="max_len 100 exceeds the 64 positions"):
        warm_start_model(tiny_encoder, tok, max_len=100)
    with pytest.raises(FileNotFoundError, match=r"no config\.json"):
        warm_start_model(tmp_path, tok, max_len=32)


def test_cross_attention_from_self_attention_is_a_copy_and_independent_of_the_seed(tiny_encoder):
    from safetensors.torch import load_file

    from xling.bt.model import load_tokenizer_with_tags, warm_start_model

    # the reference: the pretrained tensors read straight from the folder's safetensors file
    pre = load_file(str(tiny_encoder / "model.safetensors"))
    tok = load_tokenizer_with_tags(tiny_encoder, ["kaz_Cyrl", "rus_Cyrl"])
    states = {}
    for init in ("self", "random"):
        for seed in (0, 1):
            torch.manual_seed(seed)
            states[init, seed] = warm_start_model(tiny_encoder, tok, max_len=64, cross_attention=init).decoder.state_dict()
    dec = states["self", 0]
    cross = [n for n in dec if ".crossattention." in n]
    # per layer: query/key/value weight + bias, output dense weight + bias, output LayerNorm weight + bias
    assert len(cross) == 2 * 10
    for name in cross:
        source = name.replace(".crossattention.", ".attention.")
        assert source in pre, source
        assert torch.equal(dec[name], pre[source]), name
    for name in cross:  # the same blocks whatever the seed; "random" draws new blocks per seed
        assert torch.equal(states["self", 0][name], states["self", 1][name]), name
    assert not all(torch.equal(states["random", 0][n], states["random", 1][n]) for n in cross)
    assert not any(torch.equal(states["random", 0][n], pre[n.replace(".crossattention.", ".attention.")])
                   for n in cross if n.endswith("query.weight"))


def test_cross_attention_init_config(tmp_path):
    from xling.bt.train import BTTrainConfig, bt_train_stage
    from xling.core.config import from_dict
    from xling.core.errors import ConfigError, InputError

    with pytest.raises(InputError, match="needs a warm start"):
        BTTrainConfig(tokenizer="tok", cross_attention_init="self")
    with pytest.raises(ConfigError, match="cross_attention_init"):  # checked on the one config path
        from_dict(BTTrainConfig, {"init_from": "enc", "cross_attention_init": "copy"})
    # unset, it stays out of the stage fingerprint, so records written before it existed stay valid
    assert "cross_attention_init" not in bt_train_stage(BTTrainConfig(init_from="enc"), tmp_path / "a").fp["config"]
    cfg = from_dict(BTTrainConfig, {"init_from": "enc", "cross_attention_init": "self"})
    assert bt_train_stage(cfg, tmp_path / "b").fp["config"]["cross_attention_init"] == "self"


@pytest.fixture(scope="module")
def few_pairs(data_root, tmp_path_factory):
    from xling.parallel import read_aligned, write_tsv_pairs

    d = data_root / "parallel/kk-ru/apertium_kaz_rus_CORPUS"
    pairs = [(s, t) for s, t in read_aligned(d / "election-kaz-660.xz", d / "election-ru-660.xz", True)
             if s and t and s != t and 10 < len(s) < 50 and 10 < len(t) < 50][:10]
    assert len(pairs) == 10
    return write_tsv_pairs(tmp_path_factory.mktemp("few") / "kk-ru.tsv", pairs)


@pytest.mark.slow  # two short trainings: ≈ 25 s of CPU
def test_tiny_bt_overfits_a_few_pairs_with_dev_selection(tiny_encoder, few_pairs, tmp_path):
    from xling.bt.model import load_model
    from xling.bt.train import BTTrainConfig, dev_chrf, split_pairs, train_bt
    from xling.bt.translate import translate_texts
    from xling.core.config import from_dict
    from xling.core.io import read_json, read_jsonl
    from xling.parallel import load_parallel

    base = {
        "init_from": str(tiny_encoder),
        "parallel": {"sources": [{"src": str(few_pairs), "src_lang": "kaz_Cyrl", "tgt_lang": "rus_Cyrl"}]},
        "model": {"max_len": 48}, "steps": 150, "batch_size": 16, "lr": 5e-3, "warmup_steps": 10,
        "label_smoothing": 0.0, "valid_pairs": 2, "eval_pairs": 2, "eval_beams": 1, "eval_every": 0,
        "save_every": 1000, "log_every": 20, "threads": 1}
    cfg = from_dict(BTTrainConfig, base)
    data = load_parallel(cfg.parallel)
    split = split_pairs(data.groups, data.langs, cfg.valid_pairs, cfg.seed)
    train_kk = [s for s, t, a, _ in split.train if a == "kaz_Cyrl"]
    train_ru = [t for s, t, a, _ in split.train if a == "kaz_Cyrl"]
    assert len(train_kk) == 8

    def chrf_on_train(model, tok):
        hyps = translate_texts(model, tok, train_kk, "rus_Cyrl", beams=1)
        return corpus_scores(hyps, train_ru)["chrf"]

    from xling.bt.model import load_tokenizer_with_tags, warm_start_model

    tok0 = load_tokenizer_with_tags(tiny_encoder, ["kaz_Cyrl", "rus_Cyrl"])
    torch.manual_seed(0)
    before = chrf_on_train(warm_start_model(tiny_encoder, tok0, 48), tok0)
    model, tok = load_model(train_bt(cfg, tmp_path / "last"))
    after = chrf_on_train(model, tok)
    assert after > before + 30 and after > 50, (before, after)
    # length-sorted batches (maxi_batch, loss over an average batch's tokens) learn them as well
    model, tok = load_model(train_bt(from_dict(BTTrainConfig, {**base, "maxi_batch": 2}),
                                     tmp_path / "sorted"))
    assert chrf_on_train(model, tok) > 50

    # checkpoint selection: OUT/model holds the weights with the best dev chrF seen
    cfg = from_dict(BTTrainConfig, {**base, "steps": 60, "eval_every": 20})
    model, tok = load_model(train_bt(cfg, tmp_path / "bt"))
    dev_rows = [r for r in read_jsonl(tmp_path / "bt/metrics.jsonl") if "dev_chrf/mean" in r]
    assert [r["step"] for r in dev_rows] == [20, 40, 60]
    best = max(r["dev_chrf/mean"] for r in dev_rows)
    assert dev_rows[-1]["best_dev_chrf"] == pytest.approx(best)
    assert dev_chrf(model, tok, split, cfg.eval_pairs)["mean"] == pytest.approx(best, abs=1e-6)
    scores = read_json(tmp_path / "bt/scores.json")
    assert set(scores) == {"kaz_Cyrl-rus_Cyrl", "rus_Cyrl-kaz_Cyrl"}
    assert all(0 <= s["copy_chrf"] <= 100 for s in scores.values())
    assert "copying the source" in (tmp_path / "bt/report.md").read_text()


def _hand_chrf(hyps: list[str], refs: list[str], order: int = 6, beta: float = 2.0) -> float:
    """chrF (Popović 2015) as sacrebleu computes it: character n-grams without whitespace, counts
    summed over the corpus, precision and recall averaged over the orders both sides have, F-beta."""
    stats = [[0, 0, 0] for _ in range(order)]
    for h, r in zip(hyps, refs, strict=True):
        h, r = "".join(h.split()), "".join(r.split())
        for n in range(1, order + 1):
            hc = Counter(h[i:i + n] for i in range(len(h) - n + 1))
            rc = Counter(r[i:i + n] for i in range(len(r) - n + 1))
            stats[n - 1][0] += sum(hc.values())
            stats[n - 1][1] += sum(rc.values())
            stats[n - 1][2] += sum((hc & rc).values())
    used = [(m / h, m / r) for h, r, m in stats if h and r]
    p = sum(x for x, _ in used) / len(used)
    rec = sum(y for _, y in used) / len(used)
    return 100 * (1 + beta**2) * p * rec / (beta**2 * p + rec) if p + rec else 0.0


def test_chrf_against_hand_computation_and_second_implementation():
    # by hand: "ab" vs "abc": orders 1-2 count; P = (2/2 + 1/1)/2 = 1, R = (2/3 + 1/2)/2 = 7/12,
    # F2 = 5 · 1 · 7/12 / (4 + 7/12) = 35/55
    assert corpus_scores(["ab"], ["abc"])["chrf"] == pytest.approx(100 * 35 / 55)
    hyps = ["Президент провёл встречу с министром .", "Заседание правительства", "В"]
    refs = ["Глава государства провёл встречу с министром финансов .", "Заседание Правительства РК",
            "Послание народу Казахстана"]
    assert corpus_scores(hyps, refs)["chrf"] == pytest.approx(_hand_chrf(hyps, refs), abs=1e-9)
    assert corpus_scores(refs, refs)["chrf"] == pytest.approx(100)


def test_copy_ratio_adds_copies_of_training_targets_only(tiny_encoder, tmp_path):
    from xling.bt.train import BTTrainConfig, add_copies, bt_train_stage, split_pairs
    from xling.core.config import from_dict
    from xling.core.errors import InputError

    groups = {"kk-ru": [(f"kk {i}", f"ru {i}") for i in range(20)]}
    split = split_pairs(groups, {"kk-ru": ("kaz_Cyrl", "rus_Cyrl")}, 4, seed=0)
    assert len(split.train) == 32  # 16 pairs × 2 directions
    mixed = add_copies(split.train, 0.5, seed=0)
    assert mixed[:32] == split.train
    copies = mixed[32:]
    assert len(copies) == 16
    held_out = {t for pair in split.valid["kk-ru"] for t in pair}
    for src, tgt, a, b in copies:
        assert src == tgt and a == b == ("kaz_Cyrl" if src.startswith("kk") else "rus_Cyrl")
        assert src not in held_out
    assert {a for _, _, a, _ in copies} == {"kaz_Cyrl", "rus_Cyrl"}  # both directions' targets
    assert add_copies(split.train, 0.5, seed=0) == mixed and add_copies(split.train, 0.0, seed=0) == split.train
    with pytest.raises(InputError, match="copy_ratio must be within"):
        BTTrainConfig(init_from=str(tiny_encoder), copy_ratio=1.5)
    # unset, it stays out of the stage fingerprint (finished runs from before the field stay valid)
    cfg = from_dict(BTTrainConfig, {"init_from": str(tiny_encoder)})
    assert "copy_ratio" not in bt_train_stage(cfg, tmp_path / "a").fp["config"]
    cfg = from_dict(BTTrainConfig, {"init_from": str(tiny_encoder), "copy_ratio": 0.5})
    assert bt_train_stage(cfg, tmp_path / "b").fp["config"]["copy_ratio"] == 0.5


def test_back_translated_pairs_train_towards_the_human_side_only(tiny_encoder, tmp_path):
    """A pair with a machine-made side is trained from that side to the human one (never the other
    way), never held out, and leaves the dev choice among the human pairs exactly as it was."""
    from xling.bt.model import BT_TAG, known_targets, lang_tag, load_tokenizer_with_tags, warm_start_model
    from xling.bt.train import encode_split, split_pairs

    langs = {"kaz_Cyrl-rus_Cyrl": ("kaz_Cyrl", "rus_Cyrl"), "rus_Cyrl-kaz_Cyrl": ("rus_Cyrl", "kaz_Cyrl")}
    human = [(f"қазақ {i}", f"русский {i}") for i in range(20)]
    plain = split_pairs({"kaz_Cyrl-rus_Cyrl": human}, langs, 4, seed=3)
    # machine-made Kazakh: 3 pairs in their own group (bt translate ru→kk), 2 mixed into the human
    # group ahead of the human pairs, with the machine-made side as their source
    groups = {"kaz_Cyrl-rus_Cyrl": [("машина А " * 20, "реальный А"), ("машина Б", "реальный Б"), *human],
              "rus_Cyrl-kaz_Cyrl": [(f"реальный {j}", f"машина {j}") for j in range(3)]}
    synthetic = {"kaz_Cyrl-rus_Cyrl": ["src", "src"] + [""] * 20, "rus_Cyrl-kaz_Cyrl": ["tgt"] * 3}
    split = split_pairs(groups, langs, 4, seed=3, synthetic=synthetic)
    assert split.valid == plain.valid  # same 4 human pairs held out; no dev set for the synthetic-only group
    human_rows = [r for i, r in enumerate(split.train) if i not in split.back_translated]
    assert human_rows == plain.train
    bt_rows = [split.train[i] for i in sorted(split.back_translated)]
    assert sorted(bt_rows) == sorted([("машина А " * 20, "реальный А", "kaz_Cyrl", "rus_Cyrl"),
                                      ("машина Б", "реальный Б", "kaz_Cyrl", "rus_Cyrl"),
                                      *[(f"машина {j}", f"реальный {j}", "kaz_Cyrl", "rus_Cyrl") for j in range(3)]])
    assert not any(t.startswith("машина") for _, t, _, _ in split.train)  # machine text is never a target

    # tagged BT: [>>rus_Cyrl<<, <bt>, pieces…, </s>] for those rows only, within max_len
    tok = load_tokenizer_with_tags(tiny_encoder, ["kaz_Cyrl", "rus_Cyrl"], extra=[BT_TAG])
    assert known_targets(tok) == ["kaz_Cyrl", "rus_Cyrl"]
    model = warm_start_model(tiny_encoder, tok, 16)
    tag, bt_id = tok.convert_tokens_to_ids(lang_tag("rus_Cyrl")), tok.convert_tokens_to_ids(BT_TAG)
    untagged, _, labels = encode_split(split, tok, model, 16)
    src_ids, _, labels_t = encode_split(split, tok, model, 16, bt_tag=True)
    assert labels_t == labels
    for i, (row, before) in enumerate(zip(src_ids, untagged, strict=True)):
        if i in split.back_translated:
            assert row[:2] == [tag, bt_id] and row[-1] == tok.eos_token_id and len(row) <= 16
            assert row[2:-1] == before[1:-1][:13]  # the same pieces, one fewer where the row was full
        else:
            assert row == before and bt_id not in row
    assert max(len(r) for r in untagged) == 16  # the long row was full: its tagged form dropped a piece

    # unset, `bt_tag` and a source's `synthetic` stay out of the stage fingerprint (older records stay valid)
    from xling.bt.train import BTTrainConfig, bt_train_stage
    from xling.core.config import from_dict

    source = {"src": "pairs.tsv", "src_lang": "kaz_Cyrl", "tgt_lang": "rus_Cyrl", "format": "tsv"}
    cfg = from_dict(BTTrainConfig, {"init_from": str(tiny_encoder), "parallel": {"sources": [source]}})
    fp = bt_train_stage(cfg, tmp_path / "a").fp["config"]  # flattened: "parallel.sources.0.src", …
    assert "parallel.sources.0.src" in fp and not any(k == "bt_tag" or k.endswith(".synthetic") for k in fp)
    cfg = from_dict(BTTrainConfig, {"init_from": str(tiny_encoder), "bt_tag": True,
                                    "parallel": {"sources": [{**source, "synthetic": "tgt"}]}})
    fp = bt_train_stage(cfg, tmp_path / "b").fp["config"]
    assert fp["bt_tag"] is True and fp["parallel.sources.0.synthetic"] == "tgt"
