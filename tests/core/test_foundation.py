import dataclasses
import re
from pathlib import Path
from typing import Literal

import pytest

from xling.core.config import ConfigError, from_dict, load_config, nest, set_dotted, to_dict
from xling.core.io import atomic_path, open_text, read_jsonl, write_jsonl_atomic
from xling.core.registry import Registry, RegistryError


@dataclasses.dataclass
class Optim:
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.98)


@dataclasses.dataclass
class Cfg:
    name: str = "x"
    steps: int = 10
    mode: Literal["a", "b"] = "a"
    langs: list[str] = dataclasses.field(default_factory=list)
    out: Path | None = None
    optim: Optim = dataclasses.field(default_factory=Optim)


def test_config_roundtrip_and_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: y\noptim:\n  lr: 1e-4\nlangs: [kaz_Cyrl, uig_Arab]\n")
    cfg = load_config(Cfg, p, ["steps=3", "optim.betas=[0.9, 0.95]"])
    assert cfg.optim.lr == 1e-4 and cfg.steps == 3 and cfg.optim.betas == (0.9, 0.95)
    assert to_dict(cfg)["langs"] == ["kaz_Cyrl", "uig_Arab"]


@pytest.mark.parametrize(("data", "msg"), [
    ({"stepz": 1}, "unknown config key 'stepz' (did you mean 'steps'?)"),
    ({"steps": "many"}, "steps: expected an integer"),
    ({"mode": "c"}, "mode: expected one of"),
    ({"optim": {"lr": "fast"}}, "optim.lr: expected a number"),
])
def test_config_errors_name_the_key(data, msg):
    with pytest.raises(ConfigError, match=re.escape(msg)):
        from_dict(Cfg, data)


def test_registry_rejects_duplicates_and_suggests():
    r: Registry[int] = Registry("task")
    r.register("xnli", 1)
    with pytest.raises(RegistryError, match="already"):
        r.register("xnli", 2)
    with pytest.raises(RegistryError, match="Did you mean 'xnli'"):
        r.get("xnlj")


def test_atomic_jsonl_roundtrip_and_failure(tmp_path):
    out = tmp_path / "a.jsonl.gz"
    write_jsonl_atomic(out, [{"text": "Сәлем"}, {"text": "ياخشىمۇسىز"}])
    assert [r["text"] for r in read_jsonl(out)] == ["Сәлем", "ياخشىمۇسىز"]
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "b.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert not (tmp_path / "b.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["a.jsonl.gz"]
    with open_text(out) as f:
        assert "Сәлем" in f.readline()


@dataclasses.dataclass
class Arm:
    name: str
    optim: Optim = dataclasses.field(default_factory=Optim)


@dataclasses.dataclass
class Arms:
    arms: list[Arm] = dataclasses.field(default_factory=list)


def test_overrides_index_lists_and_stay_typed(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("arms:\n  - {name: a}\n  - {name: b, optim: {lr: 0.1}}\n")
    cfg = load_config(Arms, p, ["arms.1.optim.lr=3e-4", "arms.-2.name=first"])
    assert [a.name for a in cfg.arms] == ["first", "b"]
    assert cfg.arms[1].optim.lr == 3e-4 and cfg.arms[1].optim.betas == (0.9, 0.98)  # merged, not replaced
    with pytest.raises(ConfigError, match=r"arms has 2 item\(s\); there is no item 5"):
        load_config(Arms, p, ["arms.5.name=x"])
    with pytest.raises(ConfigError, match="arms is a list; index it with a number, not 'first'"):
        load_config(Arms, p, ["arms.first.name=x"])
    with pytest.raises(ConfigError, match=re.escape("unknown config key 'arms[1].optim.lrr'")):
        load_config(Arms, p, ["arms.1.optim.lrr=1"])


def test_flags_then_set_last_wins_and_values_keep_their_type(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: file\nsteps: 1\n")
    # a flag value is used as given (a string that YAML would read as a bool stays a string)
    cfg = load_config(Cfg, p, ["steps=3"], {"name": "yes", "steps": 2, "out": None})
    assert (cfg.name, cfg.steps, cfg.out) == ("yes", 3, None)


def test_nest_and_set_dotted():
    assert nest({"train.lr": 1e-4, "train.steps": 3, "model": {"layers": 2}}) == {
        "train": {"lr": 1e-4, "steps": 3}, "model": {"layers": 2}}
    data = {"a": {"b": 1, "c": 2}}
    set_dotted(data, "a", {"c": 3})
    assert data == {"a": {"b": 1, "c": 3}}
