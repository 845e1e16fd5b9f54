import pytest

from corpora.sampling import AlphaSchedule, sampling_plan, temperature_probs


def test_temperature_formula():
    sizes = {"eng_Latn": 1_000_000, "kaz_Cyrl": 10_000, "uig_Arab": 1_000}
    p = temperature_probs(sizes, 0.3)
    z = sum(n**0.3 for n in sizes.values())
    for k, n in sizes.items():
        assert p[k] == pytest.approx(n**0.3 / z)
    assert temperature_probs(sizes, 1.0)["eng_Latn"] == pytest.approx(1_000_000 / 1_011_000)


def test_cap_redistributes_mass():
    sizes = {"eng_Latn": 1_000_000, "kaz_Cyrl": 10_000, "uig_Arab": 1_000}
    plan = sampling_plan(sizes, 0.3, total=200_000, max_repeats=2)
    assert sum(plan.probabilities().values()) == pytest.approx(1.0)
    for lp in plan.languages.values():
        assert lp.repeats <= 2 + 1e-9
    assert plan.languages["uig_Arab"].repeats == pytest.approx(2)
    with pytest.raises(ValueError, match="exceeds max_repeats"):
        sampling_plan(sizes, 0.3, total=10_000_000, max_repeats=2)


def test_alpha_schedule():
    s = AlphaSchedule([(0.0, 0.7), (1.0, 0.3)], anneal=True)
    assert s.alpha_at(0.5) == pytest.approx(0.5)
    assert AlphaSchedule([(0.0, 0.7), (0.5, 0.3)]).alpha_at(0.6) == 0.3
