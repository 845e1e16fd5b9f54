"""The run report's wording of how retrieval searched."""


def test_retrieval_method_names_the_search_each_evaluation_used():
    from xling.run_report import retrieval_method

    plain = {"config": {"retrieval": {"layer": -1}}}
    late = {"config": {"retrieval": {"layer": -2, "scoring": "maxsim", "hubness": "csls"}}}
    assert retrieval_method({"a": plain}) == "nearest neighbour under cosine of mean-pooled states at layer -1"
    assert retrieval_method({"a": late, "b": late}) == (
        "nearest neighbour under IDF-weighted token MaxSim from both sides at layer -2, CSLS-corrected for every "
        "system alike")
    assert " / " in retrieval_method({"a": plain, "b": late})
    # a layer chosen per model on dev sets is named with each model's label
    chosen = {"config": {"retrieval": {"layer": -1, "scoring": "maxsim", "layer_candidates": [-1, -2]}}}
    got = retrieval_method({"xling": {**chosen, "retrieval_layer": {"chosen": -1, "candidates": [-1, -2]}},
                            "mlm-continued": {**chosen, "retrieval_layer": {"chosen": -2, "candidates": [-1, -2]}},
                            "baseline:char-ngram": {"config": {}}})
    assert got == ("nearest neighbour under IDF-weighted token MaxSim from both sides at the layer chosen per model "
                   "on dev sets (xling -1, mlm-continued -2)")
