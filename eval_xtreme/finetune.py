"""Zero-shot fine-tuning: train a task head on English, select on English dev, predict any language.

One short loop serves the three heads XTREME uses:

- `classification` → `AutoModelForSequenceClassification` on (text_a, text_b) pairs;
- `token_classification` → `AutoModelForTokenClassification`, the label on each word's *first*
  subword (others ignored), long sentences split into chunks at word boundaries as XTREME does;
- `qa` → `AutoModelForQuestionAnswering` with a sliding window (`doc_stride`) over the context and
  SQuAD-style post-processing (n-best start/end logits, spans inside the context, max length).

Runs resume like pretraining, through the shared loop core (`xling.core.train_loop`):
`RUN/checkpoints/step-NNNNNN/` folders in the one checkpoint format of `xling.core.checkpoint`
(safetensors weights via `save_pretrained`, optimizer/RNG state as safetensors + JSON, never
unpickled, `meta.json` with the sha256 of every file) appear atomically, the best-on-dev model is kept in `RUN/best/`, and `RUN/stage.json` (the stage contract of
`xling.core.stage`) marks a finished run and refuses a resume with other settings.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from xling.core.errors import InputError
from xling.core.hub import resolve_model, usable_length
from xling.core.io import atomic_path, write_json_atomic
from xling.core.stage import Stage, StageSpec, without_new_defaults
from xling.core.tracking import TRACKING_OUTPUTS, Backend, check_report_to
from xling.core.train_loop import (
    MetricsLog,
    OptimizerStep,
    lr_at,
    restore_rng,
    resume_training,
    save_training,
)

from .loaders import PairExample, QAExample, TaggedSentence
from .metrics import compute, primary_score
from .script_augment import augment, check_shares
from .self_training import check_self_train
from .suffix_features import (
    SuffixTagger,
    SuffixVocab,
    check_spelling,
    has_suffix_features,
    keyed_words,
    load_suffix_tagger,
)
from .tasks import Task

log = logging.getLogger(__name__)


@dataclass
class FinetuneConfig:
    learning_rate: float = 2e-5
    batch_size: int = 32
    eval_batch_size: int = 64
    epochs: float = 2.0
    max_steps: int = 0  # > 0 overrides epochs (CPU smoke runs)
    warmup_ratio: float = 0.1
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    max_seq_length: int = 128
    doc_stride: int = 128  # QA: overlap between windows (XTREME: 128 with max_seq_length 384)
    max_query_length: int = 64
    max_answer_length: int = 30
    n_best: int = 20
    max_train_examples: int = 0  # > 0: random subsample of the English training set
    max_dev_examples: int = 0
    # Batches of similar-length examples (HF Trainer's group_by_length): a random batch of UD
    # sentences is padded to its longest member, which wastes most of the compute on CPU.
    group_by_length: bool = True
    eval_every: int = 0  # steps between dev evaluations; 0 = only at the end
    save_every: int = 0  # steps between resumable checkpoints; 0 = at every dev evaluation
    seed: int = 42
    # Dropout of every dropout layer while fine-tuning (None: the model's own, usually 0.1). On EWT dev
    # 0 was ahead early (+2.6 F1 at step 1,000 of 3,000) but not at the end (docs/experiments.md).
    dropout: float | None = None
    # Which subword of a word carries its tag (token classification): "first" as XTREME and BERT, or
    # "last" (Ács et al., EACL 2021: in suffixing languages the last piece holds the inflection).
    label_subword: str = "first"
    # Bottom blocks kept at their pretrained values: 1 = the embedding layer, 2 = it and the first
    # transformer layer, ... Source-language fine-tuning moves only the source's token embeddings, so
    # the target's drift apart from them; Wu & Dredze (2019) froze mBERT's lower layers for zero-shot.
    freeze_layers: int = 0
    # Tagging only: each word's last 1..N characters as learned vectors added to its labelled piece
    # (eval_xtreme.suffix_features); 0 = off. Other heads do not read it.
    suffix_features: int = 0
    # Probability of dropping a word's suffix vectors in training, so the encoder alone still tags the
    # words whose endings the source never showed (zero-shot: another script, another family).
    suffix_dropout: float = 0.5
    # Learning rate of the suffix vectors as a multiple of `learning_rate`. An ending's vector is updated
    # only in the batches that hold it, while the encoder learns from every batch and fits the training
    # sentences first (98.6 % of IMST training words, 91 % of dev words seen in training: docs/experiments.md).
    suffix_lr_scale: float = 1.0
    # How the endings are spelled before they become keys: "native" (as written, lower-cased) or "turkic"
    # (Arabic-script words read as Uyghur and Cyrillic ones spelled as Turkish writes the same sounds, so
    # that Kazakh -лар and Uyghur -لار meet Turkish -lar; the encoder still reads the text as given).
    suffix_spelling: str = "native"
    # Checkpoint averaging (Schmidt, Vulić & Glavaš, ACL 2023): the uniform average of the weights after
    # every `average_every`-th step (and the last) is the kept model, instead of the checkpoint best on
    # the source dev set, which says little about the target languages of a zero-shot transfer.
    # 0 = off. The dev curve of the run's own weights is still logged; the averaged model is scored on
    # dev once at the end.
    average_every: int = 0
    # The share of the run before the first averaged snapshot (SWA's start): 0 averages from step
    # `average_every` on, 0.5 only the second half's weights.
    average_from: float = 0.0
    # Tagging only: the share of training words rewritten in a target language's script, per language
    # (`{kk: 0.2}`: one Latin-letter word in five written in Cyrillic by the inverse of Kazakh's Latin
    # view, with its own tag), so pieces of that script are not new to the tagger (eval_xtreme.script_augment).
    script_augment: dict[str, float] = field(default_factory=dict)
    # Tagging only: self-training (eval_xtreme.self_training). Per target language, text files of
    # unlabelled sentences; the fine-tuned tagger tags them, the `self_train_sentences` it is surest of per
    # language keep its tags, and `self_train_steps` more steps on the source set plus them, starting from
    # that tagger, give the evaluated model. {} = off.
    self_train: dict[str, list[str]] = field(default_factory=dict)
    self_train_sentences: int = 1000
    self_train_steps: int = 300
    # a kept sentence's words whose pseudo-tag has a lower probability than this stay untagged (not learnt)
    self_train_min_confidence: float = 0.0
    # RUN/metrics.jsonl always; trackers beside it (xling.core.tracking): tensorboard, wandb, mlflow
    report_to: list[Backend] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_report_to(self.report_to)
        if self.dropout is not None and not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"finetune.dropout must be in [0, 1) or null (the model's own), got {self.dropout}")
        if self.freeze_layers < 0:
            raise ValueError(f"finetune.freeze_layers must be ≥ 0, got {self.freeze_layers}")
        if not 0 <= self.suffix_features <= 16:
            raise ValueError(f"finetune.suffix_features must be 0 (off) to 16 characters, got {self.suffix_features}")
        if not self.suffix_lr_scale > 0:
            raise ValueError(f"finetune.suffix_lr_scale must be > 0, got {self.suffix_lr_scale}")
        if not 0.0 <= self.suffix_dropout < 1.0:
            raise ValueError(f"finetune.suffix_dropout must be in [0, 1), got {self.suffix_dropout}")
        check_spelling(self.suffix_spelling, "finetune.suffix_spelling")
        if self.average_every < 0:
            raise ValueError(f"finetune.average_every must be ≥ 0 (0 = off), got {self.average_every}")
        if not 0.0 <= self.average_from < 1.0:
            raise ValueError(f"finetune.average_from must be in [0, 1) (a share of the run), got {self.average_from}")
        check_shares(self.script_augment, "finetune.script_augment")
        check_self_train(self.self_train, self.self_train_sentences, self.self_train_steps,
                         self.self_train_min_confidence)
        if self.label_subword not in ("first", "last"):
            raise ValueError(f"finetune.label_subword must be 'first' or 'last', got {self.label_subword!r}")


def recorded_settings(cfg: FinetuneConfig) -> dict[str, Any]:
    """The settings a finished fine-tuning run (and the evaluation task around it) is recorded under.
    An optional field left unset is left out, so that the records written before it existed stay valid."""
    return without_new_defaults(asdict(cfg), {"dropout": None, "label_subword": "first", "freeze_layers": 0,
                                                "suffix_features": 0, "suffix_dropout": 0.5,
                                                "suffix_lr_scale": 1.0, "suffix_spelling": "native",
                                                "average_every": 0, "average_from": 0.0, "script_augment": {},
                                                "self_train": {}, "self_train_sentences": 1000,
                                                "self_train_steps": 300, "self_train_min_confidence": 0.0})


def without_self_training(cfg: FinetuneConfig) -> FinetuneConfig:
    """`cfg` with every `self_train*` setting at its default: the teacher's fine-tuning, which is the
    fine-tuning the task runs without self-training (so one already finished is reused)."""
    return dataclasses.replace(cfg, **{f.name: f.default if f.default_factory is dataclasses.MISSING
                                       else f.default_factory() for f in dataclasses.fields(cfg)
                                       if f.name.startswith("self_train")})


HEAD_CLASSES = {
    "classification": "AutoModelForSequenceClassification",
    "token_classification": "AutoModelForTokenClassification",
    "qa": "AutoModelForQuestionAnswering",
}


def load_model(task: Task, model: str):
    """Tokenizer + model with the task's head; clear errors for a missing head or vocabulary."""
    import transformers

    cls = getattr(transformers, HEAD_CLASSES[task.kind])
    where = resolve_model(model)  # a Hub id without network fails here at once, not after retries
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(where)
    except (OSError, ValueError) as e:
        raise InputError(f"model {model}: no usable tokenizer/vocabulary ({e})") from None
    kwargs: dict[str, Any] = {}
    if task.kind != "qa":
        kwargs = {"num_labels": len(task.labels), "id2label": dict(enumerate(task.labels)),
                  "label2id": {lab: i for i, lab in enumerate(task.labels)}}
    try:
        net = cls.from_pretrained(where, **kwargs)
    except ValueError as e:
        raise InputError(f"model {model}: its architecture has no {HEAD_CLASSES[task.kind]} head "
                         f"needed by task {task.name} ({str(e).splitlines()[0]})") from None
    except OSError as e:
        raise InputError(f"model {model}: cannot load weights with from_pretrained ({e})") from None
    except RuntimeError as e:
        raise InputError(f"model {model}: its weights do not fit its config.json ({str(e).splitlines()[0]})") \
            from None
    if task.kind != "classification" and not getattr(tokenizer, "is_fast", False):
        raise InputError(f"model {model}: task {task.name} needs a fast tokenizer (word ids / character "
                         "offsets); save a tokenizer.json with the model")
    n_emb = net.get_input_embeddings().num_embeddings
    if len(tokenizer) > n_emb:
        raise InputError(f"model {model}: tokenizer has {len(tokenizer)} tokens but the embedding matrix "
                         f"{n_emb} rows; the vocabulary does not belong to this model")
    if task.kind == "token_classification" and has_suffix_features(where):
        net = load_suffix_tagger(net, where)  # a tagger fine-tuned with finetune.suffix_features
    return tokenizer, net


def set_dropout(net, p: float) -> None:
    """Every dropout layer of `net` (attention, hidden, head) to `p`, whatever the architecture calls them
    in its config; the saved config.json keeps the pretrained values, which only matter in training."""
    import torch

    for module in net.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = p


def freeze_bottom(net, n: int, model: str) -> int:
    """Stop gradients to the embedding layer (n ≥ 1) and the first n − 1 transformer layers; returns the
    number of frozen parameters. BERT-family encoders (`base_model.embeddings`, `.encoder.layer`)."""
    if n <= 0:
        return 0
    base = net.base_model
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if getattr(base, "embeddings", None) is None or layers is None:
        raise InputError(f"model {model}: finetune.freeze_layers needs a BERT-style encoder (embeddings + "
                         f"encoder.layer); {type(base).__name__} has none")
    if n - 1 > len(layers):
        raise InputError(f"finetune.freeze_layers={n} exceeds the model's embedding layer + {len(layers)} "
                         f"transformer layers ({model})")
    frozen = 0
    for module in [base.embeddings, *list(layers)[:n - 1]]:
        for p in module.parameters():
            p.requires_grad_(False)
            frozen += p.numel()
    return frozen


def check_length(net, cfg: FinetuneConfig, model: str) -> None:
    limit = usable_length(net.config)
    if limit is not None and cfg.max_seq_length > limit:
        raise InputError(f"finetune.max_seq_length={cfg.max_seq_length} exceeds what model {model} can take "
                         f"({limit} tokens); lower it, e.g. --set finetune.max_seq_length={limit}")


# ---------------------------------------------------------------------------------------------------
# Features
# ---------------------------------------------------------------------------------------------------

def classification_features(examples: Sequence[PairExample], tokenizer, task: Task,
                            cfg: FinetuneConfig) -> list[dict]:
    label2id = {lab: i for i, lab in enumerate(task.labels)}
    enc = tokenizer([e.text_a for e in examples], [e.text_b for e in examples], truncation=True,
                    max_length=cfg.max_seq_length)
    feats = []
    for i, ex in enumerate(examples):
        f = {"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i], "example": i}
        if ex.label is not None:
            if ex.label not in label2id:
                raise InputError(f"task {task.name}: example {ex.id} has label {ex.label!r}, not one of {task.labels}")
            f["labels"] = label2id[ex.label]
        feats.append(f)
    return feats


def token_features(examples: Sequence[TaggedSentence], tokenizer, task: Task, cfg: FinetuneConfig,
                   suffixes: SuffixVocab | None = None) -> list[dict]:
    """One labelled subword per word (the first, or the last with `label_subword: last`); a sentence
    longer than the model window becomes several chunks.

    The tokenizer runs twice over the whole set in one batched call each (words → pieces, then
    chunks → model inputs), not twice per sentence: the Rust tokenizer's batch path gives the same
    encodings and its per-call overhead was half the time of this function."""
    label2id = {lab: i for i, lab in enumerate(task.labels)}
    budget = cfg.max_seq_length - tokenizer.num_special_tokens_to_add(pair=False)
    unk = tokenizer.unk_token or tokenizer.pad_token
    # A word the tokenizer drops entirely would lose its label: XTREME substitutes <unk>.
    sentences = [[w if w.strip() else unk for w in ex.tokens] for ex in examples]
    nonempty = [i for i, words in enumerate(sentences) if words]
    enc = tokenizer([sentences[i] for i in nonempty], is_split_into_words=True, add_special_tokens=False) \
        if nonempty else None
    plans: list[tuple[int, list[tuple[int, int]]]] = []
    for k, i in enumerate(nonempty):
        words = sentences[i]
        n_pieces = [0] * len(words)
        for w in enc.word_ids(k):
            if w is not None:
                n_pieces[w] += 1
        # As XTREME's *_tokenize_preprocess: a word longer than the whole window (or one that
        # yields no piece at all) becomes <unk>, so every word keeps exactly one labelled subword.
        for w, n in enumerate(n_pieces):
            if n > budget or n == 0:
                words[w], n_pieces[w] = unk, 1
        # Greedy chunks of whole words, each within the window.
        chunks: list[tuple[int, int]] = []
        start, used = 0, 0
        for w, n in enumerate(n_pieces):
            if used + n > budget and w > start:
                chunks.append((start, w))
                start, used = w, 0
            used += n
        if start < len(words):
            chunks.append((start, len(words)))
        plans.append((i, chunks))
    # Encode every chunk's words with the model's own special tokens, all chunks in one call.
    chunk_words = [sentences[i][w0:w1] for i, chunks in plans for w0, w1 in chunks]
    cenc = tokenizer(chunk_words, is_split_into_words=True, truncation=True, max_length=cfg.max_seq_length) \
        if chunk_words else None
    feats = []
    c = 0
    for i, chunks in plans:
        ex = examples[i]
        for w0, _ in chunks:
            labels, words_here = [], []
            wids = cenc.word_ids(c)
            if cfg.label_subword == "last":
                # the piece whose successor belongs to another word (or is a special token)
                marks = [w is not None and (k + 1 == len(wids) or wids[k + 1] != w) for k, w in enumerate(wids)]
            else:
                marks = [w is not None and (k == 0 or wids[k - 1] != w) for k, w in enumerate(wids)]
            for w, mark in zip(wids, marks, strict=True):
                if mark:
                    tag = ex.tags[w0 + w] if ex.tags is not None else None
                    if tag is not None and tag not in label2id:
                        raise InputError(f"task {task.name}: sentence {ex.id} has tag {tag!r}, not one of "
                                         f"{task.labels}")
                    # an untagged word of a tagged sentence (a pseudo-tag too unsure to keep) is not learnt from
                    labels.append(label2id[tag] if tag is not None else -100)
                    words_here.append(w0 + w)
                else:
                    labels.append(-100)
                    words_here.append(-1)
            f = {"input_ids": cenc["input_ids"][c], "attention_mask": cenc["attention_mask"][c], "example": i,
                 "word_index": words_here}
            if suffixes is not None:
                # the words as given (not the <unk> stand-ins), so an over-long word keeps its ending
                words = keyed_words(ex.tokens, ex.written, suffixes.spelling)
                f["suffix_ids"] = [suffixes.ids(words[w]) if w >= 0 else [0] * suffixes.max_len
                                   for w in words_here]
            if ex.tags is not None:
                f["labels"] = labels
            feats.append(f)
            c += 1
    return feats


def qa_features(examples: Sequence[QAExample], tokenizer, cfg: FinetuneConfig, train: bool) -> list[dict]:
    """Sliding windows over the context; training windows without the answer point at the CLS token."""
    questions = []
    for e in examples:
        toks = tokenizer.tokenize(e.question.lstrip())
        questions.append(tokenizer.convert_tokens_to_string(toks[:cfg.max_query_length])
                         if len(toks) > cfg.max_query_length else e.question.lstrip())
    # The stride must stay below the room left for context after the (capped) question; the margin
    # absorbs re-tokenisation differences of a question cut at max_query_length pieces.
    room = cfg.max_seq_length - cfg.max_query_length - tokenizer.num_special_tokens_to_add(pair=True) - 8
    if room < 16:
        raise InputError(f"finetune.max_seq_length={cfg.max_seq_length} leaves no room for context after "
                         f"max_query_length={cfg.max_query_length}; raise max_seq_length")
    enc = tokenizer(questions, [e.context for e in examples], truncation="only_second",
                    max_length=cfg.max_seq_length, stride=min(cfg.doc_stride, room - 1),
                    return_overflowing_tokens=True, return_offsets_mapping=True, padding=False)
    feats = []
    for j in range(len(enc["input_ids"])):
        i = enc["overflow_to_sample_mapping"][j]
        seq_ids = enc.sequence_ids(j)
        offsets = [o if seq_ids[k] == 1 else None for k, o in enumerate(enc["offset_mapping"][j])]
        f = {"input_ids": enc["input_ids"][j], "attention_mask": enc["attention_mask"][j], "example": i,
             "offsets": offsets}
        if train:
            ex = examples[i]
            start_pos = end_pos = 0
            if ex.answers:
                a_start = ex.answer_starts[0]
                a_end = a_start + len(ex.answers[0])
                ctx = [k for k, o in enumerate(offsets) if o is not None]
                if ctx and offsets[ctx[0]][0] <= a_start and offsets[ctx[-1]][1] >= a_end:
                    start_pos = next(k for k in ctx if offsets[k][1] > a_start)
                    end_pos = next(k for k in reversed(ctx) if offsets[k][0] < a_end)
            f["start_positions"], f["end_positions"] = start_pos, end_pos
        feats.append(f)
    return feats


def make_features(task: Task, examples: Sequence, tokenizer, cfg: FinetuneConfig, train: bool,
                  suffixes: SuffixVocab | None = None) -> list[dict]:
    """`suffixes`: a tagger's suffix vocabulary (`SuffixTagger.vocab`), None for a plain model."""
    if task.kind == "classification":
        return classification_features(examples, tokenizer, task, cfg)
    if task.kind == "token_classification":
        return token_features(examples, tokenizer, task, cfg, suffixes)
    return qa_features(examples, tokenizer, cfg, train)


MODEL_KEYS = ("input_ids", "attention_mask", "suffix_ids", "labels", "start_positions", "end_positions")


def collate(feats: Sequence[dict], pad_id: int):
    import torch

    width = max(len(f["input_ids"]) for f in feats)
    batch: dict[str, Any] = {
        "input_ids": torch.tensor([f["input_ids"] + [pad_id] * (width - len(f["input_ids"])) for f in feats]),
        "attention_mask": torch.tensor([f["attention_mask"] + [0] * (width - len(f["attention_mask"])) for f in feats]),
    }
    if "suffix_ids" in feats[0]:
        none = [0] * len(feats[0]["suffix_ids"][0])
        batch["suffix_ids"] = torch.tensor([f["suffix_ids"] + [none] * (width - len(f["suffix_ids"])) for f in feats])
    if "labels" in feats[0]:
        if isinstance(feats[0]["labels"], list):
            batch["labels"] = torch.tensor([f["labels"] + [-100] * (width - len(f["labels"])) for f in feats])
        else:
            batch["labels"] = torch.tensor([f["labels"] for f in feats])
    for key in ("start_positions", "end_positions"):
        if key in feats[0]:
            batch[key] = torch.tensor([f[key] for f in feats])
    return batch


# ---------------------------------------------------------------------------------------------------
# Prediction
# ---------------------------------------------------------------------------------------------------

def predict(task: Task, net, tokenizer, examples: Sequence, cfg: FinetuneConfig,
            feats: list[dict] | None = None, confidence: bool = False) -> list:
    """Per example, in input order: a label (classification), a tag list (tagging) or an answer string (QA).
    `feats`: `make_features(task, examples, tokenizer, cfg, train=False)` made once by a caller that
    predicts the same examples again (the dev set at every evaluation). `confidence` (tagging): each
    example as (tags, the model's probability of each tag)."""
    import torch

    if feats is None:  # the suffix features are the model's own (its vocabulary), not the settings'
        feats = make_features(task, examples, tokenizer, cfg, train=False, suffixes=getattr(net, "vocab", None))
    device = next(net.parameters()).device
    net.eval()
    outputs: list[Any] = []
    order = sorted(range(len(feats)), key=lambda j: len(feats[j]["input_ids"]))
    results: list[Any] = [None] * len(feats)
    with torch.inference_mode():
        for start in range(0, len(order), cfg.eval_batch_size):
            idx = order[start:start + cfg.eval_batch_size]
            batch = collate([{k: feats[j][k] for k in ("input_ids", "attention_mask", "suffix_ids") if k in feats[j]}
                             for j in idx], tokenizer.pad_token_id)
            out = net(**{k: v.to(device) for k, v in batch.items()})
            if task.kind == "qa":
                s, e = out.start_logits.float().cpu().numpy(), out.end_logits.float().cpu().numpy()
                for r, j in enumerate(idx):
                    n = len(feats[j]["input_ids"])
                    results[j] = (s[r, :n], e[r, :n])
            elif task.kind == "classification":
                logits = out.logits.float().cpu().numpy()
                for r, j in enumerate(idx):
                    results[j] = logits[r]
            else:
                logits = out.logits.float()
                tags = logits.argmax(-1).cpu().numpy()  # first maximum, as numpy's argmax
                probs = logits.softmax(-1).amax(-1).cpu().numpy() if confidence else None
                for r, j in enumerate(idx):
                    n = len(feats[j]["input_ids"])
                    results[j] = (tags[r, :n], probs[r, :n] if probs is not None else None)
    if task.kind == "classification":
        outputs = [task.labels[int(np.argmax(results[j]))] for j in range(len(feats))]
    elif task.kind == "token_classification":
        tags: list[list[str | None]] = [[None] * len(ex.tokens) for ex in examples]
        confs = [[0.0] * len(ex.tokens) for ex in examples] if confidence else None
        for j, f in enumerate(feats):
            ids, probs = results[j]
            for pos, w in enumerate(f["word_index"]):
                if w >= 0:
                    tags[f["example"]][w] = task.labels[int(ids[pos])]
                    if confs is not None:
                        confs[f["example"]][w] = float(probs[pos])
        # Words with no subword at all (rare) fall back to the first label ("O" for NER), confidence 0.
        outputs = [[t if t is not None else task.labels[0] for t in sent] for sent in tags]
        if confs is not None:
            outputs = list(zip(outputs, confs, strict=True))
    else:
        outputs = qa_postprocess(examples, feats, results, cfg)
    return outputs


def qa_postprocess(examples: Sequence[QAExample], feats: Sequence[dict], logits: Sequence, cfg: FinetuneConfig
                   ) -> list[str]:
    """SQuAD-style: best (start + end) logit span inside the context over all windows of an example."""
    best: list[tuple[float, str]] = [(-math.inf, "") for _ in examples]
    for f, (start_logits, end_logits) in zip(feats, logits, strict=True):
        offsets = f["offsets"]
        starts = np.argsort(-start_logits)[:cfg.n_best]
        ends = np.argsort(-end_logits)[:cfg.n_best]
        i = f["example"]
        for s in starts:
            if s >= len(offsets) or offsets[s] is None:
                continue
            for e in ends:
                if e >= len(offsets) or offsets[e] is None or e < s or e - s + 1 > cfg.max_answer_length:
                    continue
                score = float(start_logits[s] + end_logits[e])
                if score > best[i][0]:
                    best[i] = (score, examples[i].context[offsets[s][0]:offsets[e][1]])
    return [text for _, text in best]


def references(task: Task, examples: Sequence) -> Any:
    """Gold in the shape the metric wants; None if the split carries no labels."""
    if task.kind == "qa":
        gold = {e.id: e.answers for e in examples if e.answers}
        return gold or None
    if task.kind == "classification":
        return None if any(e.label is None for e in examples) else [e.label for e in examples]
    return None if any(e.tags is None for e in examples) else [e.tags for e in examples]


def score(task: Task, predictions: list, examples: Sequence, lang: str) -> dict[str, float] | None:
    gold = references(task, examples)
    if gold is None:
        return None
    if task.kind == "qa":
        return compute(task.metric, {e.id: p for e, p in zip(examples, predictions, strict=True)}, gold, lang=lang)
    return compute(task.metric, predictions, gold, lang=lang)


# ---------------------------------------------------------------------------------------------------
# Training loop
# ---------------------------------------------------------------------------------------------------

@dataclass
class FinetuneResult:
    model_dir: Path  # the best-on-dev model (loads with from_pretrained)
    dev_scores: dict[str, float]
    dev_primary: float
    steps: int
    resumed_from: int


def subsample(examples: list, n: int, seed: int) -> list:
    if n <= 0 or n >= len(examples):
        return list(examples)
    keep = sorted(random.Random(seed).sample(range(len(examples)), n))
    return [examples[i] for i in keep]


def training_examples(task: Task, train: list, cfg: FinetuneConfig) -> list:
    """What `finetune` trains on: its subsample of `train` (drawn with its seed) with its `script_augment`
    rewrites; self-training's student starts from the same sentences."""
    train = subsample(train, cfg.max_train_examples, cfg.seed)
    if cfg.script_augment and task.kind == "token_classification":
        train = augment(train, cfg.script_augment, cfg.seed + 2)
    return train


# How a run's `selection` (results.json, reports) begins when its kept model is a checkpoint average.
AVERAGED = "checkpoint averaging"

FINETUNE_OUTPUTS = ("checkpoints", "best", "metrics.jsonl", *TRACKING_OUTPUTS)


def epoch_batches(lengths: Sequence[int], batch_size: int, seed: int, epoch: int, group_by_length: bool,
                  group: int = 50) -> list[np.ndarray]:
    """The batches of one epoch, a function of (seed, epoch) only so a resumed run sees the same ones.
    With `group_by_length` the shuffled examples are cut into runs of `group` batches, each run sorted
    by length before it is cut into batches, and the batch order is shuffled again (as HF Trainer's
    LengthGroupedSampler): batches hold similar lengths, yet every epoch's order differs. The number of
    batches is ceil(n / batch_size) either way."""
    perm = np.random.default_rng(seed + epoch).permutation(len(lengths))
    if not group_by_length:
        return [perm[i:i + batch_size] for i in range(0, len(perm), batch_size)]
    span = group * batch_size
    batches: list[np.ndarray] = []
    for i in range(0, len(perm), span):
        run = perm[i:i + span]
        # stable sort, longest first: the first batch of a run shows the peak memory early
        run = run[np.argsort([-lengths[j] for j in run], kind="stable")]
        batches += [run[k:k + batch_size] for k in range(0, len(run), batch_size)]
    order = np.random.default_rng([seed, epoch, 1]).permutation(len(batches))
    return [batches[o] for o in order]


def finetune_stage(task: Task, model: str, n_train: int, n_dev: int, run_dir: Path, cfg: FinetuneConfig) -> Stage:
    """The fine-tuning run's stage contract (`xling.core.stage`): a run folder belongs to one set of
    settings; resuming it with others would mix two runs."""
    config = {"task": task.name, "model": model, "train_examples": n_train, "dev_examples": n_dev,
              **recorded_settings(cfg)}
    inputs = {"model": model if Path(model).exists() else None}
    return Stage(StageSpec("finetune", run_dir, config, inputs, FINETUNE_OUTPUTS, ignore=("report_to",)))


def finetune(task: Task, model: str, train: list, dev: list, run_dir: str | Path,
             cfg: FinetuneConfig | None = None, dev_lang: str = "en", force: bool = False) -> FinetuneResult:
    """Fine-tune `model` on `train`, keep the best model on `dev` (the final one when `dev` is empty);
    resumes from `run_dir` if interrupted. A finished run with the same settings is reused; other
    settings are refused unless `force`."""
    import torch

    cfg = cfg or FinetuneConfig()
    run_dir = Path(run_dir)
    stage = finetune_stage(task, model, len(train), len(dev), run_dir, cfg)
    if stage.begin(force) == "finished":
        info = stage.result()
        log.info("%s: fine-tuning already finished (%s), reusing %s", task.name, stage.path, run_dir / "best")
        return FinetuneResult(run_dir / "best", info["dev_scores"], info["dev_primary"], info["steps"], info["steps"])
    train = training_examples(task, train, cfg)
    dev = subsample(dev, cfg.max_dev_examples, cfg.seed + 1)

    # verified (sha256 of every file) before anything of it is used, weights included
    ckpt, state = resume_training(run_dir / "checkpoints", None)
    # Seeded before the head is initialised, so a run is reproducible (a resumed one restores the RNG below).
    torch.manual_seed(cfg.seed)
    tokenizer, net = load_model(task, str(ckpt.path) if ckpt else model)
    check_length(net, cfg, model)
    # (a tagger that already has them, the teacher of a self-training run, keeps its own)
    if cfg.suffix_features and task.kind == "token_classification" and ckpt is None \
            and not isinstance(net, SuffixTagger):
        vocab = SuffixVocab.build((w for ex in train for w in ex.tokens), cfg.suffix_features, cfg.suffix_spelling)
        log.info("%s: %d suffix features (endings of 1..%d characters, %s spelling) from the training set",
                 task.name, len(vocab), cfg.suffix_features, cfg.suffix_spelling)
        net = SuffixTagger(net, vocab, dropout=cfg.suffix_dropout)  # created after the head, under the same seed
    if cfg.dropout is not None:
        set_dropout(net, cfg.dropout)
    if cfg.freeze_layers:
        log.info("%s: %d parameters frozen (finetune.freeze_layers=%d)", task.name,
                 freeze_bottom(net, cfg.freeze_layers, model), cfg.freeze_layers)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    net.to(device)
    suffixes = getattr(net, "vocab", None)
    feats = make_features(task, train, tokenizer, cfg, train=True, suffixes=suffixes)
    if not feats:
        raise InputError(f"task {task.name}: no training features (empty training set?)")
    steps_per_epoch = math.ceil(len(feats) / cfg.batch_size)
    total = cfg.max_steps if cfg.max_steps > 0 else max(1, math.ceil(cfg.epochs * steps_per_epoch))
    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight")
    trainable = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
    # the suffix table in a group of its own only when its rate differs (the groups are in the
    # optimizer's saved state, which a checkpoint written without this setting must still match)
    scaled = ("suffix.weight",) if cfg.suffix_lr_scale != 1.0 else ()
    params = [{"params": [p for n, p in trainable if not any(k in n for k in no_decay) and n not in scaled],
               "weight_decay": cfg.weight_decay},
              {"params": [p for n, p in trainable if any(k in n for k in no_decay)],
               "weight_decay": 0.0}]
    if scaled:
        params.append({"params": [p for n, p in trainable if n in scaled], "weight_decay": cfg.weight_decay,
                       "lr_scale": cfg.suffix_lr_scale})
    # The fused kernel (one pass over all parameters, also on CPU) instead of the per-tensor loop
    # that torch picks on CPU; it computes the same update up to float rounding.
    optim = torch.optim.AdamW(params, lr=cfg.learning_rate, fused=True)
    warmup = int(cfg.warmup_ratio * total)
    optimizer_step = OptimizerStep(optim, [p for _, p in trainable], lambda s: lr_at(
        s, lr=cfg.learning_rate, warmup_steps=warmup, total_steps=total, schedule="linear"), cfg.max_grad_norm)

    step, best, best_scores = 0, -math.inf, {}
    average = WeightAverage()
    if ckpt is not None:
        optim.load_state_dict(state["optimizer"])
        restore_rng(state["rng"])
        data = state["data"]
        step, best, best_scores = int(data["step"]), float(data["best_dev_primary"]), data["best_dev_scores"]
        if cfg.average_every:
            average = WeightAverage.from_state(state.get("average"))
        log.info("%s: resuming fine-tuning from %s (step %d of %d)", task.name, ckpt.path, step, total)
    resumed_from = step
    eval_every = cfg.eval_every if cfg.eval_every > 0 else total
    save_every = cfg.save_every if cfg.save_every > 0 else eval_every

    dev_feats: list[dict] = []

    def evaluate() -> tuple[dict[str, float], float]:
        if not dev:  # no dev split (TyDiQA, as in XTREME): nothing to select on, the final model is kept
            return {}, -math.inf
        if not dev_feats:  # tokenised once for all of the run's evaluations
            dev_feats.extend(make_features(task, dev, tokenizer, cfg, train=False, suffixes=suffixes))
        preds = predict(task, net, tokenizer, dev, cfg, dev_feats)
        scores = score(task, preds, dev, dev_lang) or {}
        net.train()
        return scores, (primary_score(task.metric, scores) if scores else -math.inf)

    net.train()
    metrics = MetricsLog(run_dir, step, report_to=cfg.report_to, run_name=f"{task.name}/{run_dir.name}",
                         config={"task": task.name, "model": model, **asdict(cfg)}, kind="finetune")
    bar = tqdm(total=total, initial=step, desc=f"fine-tune {task.name}", unit="step", leave=False, disable=None)
    lengths = [len(f["input_ids"]) for f in feats]
    batches: dict[int, list[np.ndarray]] = {}
    while step < total:
        epoch, pos = divmod(step, steps_per_epoch)
        if epoch not in batches:
            batches = {epoch: epoch_batches(lengths, cfg.batch_size, cfg.seed, epoch, cfg.group_by_length)}
        batch_idx = batches[epoch][pos]
        batch = collate([{k: feats[j][k] for k in MODEL_KEYS if k in feats[j]} for j in batch_idx],
                        tokenizer.pad_token_id)
        losses: list[float] = []

        def micro(_: int, batch: dict = batch, losses: list = losses):
            loss = net(**{k: v.to(device) for k, v in batch.items()}).loss
            losses.append(loss.item())
            return loss

        lr, _ = optimizer_step(step, micro)
        step += 1
        if cfg.average_every and (step % cfg.average_every == 0 or step == total) \
                and step > cfg.average_from * total:
            average.add(net)
        metrics.write({"step": step, "loss": losses[0], "lr": lr})
        bar.update(1)
        bar.set_postfix(loss=f"{losses[0]:.4f}")
        if step % eval_every == 0 or step == total:
            scores, primary = evaluate()
            log.info("%s step %d: dev(%s) %s", task.name, step, dev_lang, scores)
            metrics.write({"step": step, f"dev_{dev_lang}": scores})
            if primary > best or not dev or not (run_dir / "best").is_dir():
                best, best_scores = primary, scores
                if not cfg.average_every:
                    _keep(run_dir, net, tokenizer, {"step": step, "dev_scores": scores, "dev_primary": primary})
        if step % save_every == 0 or step == total:
            _save_checkpoint(run_dir, step, net, tokenizer, optim, best, best_scores,
                             average if cfg.average_every else None)
    bar.close()
    result = {"steps": step, "dev_scores": best_scores, "dev_primary": best, "train_examples": len(train),
              "dev_examples": len(dev)}
    if cfg.average_every:
        # after the last checkpoint, so a kill here redoes only this: the same average, the same model
        average.apply(net)
        scores, primary = evaluate()
        log.info("%s: average of %d checkpoints (every %d steps): dev(%s) %s; best single checkpoint %s",
                 task.name, average.n, cfg.average_every, dev_lang, scores, best_scores)
        metrics.write({"step": step, f"dev_{dev_lang}_averaged": scores, "averaged_checkpoints": average.n})
        _keep(run_dir, net, tokenizer, {"step": step, "dev_scores": scores, "dev_primary": primary,
                                        "averaged_checkpoints": average.n, "average_every": cfg.average_every,
                                        "average_from": cfg.average_from,
                                        "best_single": {"dev_scores": best_scores, "dev_primary": best}})
        result.update(dev_scores=scores, dev_primary=primary, averaged_checkpoints=average.n,
                      best_single_dev_primary=best)
        best_scores, best = scores, primary
    metrics.close()
    stage.finish(result)
    return FinetuneResult(run_dir / "best", best_scores, best, step, resumed_from)


class WeightAverage:
    """The running uniform mean of a model's floating-point weights (integer buffers are left alone)."""

    def __init__(self, n: int = 0, weights: dict | None = None) -> None:
        self.n, self.weights = n, dict(weights or {})

    @classmethod
    def from_state(cls, state: dict | None) -> WeightAverage:
        if not state:
            return cls()
        return cls(int(state["n"]), state["weights"])

    def add(self, net) -> None:
        self.n += 1
        for name, value in net.state_dict().items():
            if not value.is_floating_point():
                continue
            v = value.detach().float()
            if name not in self.weights:
                self.weights[name] = v.clone()
            else:  # incremental mean: the same numbers whether or not a resume split the run
                self.weights[name] += (v - self.weights[name]) / self.n

    def apply(self, net) -> None:
        if not self.n:
            return
        own = net.state_dict()
        net.load_state_dict({k: self.weights[k].to(v.dtype) if k in self.weights else v for k, v in own.items()})

    def state(self) -> dict:
        return {"n": self.n, "weights": self.weights}


def _keep(run_dir: Path, net, tokenizer, meta: dict) -> None:
    """`RUN/best/`: the model fine-tuning keeps (loads with from_pretrained), written atomically."""
    with atomic_path(run_dir / "best") as tmp:
        net.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_json_atomic(tmp / "meta.json", meta)


def _save_checkpoint(run_dir: Path, step: int, net, tokenizer, optim, best: float, best_scores: dict,
                     average: WeightAverage | None = None) -> None:
    def write_model(folder: Path) -> None:
        net.save_pretrained(folder)  # model.safetensors + config.json: a checkpoint loads with from_pretrained
        tokenizer.save_pretrained(folder)

    save_training(run_dir / "checkpoints", step, None, optim.state_dict(),
                  {"best_dev_primary": best, "best_dev_scores": best_scores}, keep_last=1, write_extra=write_model,
                  extra={"average": average.state()} if average is not None else None)
