"""Readers for every data format the task registry names.

Each loader takes the resolved files of one split (a `DataFile`) and returns examples:

- `PairExample` (XNLI, PAWS-X), `TaggedSentence` (UD, PAN-X, NER), `QAExample` (SQuAD-style JSON,
  KazQAD JSONL, MLQA Arrow), `RetrievalSet` (Tatoeba, FLORES, X-WMT), `BuccSet` (BUCC 2018).
- `gold` is `None` where the official files carry no labels (XTREME strips test labels in its
  `download/` layout); such a split still gets predictions, just no score.
- A malformed line raises `ValueError("file:line: ...")`; a missing file is caught earlier by
  `Task.resolve`, which names task, language and the expected paths.
"""

from __future__ import annotations

import csv
import json
import os
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from xling.core.errors import InputError
from xling.core.io import open_text
from xling.core.registry import Registry

from .tasks import DataFile, Task


@dataclass
class PairExample:
    id: str
    text_a: str
    text_b: str
    label: str | None


@dataclass
class TaggedSentence:
    id: str
    tokens: list[str]
    tags: list[str] | None
    # the tokens as the data wrote them, where a transliteration view replaced `tokens` (eval_xtreme.views)
    written: list[str] | None = None


@dataclass
class QAExample:
    id: str
    question: str
    context: str
    answers: list[str]
    answer_starts: list[int]
    title: str = ""


@dataclass
class RetrievalSet:
    """Source sentences (the non-English side), target sentences (English), gold target index per source."""

    source: list[str]
    target: list[str]
    gold: list[int] | None
    source_ids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.source_ids:
            self.source_ids = [str(i) for i in range(len(self.source))]

    def first(self, n: int) -> RetrievalSet:
        """The first n source sentences against just their gold English sentences (`--max-eval`).

        The kept English side stays in its order (sorted stays sorted) and gold is re-indexed, so
        the smaller set is scored exactly like the full one. Needs a gold alignment: without one
        there is no telling which English sentences belong to the first n.
        """
        if n <= 0 or n >= len(self.source):
            return self
        if self.gold is None:
            raise InputError(f"max_eval_examples={n}: this retrieval set has no gold alignment, so its first "
                             f"{n} source sentences cannot be matched with their English side; drop --max-eval")
        keep = sorted({self.gold[i] for i in range(n)})
        new = {t: k for k, t in enumerate(keep)}
        return RetrievalSet(self.source[:n], [self.target[t] for t in keep], [new[g] for g in self.gold[:n]],
                            self.source_ids[:n])


@dataclass
class BuccSet:
    source: dict[str, str]  # id → sentence (non-English side)
    target: dict[str, str]  # id → English sentence
    gold: set[tuple[str, str]] | None


Loader = Callable[[DataFile], list]
LOADERS: Registry[Loader] = Registry("data format")


def load_split(task: Task, split: str, lang: str, root: str | os.PathLike | None = None,
               allow_fixtures: bool = True) -> tuple[list | RetrievalSet | BuccSet, DataFile]:
    """Resolve and read one split; returns (examples, the DataFile they came from)."""
    df = task.resolve(split, lang, root, allow_fixtures)
    key = _cache_key(df)
    examples = _LOADED.get(key) if key is not None else None
    if examples is None:
        examples = LOADERS.get(df.format)(df)
        if key is not None and isinstance(examples, list):
            _LOADED[key] = examples
            while len(_LOADED) > _LOADED_MAX:
                _LOADED.popitem(last=False)
    else:
        _LOADED.move_to_end(key)
    if isinstance(examples, list):
        if not examples:
            raise InputError(f"task {task.name}, language {lang}, split {split}: {df.describe()} holds no examples")
        examples = list(examples)  # the caller's own list to cut or reorder; examples are never changed in place
    return examples, df


# One evaluation reads the same files several times (the runner and the no-model baselines, the
# English and the Turkish UD-POS tasks share test sets, every model of a recipe reads them again);
# parsing the xz-compressed treebanks was a quarter of the demo's evaluation time outside
# fine-tuning. Lists of examples are kept per (format, language, files as they are on disk).
_LOADED: OrderedDict[tuple, list] = OrderedDict()
_LOADED_MAX = 32


def _cache_key(df: DataFile) -> tuple | None:
    try:
        stats = tuple((p.stat().st_mtime_ns, p.stat().st_size) for p in df.paths)
    except OSError:
        return None
    return (df.format, df.lang, df.paths, stats, repr(sorted(df.options.items())))


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with open_text(path) as f:
        for i, line in enumerate(f, 1):
            yield i, line.rstrip("\n").rstrip("\r")


def _err(path: Path, lineno: int, msg: str) -> ValueError:
    return ValueError(f"{path}:{lineno}: {msg}")


# ---------------------------------------------------------------------------------------------------
# Sentence pairs
# ---------------------------------------------------------------------------------------------------

def _norm_nli(label: str) -> str:
    # XTREME's xnli_preprocess maps MultiNLI's "contradictory" onto XNLI's "contradiction".
    return "contradiction" if label == "contradictory" else label


@LOADERS.register("xnli_tsv")
def load_xnli_tsv(df: DataFile) -> list[PairExample]:
    """Official `XNLI-1.0/xnli.{dev,test}.tsv`: all languages in one file, a header row."""
    out: list[PairExample] = []
    for path in df.paths:
        header: list[str] = []
        for lineno, line in _lines(path):
            cols = line.split("\t")
            if lineno == 1:
                header = cols
                missing = {"language", "gold_label", "sentence1", "sentence2"} - set(header)
                if missing:
                    raise _err(path, 1, f"XNLI header lacks column(s) {sorted(missing)}")
                continue
            if not line.strip():
                continue
            if len(cols) < len(header):
                raise _err(path, lineno, f"expected {len(header)} tab-separated columns, got {len(cols)}")
            row = dict(zip(header, cols, strict=False))
            if row["language"] != df.lang:
                continue
            out.append(PairExample(f"{df.lang}-{len(out)}", row["sentence1"], row["sentence2"],
                                   _norm_nli(row["gold_label"])))
    return out


@LOADERS.register("multinli_tsv")
def load_multinli_tsv(df: DataFile) -> list[PairExample]:
    """`XNLI-MT-1.0/multinli/multinli.train.<ll>.tsv`: header `premise hypo label`."""
    out: list[PairExample] = []
    for path in df.paths:
        for lineno, line in _lines(path):
            if lineno == 1 or not line.strip():
                continue
            cols = line.split("\t")
            if len(cols) < 3:
                raise _err(path, lineno, f"expected premise<TAB>hypothesis<TAB>label, got {len(cols)} column(s)")
            out.append(PairExample(str(len(out)), cols[0].strip(), cols[1].strip(), _norm_nli(cols[2].strip())))
    return out


@LOADERS.register("xglue_nli")
def load_xglue_nli(df: DataFile) -> list[PairExample]:
    """XGLUE NLI `premise<TAB>hypothesis<TAB>label`, no header."""
    out: list[PairExample] = []
    for path in df.paths:
        for lineno, line in _lines(path):
            if not line.strip():
                continue
            cols = line.split("\t")
            if len(cols) != 3:
                raise _err(path, lineno, f"expected 3 tab-separated columns, got {len(cols)}")
            out.append(PairExample(f"{df.lang}-{len(out)}", cols[0], cols[1], _norm_nli(cols[2].strip())))
    return out


@LOADERS.register("pawsx_tsv")
def load_pawsx_tsv(df: DataFile) -> list[PairExample]:
    """PAWS-X `x-final/<ll>/*.tsv`: header `id sentence1 sentence2 label`."""
    out: list[PairExample] = []
    for path in df.paths:
        for lineno, line in _lines(path):
            if lineno == 1 or not line.strip():
                continue
            cols = line.split("\t")
            if len(cols) != 4:
                raise _err(path, lineno, f"expected id<TAB>sentence1<TAB>sentence2<TAB>label, got {len(cols)} columns")
            if cols[3].strip() not in ("0", "1"):
                raise _err(path, lineno, f"label must be 0 or 1, got {cols[3]!r}")
            out.append(PairExample(cols[0].strip(), cols[1].strip(), cols[2].strip(), cols[3].strip()))
    return out


@LOADERS.register("xtreme_pair_tsv")
def load_xtreme_pair_tsv(df: DataFile) -> list[PairExample]:
    """XTREME's preprocessed `{split}-{lang}.tsv` (csv-quoted; test files have no label column)."""
    out: list[PairExample] = []
    for path in df.paths:
        with open_text(path) as f:
            for lineno, cols in enumerate(csv.reader(f, delimiter="\t"), 1):
                if not cols:
                    continue
                if len(cols) not in (2, 3):
                    raise _err(path, lineno, f"expected 2 or 3 tab-separated columns, got {len(cols)}")
                out.append(PairExample(f"{df.lang}-{len(out)}", cols[0], cols[1], cols[2] if len(cols) == 3 else None))
    return out


# ---------------------------------------------------------------------------------------------------
# Token classification
# ---------------------------------------------------------------------------------------------------

# Span-head precedence of ud-conversion-tools (XTREME's `third_party/ud-conversion-tools/conllu_to_conll.py`,
# POSRANKPRECEDENCEDICT), keyed by the treebank file's language prefix: when several words of a
# multiword token are equally high in the tree, the first of them with the best-ranked UPOS is the head.
FUSED_HEAD_PRECEDENCE: dict[str, tuple[str, ...]] = {
    "default": ("VERB", "NOUN", "PROPN", "PRON", "ADJ", "NUM", "ADV", "INTJ", "AUX", "ADP", "DET", "PART",
                "CCONJ", "SCONJ", "X", "PUNCT"),
    "es": ("VERB", "AUX", "PRON", "ADP", "DET"),
    "fr": ("VERB", "AUX", "PRON", "NOUN", "ADJ", "ADV", "ADP", "DET", "PART", "SCONJ", "CONJ"),
    "it": ("VERB", "AUX", "ADV", "PRON", "ADP", "DET", "INTJ"),
}


@dataclass
class _UdWord:
    form: str
    upos: str
    parents: tuple[int, ...]  # basic head and enhanced-graph heads (-1: head `_`)


@LOADERS.register("conllu")
def load_conllu(df: DataFile) -> list[TaggedSentence]:
    """UD `.conllu` converted as XTREME's `download/udpos` is (`conllu_to_conll.py
    --replace_subtokens_with_fused_forms`, then `utils_preprocess.py --task udpos`).

    - A multiword token (`1-2 do`) becomes one token with the surface form, tagged with the UPOS
      of its head word (see `fused_span_head`); its syntactic words disappear. Empty nodes (`1.1`)
      are skipped.
    - Files are read in file-name order (XTREME sorts each language's files by name), so a
      language with several treebanks is their concatenation in that order.
    - ZWNJ and spaces inside a token are removed, and sentences whose tokens are (almost) all `_`
      (treebanks distributed without text) are dropped, as `udpos_preprocess` does.
    """
    out: list[TaggedSentence] = []
    for path in sorted(df.paths, key=lambda p: p.name):
        precedence = FUSED_HEAD_PRECEDENCE.get(path.name.split("_", 1)[0], FUSED_HEAD_PRECEDENCE["default"])
        words: dict[int, _UdWord] = {}
        spans: list[tuple[int, int, str, int]] = []  # (first, last, surface form, line number)
        sent_id = ""
        for lineno, line in _lines(path):
            if not line.strip():
                _add_ud_sentence(out, sent_id or f"{path.name}-{len(out)}",
                                 *_fuse(path, words, spans, precedence))
                words, spans, sent_id = {}, [], ""
                continue
            if line.startswith("#"):
                if line.startswith("# sent_id"):
                    sent_id = line.split("=", 1)[-1].strip()
                continue
            cols = line.split("\t")
            if len(cols) != 10:
                raise _err(path, lineno, f"CoNLL-U word line must have 10 tab-separated columns, got {len(cols)}")
            wid = cols[0]
            if "." in wid:
                continue
            if "-" in wid:
                first, _, last = wid.partition("-")
                if not (first.isdigit() and last.isdigit() and int(first) < int(last)):
                    raise _err(path, lineno, f"bad multiword token range {wid!r}")
                spans.append((int(first), int(last), cols[1], lineno))
                continue
            if not wid.isdigit():
                raise _err(path, lineno, f"bad CoNLL-U ID {wid!r}")
            head = cols[6]
            if not (head.isdigit() or head == "_"):
                raise _err(path, lineno, f"bad HEAD {head!r}")
            parents = [int(head) if head.isdigit() else -1]
            if cols[8] != "_":
                for dep in cols[8].split("|"):
                    h = dep.split(":", 1)[0]
                    if h.isdigit():  # heads that are empty nodes (`8.1:nsubj`) are not in the graph
                        parents.append(int(h))
            words[int(wid)] = _UdWord(cols[1], cols[3], tuple(parents))
        _add_ud_sentence(out, sent_id or f"{path.name}-{len(out)}", *_fuse(path, words, spans, precedence))
    return out


def fused_span_head(words: dict[int, _UdWord], first: int, last: int, precedence: tuple[str, ...]) -> int:
    """The word of span first..last that keeps its tag, by ud-conversion-tools' two heuristics.

    1. The word with the fewest ancestors in the sentence graph (basic tree plus enhanced
       dependencies), if only one word has that count.
    2. Otherwise, among the words with that count, the first whose UPOS ranks best in
       `precedence`. (ud-conversion-tools stops with an error on a UPOS missing from its list;
       such a word ranks last here.)
    """
    def n_ancestors(w: int) -> int:
        seen: set[int] = set()
        todo = [w]
        while todo:
            word = words.get(todo.pop())
            for p in word.parents if word else ():  # the root (0) and a `_` head have none
                if p != w and p not in seen:
                    seen.add(p)
                    todo.append(p)
        return len(seen)

    span = range(first, last + 1)
    depth = {w: n_ancestors(w) for w in span}
    top = min(depth.values())
    highest = [w for w in span if depth[w] == top]
    if len(highest) == 1:
        return highest[0]
    rank = {tag: i for i, tag in enumerate(precedence)}
    return min(highest, key=lambda w: (rank.get(words[w].upos, len(precedence)), w))


def _fuse(path: Path, words: dict[int, _UdWord], spans: list[tuple[int, int, str, int]],
          precedence: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Tokens and tags of one sentence with every multiword token replaced by its fused form."""
    replaced: dict[int, str] = {}  # span head → surface form
    dropped: set[int] = set()
    for first, last, form, lineno in spans:
        if any(w not in words for w in range(first, last + 1)):
            raise _err(path, lineno, f"multiword token {first}-{last} {form!r} covers words that are missing")
        head = fused_span_head(words, first, last, precedence)
        replaced[head] = form
        dropped.update(w for w in range(first, last + 1) if w != head)
    tokens, tags = [], []
    for wid in sorted(words):
        if wid in dropped:
            continue
        form = replaced.get(wid, words[wid].form)
        tokens.append("".join(form.replace("\u200c", "").split(" ")) or form)
        tags.append(words[wid].upos)
    return tokens, tags


def _add_ud_sentence(out: list[TaggedSentence], sid: str, tokens: list[str], tags: list[str]) -> None:
    n_empty = sum(t == "_" for t in tokens)
    if tokens and (n_empty == 0 or n_empty < len(tokens) - 1):
        out.append(TaggedSentence(sid, list(tokens), list(tags)))


def _blank_separated(df: DataFile, parse: Callable[[Path, int, str], tuple[str, str | None] | None],
                     tag_map: dict[str, str] | None = None) -> list[TaggedSentence]:
    out: list[TaggedSentence] = []
    for path in df.paths:
        tokens: list[str] = []
        tags: list[str | None] = []
        for lineno, line in _lines(path):
            if not line.strip():
                if tokens:
                    out.append(_sentence(f"{df.lang}-{len(out)}", tokens, tags, tag_map))
                tokens, tags = [], []
                continue
            parsed = parse(path, lineno, line)
            if parsed is None:
                continue
            tokens.append(parsed[0])
            tags.append(parsed[1])
        if tokens:
            out.append(_sentence(f"{df.lang}-{len(out)}", tokens, tags, tag_map))
    return out


def _sentence(sid: str, tokens: list[str], tags: list[str | None], tag_map: dict[str, str] | None) -> TaggedSentence:
    if any(t is None for t in tags):
        return TaggedSentence(sid, list(tokens), None)
    clean = [t for t in tags if t is not None]
    return TaggedSentence(sid, list(tokens), map_entity_tags(clean, tag_map) if tag_map else clean)


def map_entity_tags(tags: list[str], tag_map: dict[str, str]) -> list[str]:
    """Map IOB2 entity types (e.g. KazNERD PERSON → PER); unmapped types become O.

    Mapping is per type, so every kept entity keeps its B- and the output stays valid IOB2.
    """
    out = []
    for tag in tags:
        if tag == "O" or "-" not in tag:
            out.append("O")
            continue
        prefix, typ = tag.split("-", 1)
        new = tag_map.get(typ)
        out.append(f"{prefix}-{new}" if new else "O")
    return out


@LOADERS.register("xtreme_tag_tsv")
def load_xtreme_tag_tsv(df: DataFile) -> list[TaggedSentence]:
    """XTREME's `{split}-{lang}.tsv` for udpos/panx: `token<TAB>tag` (test: token only), blank lines between."""

    def parse(path: Path, lineno: int, line: str) -> tuple[str, str | None]:
        cols = line.split("\t")
        if len(cols) > 2:
            raise _err(path, lineno, f"expected token<TAB>tag, got {len(cols)} columns")
        return cols[0], (cols[1].strip() if len(cols) == 2 else None)

    return _blank_separated(df, parse)


@LOADERS.register("panx_raw")
def load_panx_raw(df: DataFile) -> list[TaggedSentence]:
    """Raw PAN-X/WikiANN `lang:token<TAB>tag`; the `xx:` prefix is stripped as XTREME's panx_preprocess does."""

    def parse(path: Path, lineno: int, line: str) -> tuple[str, str | None]:
        cols = line.split("\t")
        if len(cols) != 2:
            raise _err(path, lineno, f"expected lang:token<TAB>tag, got {len(cols)} column(s)")
        token = cols[0]
        idx = token.find(":")
        if idx == -1:
            raise _err(path, lineno, f"token {token!r} lacks the `lang:` prefix of the raw PAN-X format")
        return token[idx + 1:].strip(), cols[1].strip()

    return _blank_separated(df, parse)


@LOADERS.register("uner_iob2")
def load_uner_iob2(df: DataFile) -> list[TaggedSentence]:
    """Universal NER `.iob2`: `# comments`, then `id<TAB>token<TAB>tag<TAB>...`."""

    def parse(path: Path, lineno: int, line: str) -> tuple[str, str | None] | None:
        if line.startswith("#"):
            return None
        cols = line.split("\t")
        if len(cols) < 3:
            raise _err(path, lineno, f"expected id<TAB>token<TAB>IOB2-tag, got {len(cols)} column(s)")
        return cols[1], _check_iob(path, lineno, cols[2].strip())

    return _blank_separated(df, parse, _tag_map(df))


@LOADERS.register("conll_ner")
def load_conll_ner(df: DataFile) -> list[TaggedSentence]:
    """CoNLL-2002-style `token TAG` (space or tab separated), blank line between sentences (KazNERD)."""

    def parse(path: Path, lineno: int, line: str) -> tuple[str, str | None]:
        cols = line.split()
        if len(cols) != 2:
            raise _err(path, lineno, f"expected `token TAG`, got {len(cols)} field(s)")
        return cols[0], _check_iob(path, lineno, cols[1])

    return _blank_separated(df, parse, _tag_map(df))


def _tag_map(df: DataFile) -> dict[str, str] | None:
    m = df.options.get("tag_map")
    return dict(m) if isinstance(m, dict) else None


def _check_iob(path: Path, lineno: int, tag: str) -> str:
    if tag != "O" and not (tag[:2] in ("B-", "I-") and len(tag) > 2):
        raise _err(path, lineno, f"tag {tag!r} is not IOB2 (O, B-TYPE or I-TYPE)")
    return tag


# ---------------------------------------------------------------------------------------------------
# Question answering
# ---------------------------------------------------------------------------------------------------

@LOADERS.register("squad_json")
def load_squad_json(df: DataFile) -> list[QAExample]:
    """SQuAD v1.1 JSON (SQuAD, XQuAD, MLQA, TyDiQA-GoldP).

    Options: `id_prefix` keeps questions whose id starts with it (raw TyDiQA files mix languages);
    `paragraphs: [a, b]` keeps paragraphs a..b-1 in file order (for a documented train/dev split).
    """
    prefix = str(df.options.get("id_prefix", ""))
    para_range = df.options.get("paragraphs")
    out: list[QAExample] = []
    for path in df.paths:
        try:
            with open_text(path) as f:
                data = json.load(f)
        except json.JSONDecodeError as e:
            raise InputError(f"{path}:{e.lineno}: malformed JSON ({e.msg})") from None
        articles = data.get("data") if isinstance(data, dict) else None
        if not isinstance(articles, list):
            raise InputError(f"{path}: not SQuAD JSON (expected a top-level object with a `data` list)")
        pidx = -1
        for a_i, article in enumerate(articles):
            for p_i, para in enumerate(article.get("paragraphs", [])):
                pidx += 1
                if para_range and not (para_range[0] <= pidx < para_range[1]):
                    continue
                where = f"{path}: data[{a_i}].paragraphs[{p_i}]"
                if "context" not in para or "qas" not in para:
                    raise InputError(f"{where}: missing `context` or `qas`")
                for qa in para["qas"]:
                    if "id" not in qa or "question" not in qa:
                        raise InputError(f"{where}: a question lacks `id` or `question`")
                    if prefix and not qa["id"].startswith(prefix):
                        continue
                    answers = qa.get("answers", [])
                    texts = [a["text"] for a in answers]
                    starts = [int(a["answer_start"]) for a in answers]
                    # XTREME blanks test answers as [{"text": "", "answer_start": 0}]: no gold there.
                    if all(t == "" for t in texts):
                        texts, starts = [], []
                    out.append(QAExample(qa["id"], qa["question"], para["context"], texts, starts,
                                         article.get("title", "")))
    return out


@LOADERS.register("kazqad_jsonl")
def load_kazqad_jsonl(df: DataFile) -> list[QAExample]:
    """KazQAD reading comprehension JSONL: `id, title, context, question, answers{text, answer_start}`."""
    out: list[QAExample] = []
    for path in df.paths:
        for lineno, line in _lines(path):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                ans = row["answers"]
                out.append(QAExample(str(row["id"]), row["question"], row["context"], list(ans["text"]),
                                     [int(s) for s in ans["answer_start"]], row.get("title", "")))
            except json.JSONDecodeError as e:
                raise _err(path, lineno, f"malformed JSON ({e.msg})") from None
            except (KeyError, TypeError) as e:
                raise _err(path, lineno, f"missing or malformed field {e}") from None
    return out


@LOADERS.register("hf_arrow_qa")
def load_hf_arrow_qa(df: DataFile) -> list[QAExample]:
    """A Hugging Face `save_to_disk` split folder with SQuAD features (the XGLUE copy of MLQA de)."""
    from datasets import load_from_disk

    folder = df.paths[0] if df.paths[0].is_dir() else df.paths[0].parent
    ds = load_from_disk(str(folder))
    need = {"id", "question", "context", "answers"}
    if not need <= set(ds.column_names):
        raise InputError(f"{folder}: Arrow dataset lacks column(s) {sorted(need - set(ds.column_names))}")
    return [QAExample(str(r["id"]), r["question"], r["context"], list(r["answers"]["text"]),
                      [int(s) for s in r["answers"]["answer_start"]]) for r in ds]


# ---------------------------------------------------------------------------------------------------
# Retrieval
# ---------------------------------------------------------------------------------------------------

def _plain_lines(path: Path) -> list[str]:
    return [line.strip() for _, line in _lines(path)]


def _aligned(src: Path, trg: Path) -> tuple[list[str], list[str]]:
    s, t = _plain_lines(src), _plain_lines(trg)
    while s and t and not s[-1] and not t[-1]:
        s, t = s[:-1], t[:-1]
    if len(s) != len(t):
        raise InputError(f"{src} has {len(s)} lines but {trg} has {len(t)}; line-aligned files must match")
    return s, t


def sort_english_side(target: list[str]) -> tuple[list[str], list[int]]:
    """XTREME's tatoeba_preprocess: the English side is sorted (stable, by string).

    Returns the sorted sentences and, for each original line i, its position in the sorted list,
    i.e. the gold index a prediction file must name for source sentence i.
    """
    order = sorted(range(len(target)), key=lambda i: target[i])
    position = [0] * len(target)
    for new, old in enumerate(order):
        position[old] = new
    return [target[i] for i in order], position


@LOADERS.register("laser_tatoeba")
def load_laser_tatoeba(df: DataFile) -> RetrievalSet:
    """LASER `tatoeba.<xxx>-eng.<xxx>` / `.eng`: line i translates line i.

    Option `sort_english: true` reproduces XTREME's layout (sorted English side, gold remapped), so
    predicted indices are what the leaderboard's `test-<lang>.tsv` expects.
    """
    src, trg = _aligned(df.paths[0], df.paths[1])
    if df.options.get("sort_english", False):
        trg, gold = sort_english_side(trg)
    else:
        gold = list(range(len(src)))
    return RetrievalSet(src, trg, gold)


@LOADERS.register("xtreme_tatoeba")
def load_xtreme_tatoeba(df: DataFile) -> RetrievalSet:
    """XTREME's `download/tatoeba/<ll>-en.{<ll>,en}`: the English side is already sorted, gold unknown."""
    src, trg = _plain_lines(df.paths[0]), _plain_lines(df.paths[1])
    while src and not src[-1]:
        src.pop()
    while trg and not trg[-1]:
        trg.pop()
    return RetrievalSet(src, trg, None)


@LOADERS.register("parallel_lines")
def load_parallel_lines(df: DataFile) -> RetrievalSet:
    """Line-aligned bitext (FLORES-200, X-WMT): source file first, English second; gold = line index."""
    src, trg = _aligned(df.paths[0], df.paths[1])
    return RetrievalSet(src, trg, list(range(len(src))))


@LOADERS.register("bucc")
def load_bucc(df: DataFile) -> BuccSet:
    """BUCC 2018 `<ll>-en.<split>.<ll>`, `.en` (`id<TAB>sentence`) and optional `.gold` (`<ll>-id<TAB>en-id`)."""

    def id_sentences(path: Path) -> dict[str, str]:
        out: dict[str, str] = {}
        for lineno, line in _lines(path):
            if not line.strip():
                continue
            sid, sep, sent = line.partition("\t")
            if not sep:
                raise _err(path, lineno, "expected id<TAB>sentence")
            if sid in out:
                raise _err(path, lineno, f"duplicate sentence id {sid!r}")
            out[sid] = sent.strip()
        return out

    source, target = id_sentences(df.paths[0]), id_sentences(df.paths[1])
    gold = None
    if len(df.paths) > 2:
        gold = set()
        for lineno, line in _lines(df.paths[2]):
            if not line.strip():
                continue
            cols = line.split("\t")
            if len(cols) != 2:
                raise _err(df.paths[2], lineno, f"expected <lang>-id<TAB>en-id, got {len(cols)} column(s)")
            if cols[0] not in source or cols[1] not in target:
                raise _err(df.paths[2], lineno, f"gold pair {cols[0]}/{cols[1]} names an unknown sentence id")
            gold.add((cols[0], cols[1]))
    return BuccSet(source, target, gold)


# ---------------------------------------------------------------------------------------------------
# Plain text, and the text of any split (what decontamination indexes)
# ---------------------------------------------------------------------------------------------------

@LOADERS.register("text_lines")
def load_text_lines(df: DataFile) -> list[str]:
    """One unit per line; a tab-separated line gives one unit per cell (ids and labels are too short to match)."""
    return [cell.strip() for path in df.paths for _, line in _lines(path) for cell in line.split("\t")
            if cell.strip()]


def _texts(examples: object) -> Iterator[str]:
    if isinstance(examples, RetrievalSet):
        yield from examples.source
        yield from examples.target
    elif isinstance(examples, BuccSet):
        yield from examples.source.values()
        yield from examples.target.values()
    else:
        context = None
        for ex in examples:  # type: ignore[attr-defined]
            if isinstance(ex, str):
                yield ex
            elif isinstance(ex, PairExample):
                yield ex.text_a
                yield ex.text_b
            elif isinstance(ex, TaggedSentence):
                yield " ".join(ex.tokens)
            elif isinstance(ex, QAExample):
                if ex.context != context:  # a paragraph's questions share its context
                    context = ex.context
                    yield ex.context
                yield ex.question


def read_texts(df: DataFile) -> Iterator[str]:
    """Every text unit of a split: sentences, sentence pairs, contexts and questions (answers are spans
    of contexts), both sides of retrieval sets; read with the loader its format names."""
    yield from (t for t in _texts(LOADERS.get(df.format)(df)) if t.strip())


def data_file(path: str | os.PathLike, name: str = "") -> DataFile:
    """A user's evaluation file as a `DataFile`, its format from the name: `.conllu`, `.iob2`, SQuAD
    `.json`, a Hugging Face Arrow folder/shard; anything else is read as plain lines."""
    p = Path(path)
    stem = p.name
    for suffix in (".xz", ".gz", ".bz2"):
        stem = stem.removesuffix(suffix)
    if stem.endswith(".conllu"):
        fmt = "conllu"
    elif stem.endswith(".iob2"):
        fmt = "uner_iob2"
    elif stem.endswith(".json"):
        fmt = "squad_json"
    elif stem.endswith(".arrow") or (p.is_dir() and (p / "dataset_info.json").is_file()):
        fmt, p = "hf_arrow_qa", p if p.is_dir() else p.parent
    else:
        fmt = "text_lines"
    return DataFile(name or p.name, "test", "", (p,), fmt, {}, False, "")
