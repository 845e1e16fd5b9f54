"""Checkpoint folders: atomic, keep-last-K, clear errors for corrupted folders, no unpickling."""

from __future__ import annotations

import json
import math

import pytest
import torch

from xling.core.checkpoint import (
    CheckpointError,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from xling.core.io import read_json


def _model(seed: int = 0):
    from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM

    torch.manual_seed(seed)
    return XLMRobertaForMaskedLM(XLMRobertaConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1,
                                                  num_attention_heads=2, intermediate_size=32,
                                                  max_position_embeddings=20))


def _state(model):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.98))
    model(input_ids=torch.tensor([[0, 5, 6, 2]]), labels=torch.tensor([[-100, 5, 6, -100]])).loss.backward()
    opt.step()
    return {"optimizer": opt.state_dict(), "rng": {"torch": torch.get_rng_state()}, "data": {"step": 1}}


def test_round_trip_keep_last_and_tied_weights(tmp_path):
    model = _model()
    state = _state(model)
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, step, model, state, {"vocab_size": 50}, keep_last=2)
    assert [c.step for c in list_checkpoints(tmp_path)] == [2, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-000002", "step-000003"]  # no temp leftovers
    fresh = _model(seed=1)
    loaded = load_checkpoint(latest_checkpoint(tmp_path), fresh, {"vocab_size": 50})
    for (k, a), b in zip(model.state_dict().items(), fresh.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=k)
    assert fresh.lm_head.decoder.weight.data_ptr() == fresh.roberta.embeddings.word_embeddings.weight.data_ptr()
    opt = torch.optim.AdamW(fresh.parameters(), lr=1e-3)
    opt.load_state_dict(loaded["optimizer"])
    assert loaded["data"]["step"] == 1


def test_folder_without_meta_is_ignored(tmp_path):
    save_checkpoint(tmp_path, 1, _model(), {"x": 1}, {})
    (tmp_path / "step-000002").mkdir()
    (tmp_path / "step-000002" / "model.safetensors").write_bytes(b"partial")
    assert latest_checkpoint(tmp_path).step == 1


@pytest.mark.parametrize("damage", ["meta", "weights", "missing_state", "pickle", "tampered", "legacy",
                                    "crafted"])
def test_corrupted_or_tampered_folders_are_refused_with_clear_errors(tmp_path, damage, capsys):
    save_checkpoint(tmp_path, 5, _model(), {"x": 1, "opt": {0: torch.zeros(2)}}, {"vocab_size": 50})
    d = tmp_path / "step-000005"
    if damage == "meta":
        (d / "meta.json").write_text("{not json")
        with pytest.raises(CheckpointError, match=r"corrupted checkpoint .*step-000005.*meta\.json"):
            latest_checkpoint(tmp_path)
        return
    if damage == "weights":
        (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:100])
        match = r"model\.safetensors changed after the checkpoint was written"
    elif damage == "missing_state":
        (d / "state.safetensors").unlink()
        match = r"state\.safetensors is missing"
    elif damage == "pickle":
        # a pickle that would run code if anything unpickled it: it is not even opened
        torch.save({"evil": _Evil()}, d / "trainer_state.pt")
        match = r"trainer_state\.pt was added after the checkpoint was written"
    elif damage == "tampered":
        (d / "state.json").write_text((d / "state.json").read_text().replace('"x": 1', '"x": 2'))
        match = r"state\.json changed after the checkpoint was written"
    elif damage == "legacy":
        # a format-1 folder (torch.save'd trainer_state.pt): never loaded, the message says why
        (d / "meta.json").write_text(json.dumps({"format": 1, "step": 5, "vocab_size": 50}))
        torch.save({"evil": _Evil()}, d / "trainer_state.pt")
        match = r"format 1, this version reads format 2 \(it holds trainer_state\.pt, a pickle"
    else:
        # hashes made consistent by the attacker: the JSON state still only names tensors and plain values
        import hashlib

        (d / "state.json").write_text(json.dumps({"x": {"$t": "../../etc/passwd"}}))
        meta = read_json(d / "meta.json")
        meta["files"]["state.json"] = hashlib.sha256((d / "state.json").read_bytes()).hexdigest()
        (d / "meta.json").write_text(json.dumps(meta))
        match = r"cannot read the trainer state \(state\.x: names tensor '\.\./\.\./etc/passwd'"
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(latest_checkpoint(tmp_path), _model(), {"vocab_size": 50})
    assert "must never run" not in capsys.readouterr().out


def test_state_round_trip_keeps_types_keys_and_bits():
    from xling.core.checkpoint import decode_state, encode_state

    state = {"optimizer": {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.randn(3, 2)}},
                           "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.98), "params": [0], "foreign": None}]},
             "rng": {"torch": torch.get_rng_state()}, "best": -math.inf, "$odd": "key", "bf16": torch.ones(2).bfloat16()}
    tensors: dict = {}
    tree = json.loads(json.dumps(encode_state(state, tensors)))
    back = decode_state(tree, tensors)
    assert back.keys() == state.keys() and list(back["optimizer"]["state"]) == [0]
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.98) and back["best"] == -math.inf
    assert torch.equal(back["rng"]["torch"], state["rng"]["torch"]) and back["bf16"].dtype == torch.bfloat16
    assert torch.equal(back["optimizer"]["state"][0]["exp_avg"], state["optimizer"]["state"][0]["exp_avg"])
    with pytest.raises(TypeError, match=r"state\.x: a set cannot be saved"):
        encode_state({"x": {1}}, {})


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_vocab_and_shape_mismatch(tmp_path):
    save_checkpoint(tmp_path, 1, _model(), {}, {"vocab_size": 50, "model_shape": [1, 16]})
    ck = latest_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match=r"vocabulary mismatch .* 50 pieces, the tokenizer has 60"):
        load_checkpoint(ck, _model(), {"vocab_size": 60})
    with pytest.raises(CheckpointError, match="model_shape"):
        load_checkpoint(ck, _model(), {"vocab_size": 50, "model_shape": [2, 16]})
    assert read_json(ck.path / "meta.json")["format"] == 2
