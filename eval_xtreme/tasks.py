"""The task registry: every XTREME task and the Uyghur/Kazakh suite, as data.

A task names its kind, languages, head, metric and labels, and for each split a list of
*candidate layouts*. Each candidate is a path pattern under the data root plus the loader format
that reads it. Candidates are tried in order, so the same registry serves

1. XTREME's preprocessed `download/<task>/...` layout (what `scripts/download_data.sh` writes),
2. the raw upstream archives (XNLI-1.0, UD `.conllu`, LASER Tatoeba, SQuAD JSON, BUCC, ...),
3. what this workplace's `../shared/data` holds, including the official-layout HF dummy fixtures
   (flagged `fixture=True`, so reports never pass a 1-row fixture off as a benchmark number) and
   documented substitutes (flagged `substitute=...`, e.g. UNER EWT dev standing in for EWT train).

Per-language variants (`tatoeba_turkic`, `udpos_turkic`, `uner_pud`, ...) are built by the same
factory functions as their XTREME parents, never copied.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from xling.core.errors import InputError
from xling.core.io import read_lines
from xling.core.langs import flores_code, tatoeba_code
from xling.core.paths import data_root
from xling.core.registry import Registry

KINDS = ("classification", "token_classification", "qa", "retrieval")
SPLITS = ("train", "dev", "test")

# The head each fine-tuned kind gets; retrieval uses the bare encoder.
HEADS = {
    "classification": "AutoModelForSequenceClassification",
    "token_classification": "AutoModelForTokenClassification",
    "qa": "AutoModelForQuestionAnswering",
    "retrieval": "AutoModel",
}

# XTREME's leaderboard categories (evaluate.py GROUP2TASK); our own tasks get a category too
# so a report can group them, but the leaderboard aggregate only ever uses the nine XTREME tasks.
GROUPS = ("classification", "tagging", "qa", "retrieval")

UPOS = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN",
        "PUNCT", "SCONJ", "SYM", "VERB", "X")
NER_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")

TYDIQA_NAMES = {"ar": "arabic", "bn": "bengali", "en": "english", "fi": "finnish", "id": "indonesian",
                "ko": "korean", "ru": "russian", "sw": "swahili", "te": "telugu"}

# Language lists exactly as google-research/xtreme evaluate.py TASK2LANGS (plus en where XTREME
# trains on it: it is in the xnli/pawsx/udpos/panx/qa lists already).
XTREME_LANGS = {
    "pawsx": "de,en,es,fr,ja,ko,zh",
    "xnli": "ar,bg,de,el,en,es,fr,hi,ru,sw,th,tr,ur,vi,zh",
    "panx": "ar,he,vi,id,jv,ms,tl,eu,ml,ta,te,af,nl,en,de,el,bn,hi,mr,ur,fa,fr,it,pt,es,bg,ru,ja,ka,ko,th,sw,"
            "yo,my,zh,kk,tr,et,fi,hu",
    "udpos": "af,ar,bg,de,el,en,es,et,eu,fa,fi,fr,he,hi,hu,id,it,ja,kk,ko,mr,nl,pt,ru,ta,te,th,tl,tr,ur,vi,yo,zh",
    "bucc2018": "de,fr,ru,zh",
    "tatoeba": "ar,he,vi,id,jv,tl,eu,ml,ta,te,af,nl,de,el,bn,hi,mr,ur,fa,fr,it,pt,es,bg,ru,ja,ka,ko,th,sw,zh,"
               "kk,tr,et,fi,hu",
    "xquad": "en,es,de,el,ru,tr,ar,vi,th,zh,hi",
    "mlqa": "en,es,de,ar,hi,vi,zh",
    "tydiqa": "en,ar,bn,fi,id,ko,ru,sw,te",
}


@dataclass(frozen=True)
class Candidate:
    """One way a split may be stored: path patterns under the data root and the loader that reads them.

    `paths` holds `str.format` patterns with `{lang}`, `{lang3}`, `{flores}`, `{tydiqa}`; a pattern
    may contain glob characters (UD concatenates every treebank of a language, as XTREME does).
    Retrieval sets use several roles (`src`, `trg`, `gold`), given in `paths` in that order.
    """

    paths: tuple[str, ...]
    format: str
    options: Mapping[str, object] = field(default_factory=dict)
    fixture: bool = False
    substitute: str = ""
    langs: tuple[str, ...] = ()  # empty: every language of the task
    # The split these files really are when it is not the one asked for (e.g. "dev" standing in
    # for a missing test split): such a score is not comparable with the benchmark's.
    split_used: str = ""

    def applies_to(self, lang: str) -> bool:
        return not self.langs or lang in self.langs


@dataclass(frozen=True)
class DataFile:
    """A resolved split: concrete files plus the candidate they came from."""

    task: str
    split: str
    lang: str
    paths: tuple[Path, ...]
    format: str
    options: Mapping[str, object]
    fixture: bool
    substitute: str
    split_used: str = ""

    def describe(self) -> str:
        tag = " [FIXTURE: format check only]" if self.fixture else ""
        tag += f" [substitute: {self.substitute}]" if self.substitute else ""
        return ", ".join(str(p) for p in self.paths) + tag


@dataclass(frozen=True)
class Task:
    name: str
    kind: str
    languages: tuple[str, ...]
    metric: str
    group: str
    files: Mapping[str, tuple[Candidate, ...]]  # split → candidates, first existing wins
    labels: tuple[str, ...] = ()
    train_lang: str = "en"
    xtreme: bool = False
    description: str = ""
    # Retrieval: which side queries in the primary direction (its `accuracy` and prediction
    # records): "source" = xx → en, "target" = en → xx, XTREME's Tatoeba leaderboard direction.
    retrieval_query: str = "source"

    def __post_init__(self) -> None:
        if self.retrieval_query not in ("source", "target"):
            raise InputError(f"task {self.name}: retrieval_query {self.retrieval_query!r} is not source or target")
        if self.kind not in KINDS:
            raise InputError(f"task {self.name}: kind {self.kind!r} is not one of {KINDS}")
        if self.group not in GROUPS:
            raise InputError(f"task {self.name}: group {self.group!r} is not one of {GROUPS}")
        for split in self.files:
            if split not in SPLITS:
                raise InputError(f"task {self.name}: split {split!r} is not one of {SPLITS}")

    @property
    def head(self) -> str:
        return HEADS[self.kind]

    @property
    def needs_finetuning(self) -> bool:
        return self.kind != "retrieval"

    def candidates(self, split: str, lang: str) -> list[Candidate]:
        return [c for c in self.files.get(split, ()) if c.applies_to(lang)]

    def expected_paths(self, split: str, lang: str, root: Path) -> list[str]:
        return [str(root / _fmt(p, lang)) for c in self.candidates(split, lang) for p in c.paths]

    def resolve(self, split: str, lang: str, root: str | os.PathLike | None = None,
                allow_fixtures: bool = True) -> DataFile:
        """The first candidate whose files all exist; a FileNotFoundError naming every path tried."""
        base = Path(root) if root is not None else data_root()
        if split not in self.files:
            raise FileNotFoundError(f"task {self.name} has no {split} split")
        for cand in self.candidates(split, lang):
            if cand.fixture and not allow_fixtures:
                continue
            found = []
            for pattern in cand.paths:
                matches = _existing(base, _fmt(pattern, lang))
                if not matches:
                    break
                found.append(matches)
            else:
                paths = tuple(p for group in found for p in group)
                options = {k: _fmt(v, lang) if isinstance(v, str) else v for k, v in cand.options.items()}
                return DataFile(self.name, split, lang, paths, cand.format, options, cand.fixture, cand.substitute,
                                cand.split_used)
        tried = self.expected_paths(split, lang, base)
        if not tried:
            raise FileNotFoundError(f"task {self.name}: no {split} data is defined for language {lang!r}")
        raise FileNotFoundError(
            f"task {self.name}, language {lang}, split {split}: no data file found under {base}. "
            f"Expected one of: {'; '.join(tried)}. Fetch it with `xling data fetch {self.name}` "
            f"or point XLING_DATA at a folder holding XTREME's download/ tree.")

    def available(self, split: str, lang: str, root: str | os.PathLike | None = None,
                  allow_fixtures: bool = True) -> bool:
        try:
            self.resolve(split, lang, root, allow_fixtures)
        except FileNotFoundError:
            return False
        return True


def _fmt(pattern: str, lang: str) -> str:
    return pattern.format(lang=lang, lang3=tatoeba_code(lang), flores=flores_code(lang),
                          tydiqa=TYDIQA_NAMES.get(lang, lang))


def _existing(base: Path, rel: str) -> list[Path]:
    """Files matching `rel` (a glob allowed); `x` also matches `x.xz`/`x.gz`, as our data is compressed."""
    out: list[Path] = []
    for suffix in ("", ".xz", ".gz"):
        pat = str(base / rel) + suffix
        # Folders count too: a Hugging Face `save_to_disk` split is a directory.
        hits = sorted(glob.glob(pat)) if glob.has_magic(rel) else ([pat] if os.path.exists(pat) else [])
        out.extend(Path(h) for h in hits if os.path.exists(h))
        if out:
            return out
    return out


TASKS: Registry[Task] = Registry("task")


def register(task: Task) -> Task:
    TASKS.register(task.name, task)
    return task


def get_task(name: str) -> Task:
    return TASKS.get(name)


def _langs(s: str) -> tuple[str, ...]:
    return tuple(s.split(","))


def C(*paths: str, fmt: str, **kw: object) -> Candidate:
    options = kw.pop("options", {})
    return Candidate(paths=tuple(paths), format=fmt, options=options, **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------
# Sentence classification: XNLI, PAWS-X
# ---------------------------------------------------------------------------------------------------

XNLI_FIX = "xnli/hf_dummy_fixtures/xnli_all_languages"


def xnli_task(name: str = "xnli", languages: tuple[str, ...] = _langs(XTREME_LANGS["xnli"]),
              xtreme: bool = True) -> Task:
    lab = ("contradiction", "entailment", "neutral")
    return Task(
        name=name, kind="classification", languages=languages, metric="accuracy", group="classification",
        labels=lab, xtreme=xtreme, description="XNLI natural language inference (MultiNLI en train)",
        files={
            "train": (C("download/xnli/train-en.tsv", fmt="xtreme_pair_tsv"),
                      C("xnli/XNLI-MT-1.0/multinli/multinli.train.en.tsv", fmt="multinli_tsv"),
                      C(f"{XNLI_FIX}/XNLI-MT-1.0/multinli/multinli.train.en.tsv", fmt="multinli_tsv",
                        fixture=True)),
            "dev": (C("download/xnli/dev-{lang}.tsv", fmt="xtreme_pair_tsv"),
                    C("xnli/XNLI-1.0/xnli.dev.tsv", fmt="xnli_tsv"),
                    C("xnli/de_via_SuperGLEBer_XGLUE/dev.txt", fmt="xglue_nli", langs=("de",)),
                    C(f"{XNLI_FIX}/XNLI-1.0/xnli.dev.tsv", fmt="xnli_tsv", fixture=True)),
            "test": (C("download/xnli/test-{lang}.tsv", fmt="xtreme_pair_tsv"),
                     C("xnli/XNLI-1.0/xnli.test.tsv", fmt="xnli_tsv"),
                     C("xnli/de_via_SuperGLEBer_XGLUE/test.txt", fmt="xglue_nli", langs=("de",)),
                     C(f"{XNLI_FIX}/XNLI-1.0/xnli.test.tsv", fmt="xnli_tsv", fixture=True)),
        })


def pawsx_task(name: str = "pawsx", languages: tuple[str, ...] = _langs(XTREME_LANGS["pawsx"]),
               xtreme: bool = True) -> Task:
    fix = "pawsx/hf_dummy_fixtures/pawsx_{lang}/x-final/{lang}"
    return Task(
        name=name, kind="classification", languages=languages, metric="accuracy", group="classification",
        labels=("0", "1"), xtreme=xtreme, description="PAWS-X paraphrase identification",
        files={
            "train": (C("download/pawsx/train-en.tsv", fmt="xtreme_pair_tsv"),
                      C("pawsx/x-final/en/train.tsv", fmt="pawsx_tsv"),
                      C("pawsx/hf_dummy_fixtures/pawsx_en/x-final/en/train.tsv", fmt="pawsx_tsv", fixture=True)),
            "dev": (C("download/pawsx/dev-{lang}.tsv", fmt="xtreme_pair_tsv"),
                    C("pawsx/x-final/{lang}/dev_2k.tsv", fmt="pawsx_tsv"),
                    C("pawsx/de_via_SuperGLEBer/dev.tsv", fmt="pawsx_tsv", langs=("de",)),
                    C(f"{fix}/dev_2k.tsv", fmt="pawsx_tsv", fixture=True)),
            "test": (C("download/pawsx/test-{lang}.tsv", fmt="xtreme_pair_tsv"),
                     C("pawsx/x-final/{lang}/test_2k.tsv", fmt="pawsx_tsv"),
                     C("pawsx/de_via_SuperGLEBer/test.tsv", fmt="pawsx_tsv", langs=("de",)),
                     C(f"{fix}/test_2k.tsv", fmt="pawsx_tsv", fixture=True)),
        })


# ---------------------------------------------------------------------------------------------------
# Structured prediction: UD-POS, PAN-X, and NER for Kazakh
# ---------------------------------------------------------------------------------------------------



def udpos_task(name: str = "udpos", languages: tuple[str, ...] = _langs(XTREME_LANGS["udpos"]),
               xtreme: bool = True, description: str = "Universal Dependencies POS tagging (17 UPOS)") -> Task:
    # XTREME concatenates every UD treebank of a language (files in name order, see load_conllu) and
    # trains on every English treebank with a train split; the globs do the same over what is present.
    return Task(
        name=name, kind="token_classification", languages=languages, metric="pos_accuracy", group="tagging",
        labels=UPOS, xtreme=xtreme, description=description,
        files={
            "train": (C("download/udpos/train-en.tsv", fmt="xtreme_tag_tsv"),
                      C("udpos/UD_*/en_*-ud-train.conllu", fmt="conllu")),
            "dev": (C("download/udpos/dev-{lang}.tsv", fmt="xtreme_tag_tsv"),
                    C("udpos/UD_*/{lang}_*-ud-dev.conllu", fmt="conllu")),
            "test": (C("download/udpos/test-{lang}.tsv", fmt="xtreme_tag_tsv"),
                     C("udpos/UD_*/{lang}_*-ud-test.conllu", fmt="conllu")),
        })


def panx_task(name: str = "panx", languages: tuple[str, ...] = _langs(XTREME_LANGS["panx"]),
              xtreme: bool = True) -> Task:
    def split(s: str) -> tuple[Candidate, ...]:
        lang = "en" if s == "train" else "{lang}"
        return (C(f"download/panx/{s}-{lang}.tsv", fmt="xtreme_tag_tsv"),
                C(f"panx/panx_dataset/{lang}/{s}", fmt="panx_raw"),
                C(f"panx/{lang}-{s}", fmt="panx_raw"),
                C(f"panx/hf_dummy_fixtures/xtreme_PAN-X.{lang}/{s}", fmt="panx_raw", fixture=True),
                C(f"panx/hf_dummy_fixtures/wikiann_{lang}/{s}", fmt="panx_raw", fixture=True))

    return Task(name=name, kind="token_classification", languages=languages, metric="seqeval_f1",
                group="tagging", labels=NER_TAGS, xtreme=xtreme, description="PAN-X / WikiANN NER (PER/LOC/ORG)",
                files={"train": split("train"), "dev": split("dev"), "test": split("test")})


# English NER training data for the non-PAN-X NER tasks: UNER English-EWT (PER/LOC/ORG, gold).
UNER_EN = "ner/uner/UNER_English-EWT/en_ewt-ud-{split}.iob2"
UNER_TRAIN = (C(UNER_EN.format(split="train"), fmt="uner_iob2"),
              C(UNER_EN.format(split="dev"), fmt="uner_iob2",
                substitute="UNER English-EWT dev stands in for the train split (>4 MiB, not in the data root)"))
UNER_DEV = (C(UNER_EN.format(split="test"), fmt="uner_iob2"),)

KAZNERD_MAP = {"PERSON": "PER", "ORGANISATION": "ORG", "GPE": "LOC", "LOCATION": "LOC"}


def kaznerd_task() -> Task:
    # KazNERD's test split is held out here; the official file name comes first for users who have it.
    return Task(
        name="kaznerd", kind="token_classification", languages=("kk",), metric="seqeval_f1", group="tagging",
        labels=NER_TAGS, description="KazNERD (25 classes mapped to PER/LOC/ORG; others → O), "
        "zero-shot from English UNER",
        files={"train": UNER_TRAIN, "dev": UNER_DEV,
               "test": (C("ner/kaznerd/IOB2_test.txt", fmt="conll_ner", options={"tag_map": KAZNERD_MAP}),
                        C("ner/kaznerd/IOB2_valid.txt", fmt="conll_ner", options={"tag_map": KAZNERD_MAP},
                          substitute="KazNERD validation (the test split is not in the data root)",
                          split_used="dev"))})


def uner_pud_task() -> Task:
    return Task(
        name="uner_pud", kind="token_classification", languages=("en", "de", "pt", "ru", "sv", "zh"),
        metric="seqeval_f1", group="tagging", labels=NER_TAGS,
        description="Universal NER on the parallel PUD sentences, zero-shot from English UNER-EWT",
        files={"train": UNER_TRAIN, "dev": UNER_DEV,
               "test": (C("ner/uner/UNER_*-PUD/{lang}_pud-ud-test.iob2", fmt="uner_iob2"),)})


# ---------------------------------------------------------------------------------------------------
# Question answering: XQuAD, MLQA, TyDiQA-GoldP, KazQAD
# ---------------------------------------------------------------------------------------------------

# XTREME trains XQuAD/MLQA on SQuAD v1.1. Without it here (>4 MiB), XQuAD-en paragraphs 0-199 / 200-239
# stand in as train/dev: a CPU-smoke substitute only. Every XQuAD language is a translation of those
# same paragraphs, so an XQuAD score trained this way has seen (the English of) its test questions;
# the runner finds that overlap by question id and keeps such scores out of every aggregate.
SQUAD_TRAIN = (C("download/squad/train-v1.1.json", fmt="squad_json"),
               C("squad/train-v1.1.json", fmt="squad_json"),
               C("xquad/xquad.en.json", fmt="squad_json", options={"paragraphs": [0, 200]},
                 substitute="XQuAD-en paragraphs 0-199 (SQuAD v1.1 train is not in the data root)"),
               C("squad/hf_dummy_fixtures/squad_v1.1/train-v1.1.json", fmt="squad_json", fixture=True))
SQUAD_DEV = (C("download/squad/dev-v1.1.json", fmt="squad_json"),
             C("squad/dev-v1.1.json", fmt="squad_json"),
             C("xquad/xquad.en.json", fmt="squad_json", options={"paragraphs": [200, 240]},
               substitute="XQuAD-en paragraphs 200-239 (SQuAD v1.1 dev is not in the data root)"),
             C("squad/hf_dummy_fixtures/squad_v1.1/dev-v1.1.json", fmt="squad_json", fixture=True))


def xquad_task() -> Task:
    return Task(name="xquad", kind="qa", languages=_langs(XTREME_LANGS["xquad"]), metric="squad", group="qa",
                xtreme=True, description="XQuAD extractive QA (SQuAD v1.1 en train)",
                files={"train": SQUAD_TRAIN, "dev": SQUAD_DEV,
                       "test": (C("download/xquad/xquad.{lang}.json", fmt="squad_json"),
                                C("xquad/xquad.{lang}.json", fmt="squad_json"))})


def mlqa_task() -> Task:
    fix = "mlqa/hf_dummy_fixtures/MLQA.en.{lang}/MLQA_V1"
    return Task(name="mlqa", kind="qa", languages=_langs(XTREME_LANGS["mlqa"]), metric="mlqa", group="qa",
                xtreme=True, description="MLQA (context and question in the same language)",
                files={"train": SQUAD_TRAIN, "dev": SQUAD_DEV,
                       "test": (C("download/mlqa/MLQA_V1/test/test-context-{lang}-question-{lang}.json",
                                  fmt="squad_json"),
                                C("mlqa/MLQA_V1/test/test-context-{lang}-question-{lang}.json", fmt="squad_json"),
                                C("mlqa/de_via_SuperGLEBer_XGLUE/validation", fmt="hf_arrow_qa", langs=("de",),
                                  substitute="MLQA de-de dev (XGLUE copy); the test split is not in the data root",
                                  split_used="dev"),
                                C(f"{fix}/test/test-context-en-question-{{lang}}.json", fmt="squad_json",
                                  fixture=True))})


def tydiqa_task() -> Task:
    goldp = "tydiqa/hf_dummy_fixtures/goldp_secondary_task"
    # XTREME's test set is the GoldP dev set (split per language by its preprocessing). TyDiQA has no
    # other dev set, so there is none here: XTREME keeps the final fine-tuned model, and so do we
    # (selecting on this "dev" would be selecting on the test set).
    test = (C("download/tydiqa/tydiqa-goldp-v1.1-dev/tydiqa.goldp.{lang}.dev.json", fmt="squad_json"),
            C("tydiqa/tydiqa-goldp-v1.1-dev/tydiqa-goldp-dev-{tydiqa}.json", fmt="squad_json"),
            C("tydiqa/tydiqa-goldp-v1.1-dev.json", fmt="squad_json", options={"id_prefix": "{tydiqa}-"}),
            C(f"{goldp}/tydiqa-goldp-v1.1-dev.json", fmt="squad_json", options={"id_prefix": "{tydiqa}-"},
              fixture=True))
    return Task(name="tydiqa", kind="qa", languages=_langs(XTREME_LANGS["tydiqa"]), metric="squad", group="qa",
                xtreme=True, description="TyDiQA-GoldP (English GoldP train)",
                files={"train": (C("download/tydiqa/tydiqa-goldp-v1.1-train/tydiqa.goldp.en.train.json",
                                   fmt="squad_json"),
                                 C("tydiqa/tydiqa-goldp-v1.1-train.json", fmt="squad_json",
                                   options={"id_prefix": "english-"}),
                                 C(f"{goldp}/tydiqa-goldp-v1.1-train.json", fmt="squad_json",
                                   options={"id_prefix": "english-"}, fixture=True)),
                       "test": test})


def kazqad_task() -> Task:
    rc = "kazqad/reading-comprehension/kazqad-reading-comprehension-v1.0-kk-{split}.jsonl"
    return Task(name="kazqad", kind="qa", languages=("kk",), metric="squad", group="qa",
                description="KazQAD reading comprehension, zero-shot from English QA",
                files={"train": SQUAD_TRAIN, "dev": SQUAD_DEV,
                       "test": (C(rc.format(split="test"), fmt="kazqad_jsonl"),
                                C(rc.format(split="validation"), fmt="kazqad_jsonl",
                                  substitute="KazQAD validation (the test split is not in the data root)",
                                  split_used="dev"))})


# ---------------------------------------------------------------------------------------------------
# Retrieval: BUCC 2018, Tatoeba, FLORES en-ug, X-WMT en-kk
# ---------------------------------------------------------------------------------------------------

def bucc_task() -> Task:
    def split(s: str, raw: str) -> tuple[Candidate, ...]:
        out = [C(f"download/bucc2018/{{lang}}-en.{s}.{{lang}}", f"download/bucc2018/{{lang}}-en.{s}.en",
                 *([f"download/bucc2018/{{lang}}-en.{s}.gold"] if s == "dev" else []), fmt="bucc")]
        out.append(C(f"bucc2018/{{lang}}-en/{{lang}}-en.{raw}.{{lang}}", f"bucc2018/{{lang}}-en/{{lang}}-en.{raw}.en",
                     f"bucc2018/{{lang}}-en/{{lang}}-en.{raw}.gold", fmt="bucc"))
        return tuple(out)

    # BUCC's "sample" files are XTREME's dev (threshold tuning); "training" files its test.
    return Task(name="bucc2018", kind="retrieval", languages=_langs(XTREME_LANGS["bucc2018"]), metric="bucc_f1",
                group="retrieval", xtreme=True, description="BUCC 2018 parallel sentence mining (margin scoring)",
                files={"dev": split("dev", "sample"), "test": split("test", "training")})


def tatoeba_task(name: str = "tatoeba", languages: tuple[str, ...] = _langs(XTREME_LANGS["tatoeba"]),
                 xtreme: bool = True, description: str = "Tatoeba similarity search (en → xx, as the leaderboard; "
                 "xx → en reported beside it)") -> Task:
    # The leaderboard queries from each sorted English sentence (see retrieval.py); our suite keeps xx → en.
    return Task(name=name, kind="retrieval", languages=languages, metric="retrieval_accuracy", group="retrieval",
                xtreme=xtreme, description=description, retrieval_query="target" if xtreme else "source",
                files={"test": (C("download/tatoeba/{lang}-en.{lang}", "download/tatoeba/{lang}-en.en",
                                  fmt="xtreme_tatoeba"),
                                C("tatoeba/tatoeba.{lang3}-eng.{lang3}", "tatoeba/tatoeba.{lang3}-eng.eng",
                                  fmt="laser_tatoeba", options={"sort_english": xtreme}))})


def parallel_retrieval_task(name: str, lang: str, candidates: tuple[Candidate, ...], description: str) -> Task:
    return Task(name=name, kind="retrieval", languages=(lang,), metric="retrieval_accuracy", group="retrieval",
                description=description, files={"test": candidates})


def _register_all() -> None:
    for t in (xnli_task(), pawsx_task(), udpos_task(), panx_task(), xquad_task(), mlqa_task(), tydiqa_task(),
              bucc_task(), tatoeba_task()):
        register(t)
    # The Uyghur/Kazakh suite: the same definitions, other languages and data.
    register(tatoeba_task("tatoeba_turkic", ("ug", "kk", "tt", "uz"), xtreme=False,
                          description="Tatoeba (LASER) Uyghur/Kazakh/Tatar/Uzbek → en"))
    register(udpos_task("udpos_turkic", ("ug", "kk", "ky", "tt", "uz", "tr"), xtreme=False,
                        description="UD POS: Uyghur-UDT, Kazakh-KTB, Kyrgyz, Tatar, Uzbek, Turkish (zero-shot "
                        "from English-EWT)"))
    register(kaznerd_task())
    register(uner_pud_task())
    register(kazqad_task())
    register(parallel_retrieval_task(
        "flores_en_ug", "ug",
        (C("parallel/en-ug/flores200/devtest/{flores}.devtest", "parallel/en-ug/flores200/devtest/eng_Latn.devtest",
           fmt="parallel_lines"),
         C("parallel/en-ug/flores200/dev/{flores}.dev", "parallel/en-ug/flores200/dev/eng_Latn.dev",
           fmt="parallel_lines", substitute="FLORES-200 dev (devtest is held out)", split_used="dev")),
        "FLORES-200 ug → en sentence retrieval"))
    register(parallel_retrieval_task(
        "xwmt_en_kk", "kk",
        (C("parallel/xwmt/en-kk/en-kk.kk", "parallel/xwmt/en-kk/en-kk.en", fmt="parallel_lines"),),
        "X-WMT (WMT20 news, human kk translation) kk → en sentence retrieval"))


_register_all()

# ---------------------------------------------------------------------------------------------------
# Held-out evaluation data: every file that must never be trained on
# ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HeldOutSet:
    """Evaluation text beyond what the tasks' language lists reach (every LASER Tatoeba language, every
    UD treebank's dev/test, every FLORES-200 and X-WMT pair, the Tatoeba Challenge, KazQAD's retrieval
    topics, …). `xling eval` does not score these; decontamination removes them from training text.

    `files` pairs a glob under the data root with the `LOADERS` format that reads it. Folders named
    `hf_dummy_fixtures` hold format fixtures, not evaluation text, and are skipped.
    """

    name: str
    files: tuple[tuple[str, str], ...]
    default: bool = True  # part of `evaluation_files()` unless asked for by name
    description: str = ""

    def data_files(self, root: Path) -> list[DataFile]:
        out: dict[Path, DataFile] = {}
        for pattern, fmt in self.files:
            for p in sorted(root.glob(pattern)):
                if p.name.endswith(".labels") or "hf_dummy_fixtures" in p.parts or p in out:
                    continue
                if p.is_file() or (p.is_dir() and fmt == "hf_arrow_qa"):
                    out[p] = DataFile(self.name, "test", "", (p,), fmt, {}, False, "")
        return [out[p] for p in sorted(out)]


HELDOUT: Registry[HeldOutSet] = Registry("evaluation set")
for _s in (
    HeldOutSet("tatoeba", (("tatoeba/tatoeba.*-eng.*", "text_lines"),), description="LASER Tatoeba v1 (XTREME)"),
    HeldOutSet("tatoeba_challenge", (("parallel/tatoeba_challenge_test_*/*/tatoeba-test-*", "text_lines"),),
               description="Tatoeba Translation Challenge test"),
    HeldOutSet("ud", (("udpos/**/*-ud-test.conllu*", "conllu"), ("udpos/**/*-ud-dev.conllu*", "conllu")),
               description="UD test/dev"),
    HeldOutSet("uner", (("ner/uner/**/*-test.iob2*", "uner_iob2"), ("ner/uner/**/*-dev.iob2*", "uner_iob2")),
               description="Universal NER test/dev"),
    HeldOutSet("kaznerd", (("ner/kaznerd/IOB2_valid.txt*", "conll_ner"), ("ner/kaznerd/IOB2_test.txt*", "conll_ner")),
               description="KazNERD validation/test"),
    HeldOutSet("flores200", (("parallel/*/flores200/dev/*.dev", "text_lines"),
                             ("parallel/*/flores200/devtest/*.devtest", "text_lines")), description="FLORES-200 dev"),
    HeldOutSet("xwmt", (("parallel/xwmt/*-*/*-*.*", "text_lines"),), description="X-WMT Turkic test"),
    HeldOutSet("wmt_newstest", (("parallel/*/wmt_newstest/*/*/newstest*", "text_lines"),), default=False,
               description="WMT newstest (only when used for evaluation)"),
    HeldOutSet("xquad", (("xquad/xquad.*.json*", "squad_json"),), description="XQuAD"),
    HeldOutSet("kazqad", (("kazqad/reading-comprehension/*-validation.jsonl*", "kazqad_jsonl"),
                          ("kazqad/reading-comprehension/*-test.jsonl*", "kazqad_jsonl"),
                          ("kazqad/information-retrieval/*topics*-validation.tsv*", "text_lines"),
                          ("kazqad/information-retrieval/*topics*-test.tsv*", "text_lines")), description="KazQAD"),
    HeldOutSet("pawsx", (("pawsx/**/dev*.tsv*", "pawsx_tsv"), ("pawsx/**/test*.tsv*", "pawsx_tsv")),
               description="PAWS-X dev/test"),
    HeldOutSet("xnli", (("xnli/**/xnli.dev.tsv*", "xnli_tsv"), ("xnli/**/xnli.test.tsv*", "xnli_tsv"),
                        ("xnli/*XGLUE/dev.txt*", "xglue_nli"), ("xnli/*XGLUE/test.txt*", "xglue_nli")),
               description="XNLI dev/test"),
    HeldOutSet("mlqa", (("mlqa/**/dev-context-*.json", "squad_json"), ("mlqa/**/test-context-*.json", "squad_json"),
                        ("mlqa/*/validation", "hf_arrow_qa")), description="MLQA dev/test"),
    HeldOutSet("tydiqa", (("tydiqa/**/*-dev.json*", "squad_json"),), description="TyDi QA GoldP dev"),
):
    HELDOUT.register(_s.name, _s)


def evaluation_files(root: str | os.PathLike | None = None,
                     names: Sequence[str] | None = None) -> dict[str, list[DataFile]]:
    """{name: files} of the evaluation data under `root` that training must never see.

    `names` picks held-out sets or tasks by name; by default every default held-out set, then every
    task's dev and test files for each of its languages (real data, not fixtures) that no held-out
    set already holds. A split whose files were all listed already is left out, so a hit is counted under
    the first name that holds the text.
    """
    base = Path(root) if root is not None else data_root()
    chosen = list(names) if names is not None else [n for n, s in HELDOUT.items() if s.default] + list(TASKS)
    out: dict[str, list[DataFile]] = {}
    seen: set[Path] = set()
    for name in dict.fromkeys(chosen):
        if name not in HELDOUT and name not in TASKS:
            HELDOUT.get(name)  # an unknown name fails with "did you mean"
        found = HELDOUT.get(name).data_files(base) if name in HELDOUT else []
        if name in TASKS:
            task = TASKS.get(name)
            for split in ("dev", "test"):
                for lang in task.languages if split in task.files else ():
                    try:
                        found.append(task.resolve(split, lang, base, allow_fixtures=False))
                    except FileNotFoundError:
                        continue
        fresh = []
        for df in found:  # a split whose files were all read already (under this or an earlier name) adds nothing
            if not seen.issuperset(df.paths):
                fresh.append(df)
                seen.update(df.paths)
        if fresh:
            out[name] = fresh
    return out


# ---------------------------------------------------------------------------------------------------
# Retrieval dev sets: for choosing retrieval settings (the layer), never scored as a task
# ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RetrievalDevSet:
    """Line-aligned `lang`–English text that no task's test split reads, for choices made on dev.

    `start` skips the lines a task may read as its test split from the same file (FLORES-200 dev,
    which `flores_en_ug` reads from its first line when devtest is absent): a run that would read
    past `start` there is refused (`check_dev_disjoint`)."""

    name: str
    lang: str  # ISO 639-1 of the non-English side (the transliteration view applies to it)
    source: str  # under the data root
    english: str
    start: int = 0
    description: str = ""

    def load(self, root: Path, max_pairs: int) -> tuple[list[str], list[str]]:
        """(source lines, English lines): up to `max_pairs` pairs (≤ 0: all) from line `start` on."""
        src_path, en_path = root / self.source, root / self.english
        for p in (src_path, en_path):
            if not p.is_file():
                raise FileNotFoundError(f"retrieval dev set {self.name}: {p} is missing (data root {root})")
        src, en = read_lines(src_path), read_lines(en_path)
        if len(src) != len(en):
            raise InputError(f"retrieval dev set {self.name}: {src_path} has {len(src)} lines, {en_path} {len(en)}; "
                             "they must be line-aligned")
        end = len(src) if max_pairs <= 0 else self.start + max_pairs
        return src[self.start:end], en[self.start:end]


RETRIEVAL_DEV: Registry[RetrievalDevSet] = Registry("retrieval dev set")
for _d in (
    # WMT news test sets that no task reads and no recipe trains on as pairs (newstest2018's two sides
    # are in the recipes' monolingual corpus, unaligned)
    RetrievalDevSet("newstest2020_ru_en", "ru", "parallel/en-ru/wmt_newstest/2020/ru-en/newstest2020.ru.xz",
                    "parallel/en-ru/wmt_newstest/2020/ru-en/newstest2020.en.xz", description="newstest2020 ru-en"),
    RetrievalDevSet("newstest2018_tr_en", "tr",
                    "parallel/en-tr/wmt_newstest/2018/en-tr_both-directions/newstest2018.tr.xz",
                    "parallel/en-tr/wmt_newstest/2018/en-tr_both-directions/newstest2018.en.xz",
                    description="newstest2018 tr-en"),
    # the only Uyghur–English dev text: FLORES-200 dev after the 300 lines `flores_en_ug` reads as its
    # test where devtest is absent (a held-out set, so never in training text either)
    RetrievalDevSet("flores200_dev_ug_en", "ug", "parallel/en-ug/flores200/dev/uig_Arab.dev",
                    "parallel/en-ug/flores200/dev/eng_Latn.dev", start=300,
                    description="FLORES-200 dev ug-en, lines 301 on"),
):
    RETRIEVAL_DEV.register(_d.name, _d)


XTREME_TASKS = tuple(name for name, t in TASKS.items() if t.xtreme)
TURKIC_SUITE = ("tatoeba_turkic", "udpos_turkic", "kaznerd", "kazqad", "flores_en_ug", "xwmt_en_kk")


def task_groups() -> dict[str, list[str]]:
    """XTREME's category → tasks table (evaluate.py GROUP2TASK), for the leaderboard aggregate."""
    out: dict[str, list[str]] = {g: [] for g in GROUPS}
    for name in XTREME_TASKS:
        out[TASKS.get(name).group].append(name)
    return out


def parse_task_spec(spec: str) -> tuple[Task, tuple[str, ...]]:
    """`name` or `name:l1+l2` → (task, languages); languages must belong to the task."""
    name, _, langs = spec.partition(":")
    task = get_task(name.strip())
    if not langs:
        return task, task.languages
    chosen = tuple(x.strip() for x in langs.replace(",", "+").split("+") if x.strip())
    bad = [x for x in chosen if x not in task.languages]
    if bad:
        raise InputError(f"task {task.name}: language(s) {', '.join(bad)} not in its languages "
                         f"({', '.join(task.languages)})")
    return task, chosen
