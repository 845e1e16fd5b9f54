"""The run report's wording of how retrieval searched."""


def test_retrieval_method_names_the_search_each_evaluation_used():
    from xling.run_report import retrieval_method

    plain = {"config": {"retrieval": {"layer": -1}}}
    late = {"config": {"retrieval": {"layer": -2, "scoring": "maxsim", "hubness": "csls"}}}
    assert retrieval_method([plain]) == "nearest neighbour under cosine of mean-pooled states at layer -1"
    assert retrieval_method([late, late]) == ("nearest neighbour under IDF-weighted token MaxSim from both sides at "
                                              "layer -2, CSLS-corrected for every system alike")
    assert " / " in retrieval_method([plain, late])
