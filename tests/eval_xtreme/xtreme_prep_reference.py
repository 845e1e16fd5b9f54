"""Independent re-implementations of XTREME's data preparation, for tests to compare xling against.

Written from XTREME's `third_party/ud-conversion-tools` and `utils_preprocess.py` (in
`../shared/data/xtreme_reference`), on purpose in another style than xling's loaders.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from xling.io import read_lines


def xtreme_fused_reference(path: Path) -> list[tuple[list[str], list[str]]]:
    """An independent re-implementation of XTREME's UD conversion, following ud-conversion-tools
    step by step with networkx (as the tool itself does): read every sentence into a DiGraph
    with HEAD and DEPS edges, choose each multiword span's head by ancestor count then by the
    language's POS precedence, keep the head with the fused form; then drop (almost) all-'_'
    sentences and strip ZWNJ/spaces as utils_preprocess.py does."""
    import networkx as nx

    precedence = {  # POSRANKPRECEDENCEDICT of conllu_to_conll.py, keyed by the file's language prefix
        "es": "VERB AUX PRON ADP DET",
        "fr": "VERB AUX PRON NOUN ADJ ADV ADP DET PART SCONJ CONJ",
        "it": "VERB AUX ADV PRON ADP DET INTJ",
    }.get(path.name.split("_")[0], "VERB NOUN PROPN PRON ADJ NUM ADV INTJ AUX ADP DET PART CCONJ SCONJ X PUNCT").split()
    out = []
    for block in "\n".join(read_lines(path)).split("\n\n"):
        rows = [r.split("\t") for r in block.split("\n") if r and not r.startswith("#")]
        if not rows:
            continue
        g, form, upos, multi = nx.DiGraph(), {}, {}, []
        for r in rows:
            if "." in r[0]:
                continue
            if "-" in r[0]:
                multi.append((tuple(map(int, r[0].split("-"))), r[1]))
                continue
            i = int(r[0])
            form[i], upos[i] = r[1], r[3]
            g.add_edge(None if r[6] == "_" else int(r[6]), i)
            for dep in ([] if r[8] == "_" else r[8].split("|")):
                if dep.split(":")[0].isdigit():
                    g.add_edge(int(dep.split(":")[0]), i)
        removed = set()
        for (a, b), fused in multi:
            span = list(range(a, b + 1))
            depth = [len(nx.ancestors(g, x)) for x in span]
            if Counter(depth)[min(depth)] == 1:
                head = span[depth.index(min(depth))]
            else:
                top = [x for x, d in zip(span, depth, strict=True) if d == min(depth)]
                # ud-conversion-tools raises ValueError on a tag missing from the list (2 spans in
                # es PUD v2.11, none in the other treebanks here); we rank it last instead.
                rank = [precedence.index(upos[x]) if upos[x] in precedence else len(precedence) for x in top]
                head = top[rank.index(min(rank))]  # the first best-ranked word, as the tool's strict `<`
            form[head] = fused
            removed |= set(span) - {head}
        words = [i for i in sorted(form) if i not in removed]
        toks, tags = [form[i] for i in words], [upos[i] for i in words]
        n_empty = toks.count("_")
        if n_empty == 0 or n_empty < len(toks) - 1:
            out.append(([("".join(t.replace("\u200c", "").split(" ")) or t) for t in toks], tags))
    return out


def laser_lines_of_sorted_english(english: list[str]) -> list[int]:
    """XTREME's Tatoeba gold: for each line of the sorted English side, the LASER line it came from
    (`tatoeba_preprocess` sorts (sentence, index) pairs by sentence; Python's sort is stable)."""
    return [i for _, i in sorted(zip(english, range(len(english)), strict=True), key=lambda x: x[0])]
