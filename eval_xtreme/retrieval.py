"""Sentence retrieval without fine-tuning: Tatoeba-style nearest neighbour and BUCC-style mining.

- Sentences are embedded by mean-pooling (over real tokens) the hidden states of one configurable
  layer of any `from_pretrained` encoder, numbered as XTREME's `--specific_layer`: layer K >= 0 is
  the output of transformer block K+1, i.e. `hidden_states[K + 1]` (XTREME keeps the last
  `num_layers` hidden states, dropping the embedding output); -1 is the last layer. XTREME's
  default `specific_layer 7` is `hidden_states[8]`.
- Tatoeba, FLORES, X-WMT: cosine nearest neighbour in both directions. XTREME's leaderboard queries
  from each (sorted) English sentence to the source side (`utils_retrieve.similarity_search` adds
  the source embeddings to the index and searches it with the English ones), so its `test-<lang>.tsv`
  holds one source index per English line; xx → en is reported beside it. A task's
  `retrieval_query` says which direction is its primary `accuracy`.
- `scoring: maxsim` (opt-in; default `cosine` is XTREME's): late interaction instead of one pooled
  vector, as BERTScore (Zhang et al. 2020) and ColBERT do. Each real token (special tokens dropped) is
  its L2-normalised hidden state at the chosen layer; a query's score for a candidate is the IDF-weighted
  mean, over the query's tokens, of each token's best cosine among the candidate's tokens, and the
  similarity of a pair is that score taken from both sides and summed (so one matrix serves both
  directions). IDF is BERTScore's, counted over the set's two sides as the char-n-gram baseline's
  TF-IDF is (unsupervised, no gold involved).
- `hubness: csls` (opt-in, any scoring): CSLS (Conneau et al. 2018), 2·s(x, y) − r(x) − r(y) with r the
  mean of a sentence's k best similarities on the other side, against "hub" sentences that are near
  every query. The runner applies it to every system of the evaluation alike (model, char-n-gram
  baseline, their hybrid), so a comparison stays like for like.
- BUCC 2018: margin-based scoring (ratio margin over the k nearest neighbours in both directions,
  Artetxe & Schwenk 2019, as XTREME's `mine_bitext` with `retrieval=max`), one-to-one greedy
  selection, and the score threshold tuned for F1 on the dev ("sample") split.

Every search takes plain embedding matrices, so tests can plug in an oracle encoder.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from xling.core.errors import InputError
from xling.core.hub import resolve_model, usable_length

from .loaders import BuccSet, RetrievalSet
from .metrics import bucc_best_threshold, retrieval_accuracy

log = logging.getLogger(__name__)

EncodeFn = Callable[[Sequence[str]], np.ndarray]
SCORINGS = ("cosine", "maxsim")
DEFAULT_LAYER_DEV_SETS = ("newstest2020_ru_en", "newstest2018_tr_en", "flores200_dev_ug_en")
HUBNESS = ("none", "csls")


@dataclass
class TokenStates:
    """Every real token's L2-normalised hidden state of a list of sentences, concatenated: sentence i
    owns rows `offsets[i]:offsets[i + 1]` of `vectors` (and of `ids`, their vocabulary ids)."""

    vectors: np.ndarray  # (tokens, hidden) float32
    ids: np.ndarray  # (tokens,) int64
    offsets: np.ndarray  # (sentences + 1,) int64

    def __len__(self) -> int:
        return len(self.offsets) - 1


@dataclass
class Encoded:
    """One forward pass over a list of sentences, kept as each scoring reads it (`Encoder.encode`)."""

    pooled: np.ndarray | None = None  # (sentences, hidden): `cosine`
    tokens: TokenStates | None = None  # `maxsim`

    def for_scoring(self, scoring: str) -> np.ndarray | TokenStates:
        got = self.pooled if scoring == "cosine" else self.tokens
        if got is None:
            raise ValueError(f"these sentences were not encoded for {scoring!r} scoring")
        return got


@dataclass
class RetrievalConfig:
    layer: int = -1  # XTREME's specific_layer: K >= 0 → hidden_states[K + 1]; -1 = last layer
    batch_size: int = 32
    max_length: int = 128
    margin_k: int = 4  # neighbours for the BUCC ratio margin (XTREME uses 4) and for CSLS
    chunk_size: int = 1024  # rows per similarity block, bounds memory on large BUCC sets
    # > 0: also report the model fused with character n-grams (`baselines.HYBRID`): this weight on the
    # model's per-query standardised cosines, 1 − it on the char-n-gram TF-IDF ones. 0: not reported.
    hybrid: float = 0.0
    # How a pair's similarity is computed (module docstring); BUCC mining always uses pooled cosines.
    scoring: str = "cosine"  # "cosine" (XTREME: mean-pooled sentence vectors) | "maxsim" (token late interaction)
    hubness: str = "none"  # "none" | "csls" (applied to every system's similarities alike)
    # Also report each model under this second scoring (e.g. "cosine", XTREME's, beside a "maxsim" main
    # search) as `model:<scoring>` in results.json's baselines; "" = not reported.
    also_scoring: str = ""
    # Choose the layer per model on retrieval dev sets (`tasks.RETRIEVAL_DEV`), never on a test set:
    # the candidate (XTREME numbering) with the best mean top-1 over the sets, both directions, under
    # `scoring` and `hubness`, is what every retrieval task of the evaluation reads (ties: the earlier
    # candidate). Empty: `layer` as given. `xling eval` writes the choice to OUT/retrieval_layer.json.
    layer_candidates: list[int] = field(default_factory=list)
    layer_dev_sets: list[str] = field(default_factory=lambda: list(DEFAULT_LAYER_DEV_SETS))
    layer_dev_pairs: int = 500  # the first N pairs of each dev set (≤ 0: all)

    def __post_init__(self) -> None:
        if not 0.0 <= self.hybrid <= 1.0:
            raise ValueError(f"retrieval.hybrid must be in [0, 1] (the model's weight; 0 = off), got {self.hybrid}")
        if self.scoring not in SCORINGS:
            raise ValueError(f"retrieval.scoring must be one of {', '.join(SCORINGS)}, got {self.scoring!r}")
        if self.also_scoring and (self.also_scoring not in SCORINGS or self.also_scoring == self.scoring):
            raise ValueError(f"retrieval.also_scoring must be another of {', '.join(SCORINGS)} than retrieval.scoring "
                             f"({self.scoring!r}), or empty; got {self.also_scoring!r}")
        if self.hubness not in HUBNESS:
            raise ValueError(f"retrieval.hubness must be one of {', '.join(HUBNESS)}, got {self.hubness!r}")
        if len(set(self.layer_candidates)) != len(self.layer_candidates):
            raise ValueError(f"retrieval.layer_candidates has a layer twice: {self.layer_candidates}")
        if self.layer_candidates and not self.layer_dev_sets:
            raise ValueError("retrieval.layer_candidates needs at least one retrieval.layer_dev_sets entry")
        if self.margin_k < 1:
            raise ValueError(f"retrieval.margin_k must be >= 1, got {self.margin_k}")

    @property
    def plain(self) -> bool:
        """XTREME's own search: pooled cosines, no hubness correction."""
        return self.scoring == "cosine" and self.hubness == "none"


class Encoder:
    """Mean-pooled hidden states of one layer (XTREME numbering, see `hidden_state_index`) of an encoder.

    All sentences are tokenised in one batched call and encoded in batches of similar token length
    (each padded to its longest member); an encoder whose blocks are a plain `encoder.layer` list
    (BERT, RoBERTa, XLM-R) keeps only the blocks up to the chosen layer, so layer K costs K + 1
    blocks, and the chosen layer is read as the last hidden state instead of keeping all of them."""

    # block lists known to end in the layer's output itself (no final norm applied after the last block)
    TRUNCATABLE = ("bert", "roberta", "xlm-roberta", "camembert")

    def __init__(self, model: str, layer: int = -1, max_length: int = 128, batch_size: int = 32,
                 device: str | None = None) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        where = resolve_model(model)  # a Hub id without network fails here at once, not after retries
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(where)
            self.model = AutoModel.from_pretrained(where)
        except (OSError, ValueError) as e:
            raise InputError(f"model {model}: cannot load an encoder and tokenizer with from_pretrained ({e})") \
                from None
        n_layers = self.n_layers = int(getattr(self.model.config, "num_hidden_layers", 0))
        self.hidden_index = hidden_state_index(layer, n_layers, model)
        _check_vocab(model, self.tokenizer, self.model)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device).eval()
        blocks = getattr(getattr(self.model, "encoder", None), "layer", None)
        # blocks after the chosen one are never read: drop them (the pooler too, on the last hidden state)
        self.truncated = self.model.config.model_type in self.TRUNCATABLE and isinstance(blocks, torch.nn.ModuleList) \
            and len(blocks) == n_layers
        if self.truncated:
            keep = self.hidden_index if self.hidden_index >= 0 else n_layers + 1 + self.hidden_index
            self.model.encoder.layer = blocks[:keep]
            if getattr(self.model, "pooler", None) is not None:
                self.model.pooler = None

        # Retrieval only truncates, so a too-long setting is clamped to what the position table allows.
        limit = usable_length(self.model.config)
        self.max_length = min(max_length, limit) if limit else max_length
        self.layer, self.batch_size = layer, batch_size

    def _batches(self, sentences: Sequence[str], content: bool = True, indices: Sequence[int] | None = None):
        """(sentence indices, hidden states (batch, width, hidden) — one per `hidden_states` index of
        `indices`, or just this encoder's layer —, attention mask, the mask less [CLS]/[SEP]-like tokens
        (None unless `content`), input ids) per batch of similar length."""
        import torch

        enc = self.tokenizer(list(sentences), truncation=True, max_length=self.max_length,
                             return_special_tokens_mask=content)
        ids = enc["input_ids"]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        pad = self.tokenizer.pad_token_id
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                width = len(ids[idx[-1]])
                input_ids = torch.full((len(idx), width), pad, dtype=torch.long)
                mask = torch.zeros((len(idx), width), dtype=torch.long)
                for r, i in enumerate(idx):
                    input_ids[r, :len(ids[i])] = torch.tensor(ids[i])
                    mask[r, :len(ids[i])] = 1
                real = None
                if content:
                    real = mask.clone()
                    for r, i in enumerate(idx):
                        real[r, :len(ids[i])] -= torch.tensor(enc["special_tokens_mask"][i])
                input_ids, mask = input_ids.to(self.device), mask.to(self.device)
                if indices is not None:
                    states = self.model(input_ids=input_ids, attention_mask=mask, output_hidden_states=True).hidden_states
                    hidden = [states[i].float().cpu() for i in indices]
                elif self.truncated:
                    hidden = [self.model(input_ids=input_ids, attention_mask=mask).last_hidden_state.float().cpu()]
                else:
                    hidden = [self.model(input_ids=input_ids, attention_mask=mask,
                                         output_hidden_states=True).hidden_states[self.hidden_index].float().cpu()]
                yield idx, hidden, mask.cpu(), real, input_ids.cpu()

    def encode(self, sentences: Sequence[str], scorings: Sequence[str] = ("cosine",)) -> Encoded:
        """What each of `scorings` needs of `sentences`, from one forward pass: mean-pooled vectors
        (`cosine`, XTREME's: special tokens included) and/or token states (`maxsim`: each real token,
        special tokens left out, L2-normalised)."""
        return self._encode(sentences, scorings, None)[0]

    def encode_layers(self, sentences: Sequence[str], layers: Sequence[int],
                      scorings: Sequence[str] = ("cosine",)) -> dict[int, Encoded]:
        """`encode` at each of `layers` (XTREME numbering) from one forward pass per batch, for an encoder
        built at its last layer (-1: every block kept); what choosing a layer on dev reads."""
        index = [hidden_state_index(layer, self.n_layers) for layer in layers]
        if self.truncated and len(self.model.encoder.layer) != self.n_layers:
            raise ValueError(f"encode_layers needs every block: build the Encoder at layer -1 (it reads {self.layer})")
        return dict(zip(layers, self._encode(sentences, scorings, index), strict=True))

    def _encode(self, sentences: Sequence[str], scorings: Sequence[str], indices: Sequence[int] | None) -> list[Encoded]:
        unknown = set(scorings) - set(SCORINGS)
        if unknown:
            raise ValueError(f"unknown retrieval scoring {sorted(unknown)[0]!r} (known: {', '.join(SCORINGS)})")
        hidden_size = self.model.config.hidden_size
        n = 1 if indices is None else len(indices)
        pooled = [np.zeros((len(sentences), hidden_size), dtype=np.float32) if "cosine" in scorings else None
                  for _ in range(n)]
        empty = (np.zeros((0, hidden_size), np.float32), np.zeros(0, np.int64))
        per: list[list[tuple[np.ndarray, np.ndarray]] | None] = \
            [[empty] * len(sentences) if "maxsim" in scorings else None for _ in range(n)]
        if sentences:
            for idx, hiddens, mask, content, input_ids in self._batches(sentences, content="maxsim" in scorings, indices=indices):
                for k, hidden in enumerate(hiddens):
                    if pooled[k] is not None:
                        weights = mask.unsqueeze(-1).to(hidden.dtype)
                        pooled[k][idx] = ((hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)).numpy()
                    rows = per[k]
                    if rows is not None:
                        for r, i in enumerate(idx):
                            keep = content[r].bool()
                            rows[i] = (normalize(hidden[r][keep].numpy()),
                                       input_ids[r][keep].numpy().astype(np.int64))
        return [Encoded(pooled[k], token_states_of(rows) if (rows := per[k]) is not None else None) for k in range(n)]

    def __call__(self, sentences: Sequence[str]) -> np.ndarray:
        pooled = self.encode(sentences, ("cosine",)).pooled
        assert pooled is not None
        return pooled

    def token_states(self, sentences: Sequence[str]) -> TokenStates:
        """Each sentence's real tokens (special tokens left out), L2-normalised, for `maxsim_scores`."""
        tokens = self.encode(sentences, ("maxsim",)).tokens
        assert tokens is not None
        return tokens


def token_states_of(per_sentence: Sequence[tuple[np.ndarray, np.ndarray]]) -> TokenStates:
    """`TokenStates` from one (vectors, ids) pair per sentence (vectors used as given)."""
    lengths = [len(v) for v, _ in per_sentence]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    dim = per_sentence[0][0].shape[1] if per_sentence else 0
    vectors = np.concatenate([v for v, _ in per_sentence]).astype(np.float32) if per_sentence else \
        np.zeros((0, dim), np.float32)
    ids = np.concatenate([i for _, i in per_sentence]).astype(np.int64) if per_sentence else np.zeros(0, np.int64)
    return TokenStates(vectors, ids, offsets)


def hidden_state_index(layer: int, n_layers: int, model: str = "model", setting: str = "retrieval layer") -> int:
    """`hidden_states` index of XTREME's layer number: K >= 0 → K + 1 (index 0, the embedding output,
    is not a layer), negative K counts from the last layer (-1 → the last). `setting` names the
    option in the error (the retrieval's `layer`, the `xlco` objective's)."""
    if not -n_layers <= layer < n_layers:
        raise InputError(f"model {model}: {setting} {layer} is out of range; it has {n_layers} layers, "
                         f"numbered as XTREME's specific_layer: 0..{n_layers - 1} (K → hidden_states[K+1]) "
                         f"or -1..-{n_layers} from the last")
    return layer + 1 if layer >= 0 else layer


def _check_vocab(model: str, tokenizer, net) -> None:
    n_emb = net.get_input_embeddings().num_embeddings
    if len(tokenizer) > n_emb:
        raise InputError(f"model {model}: tokenizer has {len(tokenizer)} tokens but the model's embedding "
                         f"matrix only {n_emb}; save the tokenizer that belongs to this model")


def normalize(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


def topk_cosine(queries: np.ndarray, keys: np.ndarray, k: int, chunk_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """(similarities, indices) of the k most cosine-similar keys per query, best first; blockwise."""
    q, kk = normalize(queries), normalize(keys)
    k = min(k, len(kk))
    sims = np.zeros((len(q), k), dtype=np.float32)
    idx = np.zeros((len(q), k), dtype=np.int64)
    for start in range(0, len(q), chunk_size):
        block = q[start:start + chunk_size] @ kk.T
        part = np.argpartition(-block, k - 1, axis=1)[:, :k] if k < block.shape[1] else \
            np.tile(np.arange(block.shape[1]), (len(block), 1))
        vals = np.take_along_axis(block, part, axis=1)
        order = np.argsort(-vals, axis=1, kind="stable")
        idx[start:start + len(block)] = np.take_along_axis(part, order, axis=1)
        sims[start:start + len(block)] = np.take_along_axis(vals, order, axis=1)
    return sims, idx


def nearest_neighbours(source: np.ndarray, target: np.ndarray, chunk_size: int = 1024) -> list[int]:
    """Index of the cosine-nearest target for each source row (ties → lowest index)."""
    q, kk = normalize(source), normalize(target)
    out: list[int] = []
    for start in range(0, len(q), chunk_size):
        out.extend(int(i) for i in np.argmax(q[start:start + chunk_size] @ kk.T, axis=1))
    return out


@dataclass
class SearchResult:
    xx_en: list[int]  # per source sentence: index of its nearest English sentence
    en_xx: list[int]  # per English sentence: index of its nearest source sentence (XTREME's direction)


def similarity_search(rs: RetrievalSet, encode: EncodeFn, chunk_size: int = 1024) -> SearchResult:
    return embedding_search(encode(rs.source), encode(rs.target), chunk_size)


def embedding_search(src: np.ndarray, trg: np.ndarray, chunk_size: int = 1024) -> SearchResult:
    """Both directions' cosine nearest neighbours of already embedded sides."""
    return SearchResult(nearest_neighbours(src, trg, chunk_size), nearest_neighbours(trg, src, chunk_size))


def token_idf(*sides: TokenStates) -> dict[int, float]:
    """BERTScore's IDF of each vocabulary id over the sentences of all `sides` (one document per
    sentence): ln((1 + N) / (1 + df)) + 1, the smoothing of the char-n-gram baseline's TF-IDF."""
    df: dict[int, int] = {}
    n = 0
    for st in sides:
        for i in range(len(st)):
            for t in np.unique(st.ids[st.offsets[i]:st.offsets[i + 1]]).tolist():
                df[t] = df.get(t, 0) + 1
        n += len(st)
    return {t: float(np.log((1 + n) / (1 + c)) + 1.0) for t, c in df.items()}


def maxsim_scores(query: TokenStates, keys: TokenStates, idf: dict[int, float] | None = None,
                  block_floats: int = 1 << 25) -> np.ndarray:
    """(queries, keys) matrix: per query, the (IDF-)weighted mean over its tokens of each token's best
    cosine among the key sentence's tokens (BERTScore's precision with the query as candidate).
    A query without tokens scores 0 against everything; a key without tokens −1 (the cosine floor)."""
    out = np.zeros((len(query), len(keys)), dtype=np.float32)
    k_len = np.diff(keys.offsets)
    k_has = np.flatnonzero(k_len > 0)
    if len(k_has) < len(keys):
        out[:, k_len == 0] = -1.0
    if not len(k_has) or not len(query.vectors):
        return out
    k_starts = keys.offsets[:-1][k_has]
    weights = np.ones(len(query.ids), np.float32) if idf is None else \
        np.array([idf.get(int(t), 1.0) for t in query.ids], np.float32)
    q_len = np.diff(query.offsets)
    per_block = max(1, block_floats // max(1, len(keys.vectors)))  # query tokens per block
    i = 0
    while i < len(query):
        j = i + 1  # at least one sentence per block, however long
        while j < len(query) and query.offsets[j + 1] - query.offsets[i] <= per_block:
            j += 1
        lo, hi = int(query.offsets[i]), int(query.offsets[j])
        if hi > lo:
            best = np.maximum.reduceat(query.vectors[lo:hi] @ keys.vectors.T, k_starts, axis=1)  # (tokens, keys)
            w = weights[lo:hi]
            has = np.flatnonzero(q_len[i:j] > 0)
            starts = query.offsets[i:j][has] - lo
            sums = np.add.reduceat(best * w[:, None], starts, axis=0)
            out[i + has[:, None], k_has[None, :]] = sums / np.add.reduceat(w, starts)[:, None]
        i = j
    return out


def similarity_matrix(scoring: str, source: np.ndarray | TokenStates, target: np.ndarray | TokenStates) -> np.ndarray:
    """(source, target) similarities of one retrieval set: pooled cosines (`cosine`, arrays given) or
    the two sides' IDF-weighted MaxSim summed (`maxsim`, `TokenStates` given)."""
    if scoring == "cosine":
        assert isinstance(source, np.ndarray) and isinstance(target, np.ndarray)
        return normalize(source) @ normalize(target).T
    if scoring == "maxsim":
        assert isinstance(source, TokenStates) and isinstance(target, TokenStates)
        idf = token_idf(source, target)
        return maxsim_scores(source, target, idf) + maxsim_scores(target, source, idf).T
    raise ValueError(f"unknown retrieval scoring {scoring!r} (known: {', '.join(SCORINGS)})")


def csls(sims: np.ndarray, k: int = 4) -> np.ndarray:
    """CSLS of a (source, target) similarity matrix: 2·s − r_source − r_target, r being the mean of
    a sentence's k highest similarities to the other side (Conneau et al. 2018)."""
    def mean_top(m: np.ndarray) -> np.ndarray:
        kk = min(k, m.shape[1])
        return np.mean(np.partition(m, m.shape[1] - kk, axis=1)[:, m.shape[1] - kk:], axis=1)

    if not sims.size:
        return sims
    return 2 * sims - mean_top(sims)[:, None] - mean_top(sims.T)[None, :]


def adjust_hubness(sims: np.ndarray, hubness: str, k: int = 4) -> np.ndarray:
    if hubness == "none":
        return sims
    if hubness == "csls":
        return csls(sims, k)
    raise ValueError(f"unknown retrieval hubness correction {hubness!r} (known: {', '.join(HUBNESS)})")


def encoded_similarities(source: Encoded, target: Encoded, scoring: str, rc: RetrievalConfig) -> np.ndarray:
    """The (source, target) similarity matrix under `scoring` and `rc.hubness`, from encoded sides."""
    return adjust_hubness(similarity_matrix(scoring, source.for_scoring(scoring), target.for_scoring(scoring)),
                          rc.hubness, rc.margin_k)


def sentence_similarities(encoder: Encoder, source: Sequence[str], target: Sequence[str], rc: RetrievalConfig) -> np.ndarray:
    """The model's (source, target) similarity matrix under `rc.scoring` and `rc.hubness`."""
    scorings = (rc.scoring,)
    return encoded_similarities(encoder.encode(source, scorings), encoder.encode(target, scorings), rc.scoring, rc)


def choose_layer(encoder: Encoder, candidates: Sequence[int], dev: dict[str, tuple[Sequence[str], Sequence[str]]],
                 rc: RetrievalConfig) -> dict:
    """The candidate layer with the best mean top-1 on the `dev` sets ({name: (sources, English)}, both
    directions), searched as `rc` says; ties go to the earlier candidate. `encoder` is built at layer -1
    (every block kept): one forward pass per side gives every candidate (`Encoder.encode_layers`).

    Candidates the model does not have (a 2-layer model asked for -3) are left out and listed under
    "skipped"; none left is an error. Returns {"chosen", "candidates" (those searched), "scoring",
    "hubness", "dev_pairs": {set: n}, "top1": {layer: {set: [xx→en, en→xx]}}, "mean": {layer: mean}}
    (layers as strings, for JSON)."""
    if not candidates:
        raise ValueError("choose_layer: no candidate layers")
    # a recipe lists the layers of its own model; a shallower one (a reduced run, another size) is
    # searched on the candidates it has, and the rest are named in the record
    n_layers = encoder.n_layers
    skipped = [c for c in candidates if not -n_layers <= c < n_layers]
    candidates = [c for c in candidates if c not in skipped]
    if not candidates:
        raise InputError(f"none of the retrieval layer candidates {skipped} exists; the model has {n_layers} "
                         f"layers (XTREME numbering: 0..{n_layers - 1} or -1..-{n_layers})")
    if skipped:
        log.warning("the model has %d layers: retrieval layer candidates %s skipped", n_layers, skipped)
    for name, (src, trg) in dev.items():
        if len(src) != len(trg) or not src:
            raise ValueError(f"dev set {name}: {len(src)} source and {len(trg)} English sentences")
    top1: dict[str, dict[str, list[float]]] = {str(layer): {} for layer in candidates}
    for name, (src, trg) in dev.items():  # one set's states held at a time
        src_states = encoder.encode_layers(src, candidates, (rc.scoring,))
        trg_states = encoder.encode_layers(trg, candidates, (rc.scoring,))
        gold = list(range(len(src)))
        for layer in candidates:
            res = matrix_search(encoded_similarities(src_states[layer], trg_states[layer], rc.scoring, rc))
            top1[str(layer)][name] = [round(retrieval_accuracy(res.xx_en, gold)["accuracy"], 4),
                                      round(retrieval_accuracy(res.en_xx, gold)["accuracy"], 4)]
    means: dict[str, float] = {}
    for layer in candidates:
        per = top1[str(layer)]
        means[str(layer)] = round(float(np.mean([v for pair in per.values() for v in pair])), 4)
        log.info("retrieval layer %d on dev: mean top-1 %.2f (%s)", layer, means[str(layer)],
                 ", ".join(f"{n} {a:.1f}/{b:.1f}" for n, (a, b) in per.items()))
    chosen = max(candidates, key=lambda layer: (means[str(layer)], -candidates.index(layer)))
    return {"chosen": int(chosen), "candidates": [int(c) for c in candidates],
            **({"skipped": [int(c) for c in skipped]} if skipped else {}), "scoring": rc.scoring,
            "hubness": rc.hubness, "dev_pairs": {n: len(s) for n, (s, _) in dev.items()}, "top1": top1, "mean": means}


def matrix_search(sims: np.ndarray) -> SearchResult:
    """Both directions' best match under a full (source, target) similarity matrix (ties → lowest index)."""
    return SearchResult([int(i) for i in sims.argmax(axis=1)], [int(i) for i in sims.argmax(axis=0)])


def reverse_gold(gold: Sequence[int], n_target: int) -> list[int]:
    """Gold source index for each target sentence (targets nobody points at get -1)."""
    out = [-1] * n_target
    for s, t in enumerate(gold):
        out[t] = s
    return out


def retrieval_records(rs: RetrievalSet, res: SearchResult, query: str) -> list[dict]:
    """Prediction records in the order of the queries of the task's primary direction.

    `query="target"` (XTREME's Tatoeba): one record per English sentence holding its predicted
    source index (what `test-<lang>.tsv` holds line by line); `query="source"`: one per source
    sentence holding an English index. Each record names its `query` side, so `xling eval submit`
    can refuse a file in the other layout.
    """
    if query == "target":
        gold = reverse_gold(rs.gold, len(rs.target)) if rs.gold is not None else None
        return [{"id": f"en-{k}", "query": "target", "prediction": p,
                 **({"gold": gold[k]} if gold is not None and gold[k] >= 0 else {})}
                for k, p in enumerate(res.en_xx)]
    return [{"id": sid, "query": "source", "prediction": p, **({"gold": rs.gold[i]} if rs.gold is not None else {})}
            for i, (sid, p) in enumerate(zip(rs.source_ids, res.xx_en, strict=True))]


def retrieval_scores(rs: RetrievalSet, res: SearchResult, query: str) -> dict[str, float] | None:
    """`accuracy_xx_en`, `accuracy_en_xx` and `accuracy` (the primary direction's), ×100.

    en → xx is scored over the English sentences that are some source sentence's gold (all of
    them in Tatoeba, whose pairs are one to one). None without a gold alignment.
    """
    if rs.gold is None:
        return None
    xx_en = retrieval_accuracy(res.xx_en, rs.gold)["accuracy"]
    back = reverse_gold(rs.gold, len(rs.target))
    keep = [k for k, g in enumerate(back) if g >= 0]
    en_xx = retrieval_accuracy([res.en_xx[k] for k in keep], [back[k] for k in keep])["accuracy"]
    return {"accuracy": en_xx if query == "target" else xx_en, "accuracy_xx_en": xx_en, "accuracy_en_xx": en_xx}


# ---------------------------------------------------------------------------------------------------
# BUCC: margin-based mining
# ---------------------------------------------------------------------------------------------------

def margin_candidates(source: np.ndarray, target: np.ndarray, source_ids: Sequence[str],
                      target_ids: Sequence[str], k: int = 4, chunk_size: int = 1024) -> dict[tuple[str, str], float]:
    """Candidate pairs with their ratio-margin score, as XTREME's `mine_bitext(mode=mine, retrieval=max)`.

    margin(x, y) = cos(x, y) / ((mean cos of x's k NN + mean cos of y's k NN) / 2). Each source takes
    its best-margin target among its k NN and each target its best source; the union is visited in
    decreasing score and a pair is kept only if neither side was used yet (one-to-one).
    """
    x2y_sim, x2y_ind = topk_cosine(source, target, k, chunk_size)
    y2x_sim, y2x_ind = topk_cosine(target, source, k, chunk_size)
    x_mean, y_mean = x2y_sim.mean(axis=1), y2x_sim.mean(axis=1)
    fwd_scores = x2y_sim / ((x_mean[:, None] + y_mean[x2y_ind]) / 2)
    bwd_scores = y2x_sim / ((y_mean[:, None] + x_mean[y2x_ind]) / 2)
    fwd_best = x2y_ind[np.arange(len(source)), fwd_scores.argmax(axis=1)]
    bwd_best = y2x_ind[np.arange(len(target)), bwd_scores.argmax(axis=1)]
    pairs = np.concatenate([np.stack([np.arange(len(source)), fwd_best], 1),
                            np.stack([bwd_best, np.arange(len(target))], 1)])
    scores = np.concatenate([fwd_scores.max(axis=1), bwd_scores.max(axis=1)])
    seen_src: set[int] = set()
    seen_trg: set[int] = set()
    out: dict[tuple[str, str], float] = {}
    for i in np.argsort(-scores, kind="stable"):
        s, t = int(pairs[i][0]), int(pairs[i][1])
        if s in seen_src or t in seen_trg:
            continue
        seen_src.add(s)
        seen_trg.add(t)
        out[(source_ids[s], target_ids[t])] = float(scores[i])
    return out


def aligned_margins(source, target, k: int = 4, chunk_size: int = 1024) -> np.ndarray:
    """The ratio margin of each aligned pair (row i of `source` with row i of `target`), the score
    `margin_candidates` gives a candidate: cos(x, y) / ((mean cos of x's k nearest rows of `target` +
    mean cos of y's k nearest rows of `source`) / 2), neighbours including the pair itself. Rows are
    L2-normalised, dense arrays or scipy sparse matrices (character TF-IDF); a pair whose sides have
    no similarity to anything scores 0. What `parallel.filter` ranks a noisy aligned corpus by: a
    misaligned pair is no closer than its sides' other neighbours."""
    n = source.shape[0]
    if target.shape[0] != n:
        raise ValueError(f"aligned_margins: {n} source rows but {target.shape[0]} target rows")
    k = min(k, n)
    diag, fwd = np.zeros(n), np.zeros(n)
    best_in_column = np.full((k, n), -np.inf)  # each target's k best sources so far, over the row blocks

    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        m = source[start:stop] @ target.T
        # one product serves both directions: rows give each source's neighbours, columns each target's
        rows = np.asarray(m.toarray() if hasattr(m, "toarray") else m, dtype=np.float64)
        diag[start:stop] = rows[np.arange(stop - start), np.arange(start, stop)]
        fwd[start:stop] = np.partition(rows, n - k, axis=1)[:, n - k:].mean(axis=1)
        both = np.vstack([best_in_column, rows])
        best_in_column = np.partition(both, len(both) - k, axis=0)[len(both) - k:]
    bwd = best_in_column.mean(axis=0)
    denominator = (fwd + bwd) / 2
    return np.divide(diag, denominator, out=np.zeros(n), where=denominator > 0)


def bucc_candidates(bs: BuccSet, encode: EncodeFn, k: int = 4, chunk_size: int = 1024) -> dict[tuple[str, str], float]:
    sids, tids = list(bs.source), list(bs.target)
    src = encode([bs.source[i] for i in sids])
    trg = encode([bs.target[i] for i in tids])
    return margin_candidates(src, trg, sids, tids, k, chunk_size)


def select_pairs(candidates: dict[tuple[str, str], float], threshold: float) -> list[tuple[str, str]]:
    """Pairs scoring at least the threshold, best first (the order prediction files are written in)."""
    return [p for p, s in sorted(candidates.items(), key=lambda kv: -kv[1]) if s >= threshold]


def tune_threshold(candidates: dict[tuple[str, str], float], gold: set[tuple[str, str]]) -> float:
    """F1-optimal threshold on a split with gold pairs (delegates to the metric module's bucc_optimize)."""
    return bucc_best_threshold(candidates, gold)
