"""The walk of `alpha` from a recipe to the sampler: typed all the way, one layer at a time, downward.

recipe YAML → `xling.core.config` (typed load, `--set`) → `xling.run` (pipeline: corpus.mix.alpha
becomes the pretraining default) → `xling.pretrain`/`xling.data` (PretrainConfig.data.alpha, its
AlphaSchedule) → `corpora.sampling` (the sampler's probabilities). The probabilities are checked
against n^α / Σ n^α computed here by hand.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_layering import layer_of

import corpora.sampling
import xling.core.config
from xling.data import MonoPlan
from xling.run import load_run_recipe, plan_run

DEMO = Path(__file__).resolve().parents[1] / "recipes" / "kk-ug-demo.yaml"


@pytest.mark.parametrize("alpha", [0.5, 0.0, 1.0])
def test_recipe_alpha_reaches_the_sampler(alpha, tmp_path):
    recipe = load_run_recipe(DEMO, [f"corpus.mix.alpha={alpha}"])
    plan = plan_run(recipe, tmp_path / "run", check_inputs=False)
    arm = plan.arms["mlm"]
    assert arm.data.alpha == alpha and arm.data.alpha_schedule is None
    tokens = {"kaz_Cyrl": 90_000, "uig_Arab": 10_000}
    mono = MonoPlan(tokens, block=126, n_examples=200, seed=0, schedule=arm.data.alpha_schedule_obj(),
                    max_repeats=arm.data.max_repeats)
    z = sum(n**alpha for n in tokens.values())
    assert mono.initial_plan().probabilities() == pytest.approx({k: n**alpha / z for k, n in tokens.items()})

    # Each hop's owner sits at the same layer as the previous hop or below it: the walk only goes down.
    hops = [type(recipe).__module__, type(arm).__module__, type(arm.data).__module__,
            type(arm.data.alpha_schedule_obj()).__module__, corpora.sampling.sampling_plan.__module__,
            xling.core.config.from_dict.__module__]
    assert hops == ["xling.run", "xling.pretrain", "xling.data", "corpora.sampling", "corpora.sampling",
                    "xling.core.config"]
    layers = [layer_of(m) for m in hops]
    assert layers == sorted(layers, reverse=True), list(zip(hops, layers, strict=True))


def test_alpha_is_range_checked_once_by_one_rule(tmp_path):
    with pytest.raises(ValueError, match=r"corpus.mix: alpha must be within \[0, 1\], got 1.5"):
        load_run_recipe(DEMO, ["corpus.mix.alpha=1.5"])
    with pytest.raises(ValueError, match=r"alpha must be within \[0, 1\], got 2"):
        plan_run(load_run_recipe(DEMO, ["pretrain.common.data.alpha=2"]), tmp_path, check_inputs=False)


def test_arm_override_by_list_index(tmp_path):
    recipe = load_run_recipe(DEMO, ["pretrain.arms.1.set.train.lr=3e-4"])
    plan = plan_run(recipe, tmp_path / "run", check_inputs=False)
    cont = plan.arms["mlm-continued"]
    # the recipe's dotted `set: {train.lr: 5.0e-4, ...}` and the nested override name the same key
    assert cont.train.lr == 3e-4 and cont.train.max_steps == 600 and cont.train.warmup_steps == 60
    assert plan.arms["xling"].train.lr == 5.0e-4 and plan.arms["mlm"].train.lr == 1.0e-3
