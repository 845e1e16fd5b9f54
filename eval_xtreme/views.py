"""The transliteration view applied to evaluation data (`EvalConfig.view`), see `xling.translit`.

A model pretrained on viewed text (Uyghur in ULY, Kazakh in 2021 Latin) must be evaluated on text
in the same view. Test data of a viewed language goes through the view on load: tagging tokens one
by one (so each prediction still belongs to its original token, and gold tags are untouched), each
retrieval side whose language is viewed (`kk-ru`: the Kazakh queries; Tatoeba `ug`: the Uyghur
side, English stays), and both texts of a sentence-pair example. QA is refused: a view changes
character offsets, and answers are character spans of the original context.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from xling.translit import active_view, view_function, view_tokens

from .loaders import BuccSet, RetrievalSet


def _viewed(lang: str, view: Sequence[str]):
    return view_function(lang) if active_view(lang, view) else None


def apply_view(task, lang: str, examples, view: Sequence[str]):
    """Examples of `task` in language `lang` (a retrieval direction like `kk-ru` names both sides)."""
    if not view:
        return examples
    src_lang, _, trg_lang = lang.partition("-")
    src = _viewed(src_lang, view)
    if isinstance(examples, RetrievalSet):
        trg = _viewed(trg_lang, view) if trg_lang else None
        return RetrievalSet([src(s) for s in examples.source] if src else examples.source,
                            [trg(t) for t in examples.target] if trg else examples.target,
                            examples.gold, examples.source_ids)
    if isinstance(examples, BuccSet):
        return BuccSet({k: src(v) for k, v in examples.source.items()} if src else examples.source,
                       examples.target, examples.gold)
    if src is None:
        return examples
    if task.kind == "qa":
        raise ValueError(f"task {task.name}: a transliteration view ({lang}) cannot apply to QA, whose answers "
                         "are character offsets into the original context; drop it from `view` or the task")
    if task.kind == "token_classification":
        return [dataclasses.replace(ex, tokens=view_tokens(ex.tokens, src),
                                    written=ex.written if ex.written is not None else ex.tokens) for ex in examples]
    return [dataclasses.replace(ex, text_a=src(ex.text_a), text_b=src(ex.text_b)) for ex in examples]
