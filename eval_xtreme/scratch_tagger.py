"""`baseline:char-bilstm`: a POS tagger trained from scratch on the source treebank, no pretrained model.

The lookups (`baseline:mft`, `baseline:mft-turkic`) say what word identity and endings alone give. This
baseline says what *learning* the source gives without pretraining: the classic neural tagger of Plank,
Søgaard & Goldberg (ACL 2016) — each word is a vector of its own (words seen at least twice in training,
others the unknown vector, and training words dropped to it now and then so it learns to tag them) joined
with a character BiLSTM over its spelling; a two-layer BiLSTM reads the sentence; a linear layer tags.
It reads words exactly as the lookups do (the transliteration view, and the Turkic spelling beside a
tagger fine-tuned with `suffix_spelling: turkic`), so beside the fine-tuned model it answers the
question a pretrained encoder has to answer for tagging transfer: does it add anything over characters
learned on the source alone? On English-EWT's whole dev split it reaches 92.6 F1, above the recipes'
fine-tuned 5 M-parameter encoders (89.2–90.6); on Turkish-IMST 85.3, level with them (docs/experiments.md).

Training is a fixed number of updates (`ScratchTaggerConfig.max_steps`, the same cost for every source
treebank) with the kept state chosen on the source's dev split, as fine-tuning chooses its checkpoint.
Everything is seeded: the same data and settings give the same tagger.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .metrics import compute

PAD, UNK = 0, 1
# Character ids 2 and 3 mark a capitalised / lower-case word ahead of its letters (case, not spelling).
_UPPER, _LOWER, _FIRST_CHAR = 2, 3, 4


@dataclass(frozen=True)
class ScratchTaggerConfig:
    char_dim: int = 32
    char_hidden: int = 64  # per direction
    word_dim: int = 100
    hidden: int = 128  # per direction, each of `layers` sentence BiLSTM layers
    layers: int = 2
    dropout: float = 0.33
    word_dropout: float = 0.25  # training words replaced by the unknown word, so unknown words get tagged
    min_word_count: int = 2  # rarer training words share the unknown vector
    max_chars: int = 24  # longer words: their first 24 letters
    learning_rate: float = 2e-3
    batch_size: int = 32
    max_steps: int = 2200  # ≈ 20 passes over IMST (3,435 sentences), ≈ 6 over English-EWT
    eval_every: int = 220
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("char_dim", "char_hidden", "word_dim", "hidden", "layers", "max_chars", "batch_size",
                     "max_steps", "eval_every", "min_word_count"):
            if getattr(self, name) < 1:
                raise ValueError(f"scratch tagger: {name} must be >= 1, got {getattr(self, name)}")
        for name in ("dropout", "word_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"scratch tagger: {name} must be in [0, 1), got {getattr(self, name)}")


class ScratchTagger(nn.Module):
    """Word vector + character BiLSTM per word → sentence BiLSTM → tag logits."""

    def __init__(self, words: dict[str, int], chars: dict[str, int], tags: list[str],
                 cfg: ScratchTaggerConfig) -> None:
        super().__init__()
        self.words, self.chars, self.tags, self.cfg = words, chars, tags, cfg
        self.char_emb = nn.Embedding(len(chars) + _FIRST_CHAR, cfg.char_dim, padding_idx=PAD)
        self.char_lstm = nn.LSTM(cfg.char_dim, cfg.char_hidden, batch_first=True, bidirectional=True)
        self.word_emb = nn.Embedding(len(words) + 2, cfg.word_dim, padding_idx=PAD)
        self.lstm = nn.LSTM(cfg.word_dim + 2 * cfg.char_hidden, cfg.hidden, num_layers=cfg.layers,
                            batch_first=True, bidirectional=True, dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        self.drop = nn.Dropout(cfg.dropout)
        self.out = nn.Linear(2 * cfg.hidden, len(tags))

    def encode(self, tokens: Sequence[str]) -> tuple[list[int], list[list[int]]]:
        word_ids = [self.words.get(w.lower(), UNK) for w in tokens]
        char_ids = [[_UPPER if w[:1].isupper() else _LOWER]
                    + [self.chars.get(c, UNK) for c in w.lower()[:self.cfg.max_chars]] for w in tokens]
        return word_ids, char_ids

    def forward(self, batch: Sequence[tuple[list[int], list[list[int]]]]) -> tuple[torch.Tensor, list[int]]:
        lengths = [len(w) for w, _ in batch]
        chars = [torch.tensor(c) for _, cs in batch for c in cs]
        packed = nn.utils.rnn.pack_padded_sequence(
            self.char_emb(nn.utils.rnn.pad_sequence(chars, batch_first=True)), [len(c) for c in chars],
            batch_first=True, enforce_sorted=False)
        _, (h, _) = self.char_lstm(packed)
        per_word = torch.cat([h[0], h[1]], dim=-1)
        char_vecs = nn.utils.rnn.pad_sequence(list(torch.split(per_word, lengths)), batch_first=True)
        word_ids = nn.utils.rnn.pad_sequence([torch.tensor(w) for w, _ in batch], batch_first=True)
        if self.training and self.cfg.word_dropout > 0:
            dropped = (torch.rand(word_ids.shape) < self.cfg.word_dropout) & (word_ids != PAD)
            word_ids = word_ids.masked_fill(dropped, UNK)
        x = self.drop(torch.cat([self.word_emb(word_ids), char_vecs], dim=-1))
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        hidden, _ = nn.utils.rnn.pad_packed_sequence(self.lstm(packed)[0], batch_first=True)
        return self.out(self.drop(hidden)), lengths

    def tag(self, tokens: Sequence[str]) -> list[str]:
        return self.tag_all([tokens])[0]

    def tag_all(self, sentences: Sequence[Sequence[str]], batch_size: int = 64) -> list[list[str]]:
        was_training = self.training
        self.eval()
        out: list[list[str]] = []
        with torch.inference_mode():
            for start in range(0, len(sentences), batch_size):
                chunk = [list(s) for s in sentences[start:start + batch_size]]
                nonempty = [i for i, s in enumerate(chunk) if s]
                tagged: list[list[str]] = [[] for _ in chunk]
                if nonempty:
                    logits, lengths = self([self.encode(chunk[i]) for i in nonempty])
                    best = logits.argmax(-1).tolist()
                    for row, i in enumerate(nonempty):
                        tagged[i] = [self.tags[k] for k in best[row][:lengths[row]]]
                out.extend(tagged)
        self.train(was_training)
        return out


Sentences = Sequence[tuple[Sequence[str], Sequence[str]]]


def train_scratch_tagger(train: Sentences, dev: Sentences | None = None,
                         cfg: ScratchTaggerConfig | None = None,
                         log: Callable[[str], None] | None = None) -> ScratchTagger:
    """A tagger trained on `train` ((tokens, tags) pairs); with `dev`, the state with the best dev score
    among the evaluations every `eval_every` updates (ties: the earlier), else the last. The score is
    seqeval F1 over the tags, which is XTREME's UD-POS number and, on IOB2 tags, entity F1 for NER."""
    cfg = cfg or ScratchTaggerConfig()
    train = [(list(t), list(g)) for t, g in train if t]
    if not train:
        raise ValueError("scratch tagger: the training data has no tagged sentences")
    for i, (tokens, tags) in enumerate(train):
        if len(tokens) != len(tags):
            raise ValueError(f"scratch tagger: training sentence {i} has {len(tokens)} words but {len(tags)} tags")
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    counts = Counter(w.lower() for tokens, _ in train for w in tokens)
    words = {w: i + 2 for i, w in enumerate(sorted(w for w, n in counts.items() if n >= cfg.min_word_count))}
    chars = {c: i + _FIRST_CHAR for i, c in enumerate(sorted({c for w in counts for c in w}))}
    tags = sorted({t for _, g in train for t in g})
    index = {t: i for i, t in enumerate(tags)}
    model = ScratchTagger(words, chars, tags, cfg)
    examples = [(model.encode(tokens), torch.tensor([index[t] for t in g])) for tokens, g in train]
    dev = [(list(t), list(g)) for t, g in dev if t] if dev else []
    opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    best: tuple[float, dict[str, torch.Tensor]] | None = None
    order: list[int] = []
    model.train()
    for step in range(1, cfg.max_steps + 1):
        if len(order) < cfg.batch_size:
            more = list(range(len(examples)))
            rng.shuffle(more)
            order.extend(more)
        batch = [examples[i] for i in order[:cfg.batch_size]]
        del order[:cfg.batch_size]
        logits, _ = model([x for x, _ in batch])
        gold = nn.utils.rnn.pad_sequence([y for _, y in batch], batch_first=True, padding_value=-100)
        loss = nn.functional.cross_entropy(logits.reshape(-1, len(tags)), gold.reshape(-1), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        if dev and (step % cfg.eval_every == 0 or step == cfg.max_steps):
            f1 = compute("pos_accuracy", model.tag_all([t for t, _ in dev]), [g for _, g in dev])["f1"]
            if log:
                log(f"scratch tagger: step {step}/{cfg.max_steps}, loss {loss.item():.3f}, dev F1 {f1:.2f}")
            if best is None or f1 > best[0]:
                best = (f1, {k: v.detach().clone() for k, v in model.state_dict().items()})
    if best is not None:
        model.load_state_dict(best[1])
    model.eval()
    return model
