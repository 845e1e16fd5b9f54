"""Checkpoint folders: atomic, keep-last-K, clear errors for corrupted folders, no unpickling."""

from __future__ import annotations

import pytest
import torch

from xling.checkpoint import (
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


@pytest.mark.parametrize("damage", ["meta", "weights", "missing_state", "pickle"])
def test_corrupted_folders_give_clear_errors(tmp_path, damage):
    save_checkpoint(tmp_path, 5, _model(), {"x": 1}, {"vocab_size": 50})
    d = tmp_path / "step-000005"
    if damage == "meta":
        (d / "meta.json").write_text("{not json")
        with pytest.raises(CheckpointError, match=r"corrupted checkpoint .*step-000005.*meta\.json"):
            latest_checkpoint(tmp_path)
        return
    if damage == "weights":
        (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:100])
        match = "cannot read model.safetensors"
    elif damage == "missing_state":
        (d / "trainer_state.pt").unlink()
        match = "trainer_state.pt is missing"
    else:
        # a pickle that would run code on load: weights_only refuses it
        torch.save({"evil": _Evil()}, d / "trainer_state.pt")
        match = "cannot read trainer_state.pt safely"
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(latest_checkpoint(tmp_path), _model(), {"vocab_size": 50})


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
    assert read_json(ck.path / "meta.json")["format"] == 1
