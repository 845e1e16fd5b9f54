import dataclasses
import re
from pathlib import Path
from typing import Literal

import pytest

from xling.core.config import ConfigError, from_dict, load_config, to_dict
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
