"""Transfer tasks beyond XTREME's definitions: Tatoeba-Challenge retrieval pairs and a Turkish source.

- `tatoeba_challenge`: the Tatoeba Translation Challenge test sets (v2021-08-07) as sentence
  retrieval, one "language" per direction (`kk-ru` = Kazakh queries, Russian candidates). The sets
  pair a sentence with every translation it has, so as retrieval they are cleaned: queries outside
  the pair's main script (per the `.labels` file: e.g. 3 Cyrillic lines in eng-uig) are dropped, a
  repeated query keeps its first pair, and the candidates are the distinct target sentences of the
  kept pairs (identical translations are one candidate; both queries count it as their gold).
- `udpos_turkic_tr`: UD-POS with UD Turkish-IMST (a Turkic source) as the fine-tuning language
  instead of English-EWT; same test sets as `udpos_turkic`. XTREME's `udpos` stays English.

There is no Turkish NER training set in the data root (PAN-X tr is a one-sentence fixture, UNER has
no Turkish treebank), so NER keeps the English source only.
"""

from __future__ import annotations

import dataclasses

from .loaders import LOADERS, RetrievalSet, _err, _lines
from .tasks import C, DataFile, Task, register, udpos_task

TC = "parallel/tatoeba_challenge_test_v2021-08-07"
# direction → (folder, query file suffix, candidate file suffix, the query script kept)
TC_PAIRS = {
    "kk-ru": ("kaz-rus", "kaz", "rus", "kaz_Cyrl"),
    "kk-en": ("eng-kaz", "kaz", "eng", "kaz_Cyrl"),
    "ug-en": ("eng-uig", "uig", "eng", "uig_Arab"),
    "ug-ru": ("rus-uig", "uig", "rus", "uig_Arab"),
    "ug-tr": ("tur-uig", "uig", "tur", "uig_Arab"),
    "ug-zh": ("uig-zho", "uig", "zho", "uig_Arab"),
    "tt-en": ("eng-tat", "tat", "eng", "tat"),
    "tt-ru": ("rus-tat", "tat", "rus", "tat"),
    "uz-en": ("eng-uzb", "uzb", "eng", "uzb_Latn"),
    "uz-tr": ("tur-uzb", "uzb", "tur", "uzb_Latn"),
}


@LOADERS.register("tatoeba_challenge")
def load_tatoeba_challenge(df: DataFile) -> RetrievalSet:
    """Query file, candidate file, query `.labels` (one script tag per line); see the module docstring."""
    src_path, trg_path, labels_path = df.paths
    src = [line.strip() for _, line in _lines(src_path)]
    trg = [line.strip() for _, line in _lines(trg_path)]
    labels = [line.strip() for _, line in _lines(labels_path)]
    if not len(src) == len(trg) == len(labels):
        raise ValueError(f"{src_path} ({len(src)} lines), {trg_path} ({len(trg)}) and {labels_path} "
                         f"({len(labels)}) must be line-aligned")
    keep_script = str(df.options["script"])
    seen: set[str] = set()
    queries: list[str] = []
    golds: list[str] = []
    ids: list[str] = []
    for i, (s, t, lab) in enumerate(zip(src, trg, labels, strict=True), 1):
        if not s or not t:
            raise _err(src_path if not s else trg_path, i, "empty sentence in a line-aligned test set")
        if lab != keep_script or s in seen:
            continue
        seen.add(s)
        queries.append(s)
        golds.append(t)
        ids.append(str(i - 1))
    candidates = list(dict.fromkeys(golds))
    index = {t: j for j, t in enumerate(candidates)}
    return RetrievalSet(queries, candidates, [index[t] for t in golds], ids)


def tatoeba_challenge_task() -> Task:
    cands = tuple(
        C(f"{TC}/{folder}/tatoeba-test-v2021-08-07.{q}", f"{TC}/{folder}/tatoeba-test-v2021-08-07.{t}",
          f"{TC}/{folder}/tatoeba-test-v2021-08-07.{q}.labels", fmt="tatoeba_challenge",
          options={"script": script}, langs=(pair,))
        for pair, (folder, q, t, script) in TC_PAIRS.items())
    return Task(name="tatoeba_challenge", kind="retrieval", languages=tuple(TC_PAIRS), metric="retrieval_accuracy",
                group="retrieval", files={"test": cands},
                description="Tatoeba Translation Challenge test sets as retrieval (query-candidate: kk-ru, ug-tr, …)")


TR_IMST = "udpos/UD_Turkish-IMST/tr_imst-ud-{split}.conllu"


def udpos_turkish_source_task() -> Task:
    base = udpos_task("udpos_turkic_tr", ("ug", "kk", "ky", "tt", "uz", "tr"), xtreme=False,
                      description="UD POS zero-shot from Turkish-IMST (a Turkic source) instead of English-EWT")
    return dataclasses.replace(base, train_lang="tr", files={
        "train": (C(TR_IMST.format(split="train"), fmt="conllu"),),
        # Dev is the source language's own dev set: fine-tuning is judged on Turkish, never on a target.
        "dev": (C(TR_IMST.format(split="dev"), fmt="conllu"),),
        "test": base.files["test"]})


for _task in (tatoeba_challenge_task(), udpos_turkish_source_task()):
    register(_task)
