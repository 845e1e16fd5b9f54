"""Turn monolingual text into filtered pseudo-parallel pairs with a trained BT model.

Output folder:
- `pairs.tsv`: `original<TAB>translation`, one kept pair per line — `xling.parallel` reads it as
  a TSV source (`source.yaml` next to it is the ready-made `parallel.sources` entry);
- `removed.tsv`: `reason<TAB>original<TAB>translation` for every dropped line;
- `progress.json`: input lines done, byte sizes of both TSVs, counts per reason.

Resuming: lines are processed in chunks; a chunk's rows are appended and flushed to disk, then
`progress.json` is replaced atomically. A restarted run truncates both TSVs to the sizes in
`progress.json` (dropping a chunk whose marker never got written) and skips the lines it
records, so nothing is redone or duplicated.

Filters, in order (each drop counted under its reason): `empty_output`, `length_ratio` (characters,
longer/shorter), `wrong_language` (the output's script must be the target language's, and with a
LID backend the identified language must match), `roundtrip_chrf` (translate back, chrF against
the original below `min_roundtrip_chrf`; 0 disables it, halving the cost).
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tqdm import tqdm

from xling.bt.model import decoder_prefix, encode_sources, load_model, max_source_len
from xling.bt.score import TestSet, chrf_intervals, corpus_scores, sentence_chrf
from xling.core.config import save_config, to_dict
from xling.core.errors import InputError
from xling.core.io import open_text, read_json, read_jsonl, write_json_atomic, write_text_atomic
from xling.core.paths import resolve_data_path
from xling.core.stage import Stage, StageSpec, require_finished, without_new_defaults
from xling.parallel import LanguageCheck, script_fraction

log = logging.getLogger(__name__)


@dataclass
class TranslateConfig:
    model: str  # OUT/model of `xling bt train`
    inputs: list[str] = field(default_factory=list)  # text files (a sentence per line) or .jsonl(.gz) with "text"
    src_lang: str = "kaz_Cyrl"
    tgt_lang: str = "rus_Cyrl"
    beams: int = 4
    batch_size: int = 32
    chunk_lines: int = 256
    max_lines: int = 0  # 0: all input lines
    min_chars: int = 3
    max_chars: int = 400
    max_length_ratio: float = 3.0
    lid: Literal["fasttext", "langid", "script"] = "fasttext"
    min_script_fraction: float = 0.5
    min_roundtrip_chrf: float = 0.0
    # no n-gram of this many pieces twice in one output (0: off); the warm-started models fall into
    # loops («в рамках рамках рамках») on text unlike their training domain
    no_repeat_ngram: int = 0
    source_bias: float = 0.0  # added to the scores of the source's own pieces (0: off)

    def __post_init__(self) -> None:
        if self.beams < 1 or self.batch_size < 1 or self.chunk_lines < 1:
            raise InputError("beams, batch_size and chunk_lines must be ≥ 1")
        check_no_repeat_ngram(self.no_repeat_ngram)
        if self.max_length_ratio < 1:
            raise InputError(f"max_length_ratio must be ≥ 1, got {self.max_length_ratio}")


def iter_input_lines(inputs: list[str], min_chars: int, max_chars: int) -> Iterator[str]:
    """Non-empty input sentences in a fixed order (the order resuming counts on)."""
    for spec in inputs:
        path = resolve_data_path(spec)
        if not path.is_file():
            raise FileNotFoundError(f"translate input {path} does not exist")
        if ".jsonl" in path.name:
            texts: Iterator[str] = (str(d.get("text", "")) for d in read_jsonl(path))
        else:
            texts = _text_lines(path)
        for text in texts:
            text = " ".join(text.split())
            if min_chars <= len(text) <= max_chars:
                yield text


def _text_lines(path: Path) -> Iterator[str]:
    with open_text(path) as f:
        yield from f


def check_no_repeat_ngram(n: int) -> None:
    if n < 0 or n == 1:
        raise InputError(f"no_repeat_ngram must be 0 (off) or ≥ 2, got {n} (1 would forbid any piece twice)")


def source_bias_processor(sources: Any, bias: float, special_ids: list[int]) -> Any:
    """A transformers logits processor that adds `bias` to the score of every piece the row's source
    contains (special tokens and language tags excluded), for each beam of the row: between related
    languages in one script the names, numbers and loanwords a translation shares with its source are
    what a model trained on a few thousand pairs most often replaces with its training domain's. On
    the kk-ru BT models it lowered dev chrF at every strength tried (it also favours the frequent short
    pieces both languages share, and the model then writes Kazakh into Russian), so it is off by default."""
    import torch
    from transformers import LogitsProcessor

    class SourceBias(LogitsProcessor):
        bonus: torch.Tensor | None = None  # (rows × beams, vocab), built at the first step

        def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
            if self.bonus is None or self.bonus.shape != scores.shape:
                present = torch.zeros(sources.size(0), scores.size(1), dtype=torch.bool, device=scores.device)
                present.scatter_(1, sources.to(scores.device), True)
                present[:, special_ids] = False
                beams = scores.size(0) // sources.size(0)
                self.bonus = bias * present.repeat_interleave(beams, 0).to(scores.dtype)
            return scores + self.bonus

    return SourceBias()


def translate_texts(model: Any, tokenizer: Any, texts: list[str], tgt_lang: str, beams: int = 4,
                    batch_size: int = 32, max_new_tokens: int = 0, no_repeat_ngram: int = 0,
                    source_bias: float = 0.0) -> list[str]:
    """Batched beam search (`beams=1`: greedy); batches are formed from length-sorted inputs (less
    padding), and the outputs come back in input order. `no_repeat_ngram` > 0 blocks any n-gram of
    that many output pieces from occurring twice (the decoder prefix included, so n ≥ 2);
    `source_bias` is added to the scores of the source's own pieces (`source_bias_processor`)."""
    import torch
    from transformers import LogitsProcessorList

    check_no_repeat_ngram(no_repeat_ngram)
    if not texts:
        return []
    max_len = max_source_len(model)
    ids = encode_sources(tokenizer, texts, tgt_lang, max_len)
    prefix = decoder_prefix(model, tokenizer, tgt_lang)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out: list[str] = [""] * len(ids)
    model.eval()
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            width = max(len(ids[i]) for i in idx)
            x = torch.full((len(idx), width), tokenizer.pad_token_id, dtype=torch.long)
            for r, i in enumerate(idx):
                x[r, :len(ids[i])] = torch.tensor(ids[i])
            new = max_new_tokens or min(max_len - len(prefix), int(width * 2) + 10)
            processors = LogitsProcessorList(
                [source_bias_processor(x, source_bias, tokenizer.all_special_ids)] if source_bias else [])
            gen = model.generate(input_ids=x, attention_mask=(x != tokenizer.pad_token_id).long(), num_beams=beams,
                                 decoder_input_ids=torch.tensor([prefix] * len(idx)), max_new_tokens=new,
                                 early_stopping=beams > 1, no_repeat_ngram_size=no_repeat_ngram,
                                 logits_processor=processors)
            for r, text in enumerate(tokenizer.batch_decode(gen, skip_special_tokens=True)):
                out[idx[r]] = " ".join(text.split())
    return out


class OutputLanguageCheck:
    """Is a translation in the target language? Script always; LID language too unless `lid: script`."""

    def __init__(self, tgt_lang: str, lid: str, min_script_fraction: float) -> None:
        self.tgt_lang, self.min_script_fraction = tgt_lang, min_script_fraction
        # the parallel filter's check, judging every output however short
        self.language = LanguageCheck(lid, min_chars=0) if lid != "script" else None

    def __call__(self, text: str) -> bool:
        if script_fraction(text, self.tgt_lang.split("_", 1)[1]) < self.min_script_fraction:
            return False
        return self.language is None or self.language.ok(text, self.tgt_lang)


def filter_pairs(originals: list[str], translations: list[str], cfg: TranslateConfig, lang_ok: OutputLanguageCheck,
                 back: list[str] | None) -> list[str | None]:
    """Per pair: None when kept, else the drop reason."""
    reasons: list[str | None] = []
    for i, (s, t) in enumerate(zip(originals, translations, strict=True)):
        if not t:
            reasons.append("empty_output")
        elif max(len(s), len(t)) > cfg.max_length_ratio * min(len(s), len(t)):
            reasons.append("length_ratio")
        elif not lang_ok(t):
            reasons.append("wrong_language")
        elif back is not None and sentence_chrf(back[i], s) < cfg.min_roundtrip_chrf:
            reasons.append("roundtrip_chrf")
        else:
            reasons.append(None)
    return reasons


def _tsv(*cols: str) -> str:
    return "\t".join(" ".join(c.split()) for c in cols) + "\n"


TRANSLATE_OUTPUTS = ("pairs.tsv", "removed.tsv", "progress.json", "config.yaml", "source.yaml")


def translate_stage(cfg: TranslateConfig, out: str | Path) -> Stage:
    """The stage contract of `xling bt translate`. `max_lines` is left out of the fingerprint: the
    first N lines come out the same whatever N, so raising it continues a finished run."""
    inputs: dict[str, str | None] = {"model": str(resolve_data_path(cfg.model))}
    inputs.update({f"inputs.{i}": str(resolve_data_path(p)) for i, p in enumerate(cfg.inputs)})
    config = without_new_defaults(to_dict(cfg), {"no_repeat_ngram": 0, "source_bias": 0.0})
    return Stage(StageSpec("bt-translate", Path(out), config, inputs, TRANSLATE_OUTPUTS, ignore=("max_lines",)))


def run_translate(cfg: TranslateConfig, out: str | Path, force: bool = False,
                  allow_partial: bool = False) -> dict[str, Any]:
    """Translate `cfg.inputs` into `out` (resumable); returns the final progress record. Other
    settings than the folder was started with are refused, naming them, unless `force` (redo)."""

    out = Path(out)
    stage = translate_stage(cfg, out)
    # a model folder of a `bt train` that has not finished is refused; a foreign model is trusted
    require_finished(cfg.model, f"xling bt train CONFIG --out {Path(cfg.model).parent}", allow_partial,
                     stage_outputs=())
    if stage.begin(force, write=False) == "redo":
        stage.clear()
    out.mkdir(parents=True, exist_ok=True)
    pairs_path, removed_path, progress_path = out / "pairs.tsv", out / "removed.tsv", out / "progress.json"
    progress: dict[str, Any] = {"lines_done": 0, "pairs_bytes": 0, "removed_bytes": 0, "kept": 0, "reasons": {},
                                "finished": False}
    if progress_path.is_file():

        progress = read_json(progress_path)
        log.info("resuming after %d input lines", progress["lines_done"])
    for path, key in ((pairs_path, "pairs_bytes"), (removed_path, "removed_bytes")):
        with open(path, "ab") as f:  # creates it; drops bytes of a chunk whose marker was never written
            f.truncate(progress[key])
    save_config(cfg, out / "config.yaml")
    # `synthetic: tgt`: `xling bt train` trains these pairs towards the original only (back-translation)
    write_text_atomic(out / "source.yaml", f"# parallel.sources entry for these pseudo-parallel pairs\n"
                      f"- {{src: {pairs_path}, src_lang: {cfg.src_lang}, tgt_lang: {cfg.tgt_lang}, format: tsv, "
                      "synthetic: tgt}\n")
    if progress.get("finished") and progress.get("max_lines") == cfg.max_lines and stage.is_finished():
        log.info("already finished: %s", progress_path)
        return progress
    stage.start()

    model, tok = load_model(cfg.model)
    lang_ok = OutputLanguageCheck(cfg.tgt_lang, cfg.lid, cfg.min_script_fraction)
    reasons = Counter(progress["reasons"])
    lines = iter_input_lines(cfg.inputs, cfg.min_chars, cfg.max_chars)
    for _ in range(progress["lines_done"]):
        next(lines, None)
    done = progress["lines_done"]
    bar = tqdm(desc=f"bt translate {cfg.src_lang}→{cfg.tgt_lang}", unit="line", initial=done,
               total=cfg.max_lines or None)
    while not cfg.max_lines or done < cfg.max_lines:
        want = cfg.chunk_lines if not cfg.max_lines else min(cfg.chunk_lines, cfg.max_lines - done)
        chunk = [t for _, t in zip(range(want), lines, strict=False)]
        if not chunk:
            break
        hyps = translate_texts(model, tok, chunk, cfg.tgt_lang, cfg.beams, cfg.batch_size,
                               no_repeat_ngram=cfg.no_repeat_ngram, source_bias=cfg.source_bias)
        back = None
        if cfg.min_roundtrip_chrf > 0:
            back = translate_texts(model, tok, hyps, cfg.src_lang, cfg.beams, cfg.batch_size,
                                   no_repeat_ngram=cfg.no_repeat_ngram, source_bias=cfg.source_bias)
        verdicts = filter_pairs(chunk, hyps, cfg, lang_ok, back)
        kept_rows = "".join(_tsv(s, t) for s, t, r in zip(chunk, hyps, verdicts, strict=True) if r is None)
        removed_rows = "".join(_tsv(r, s, t) for s, t, r in zip(chunk, hyps, verdicts, strict=True) if r is not None)
        progress["pairs_bytes"] = _append_durably(pairs_path, kept_rows)
        progress["removed_bytes"] = _append_durably(removed_path, removed_rows)
        reasons.update(r for r in verdicts if r is not None)
        done += len(chunk)
        progress.update(lines_done=done, kept=progress["kept"] + sum(r is None for r in verdicts),
                        reasons=dict(reasons))
        write_json_atomic(progress_path, progress)
        bar.update(len(chunk))
    bar.close()
    progress.update(finished=True, max_lines=cfg.max_lines)
    write_json_atomic(progress_path, progress)
    stage.finish({"lines_done": done, "kept": progress["kept"], "reasons": progress["reasons"],
                  "max_lines": cfg.max_lines})
    return progress


def _append_durably(path: Path, text: str) -> int:
    """Append and fsync; returns the new size (what progress.json records)."""
    with open(path, "ab") as f:
        f.write(text.encode("utf-8"))
        f.flush()
        os.fsync(f.fileno())
        return f.tell()


def score_model(model_dir: str | Path, test: TestSet, tgt_lang: str, out: str | Path | None = None,
                beams: int = 4, batch_size: int = 32, no_repeat_ngram: int = 0,
                source_bias: float = 0.0) -> dict[str, Any]:
    """Translate `test.sources` into `tgt_lang` and score against the references; with `out`, writes
    `scores.json` and `hypotheses.txt` there (atomically)."""
    model, tok = load_model(model_dir)
    hyps = translate_texts(model, tok, test.sources, tgt_lang, beams=beams, batch_size=batch_size,
                           no_repeat_ngram=no_repeat_ngram, source_bias=source_bias)
    scores = corpus_scores(hyps, test.references)
    # the floor a translation must clear: kk and ru share names, numbers and loanwords
    ci = chrf_intervals(hyps, test.sources, test.references)
    scores.update({"chrf_ci95": ci["chrf_ci95"], "copy_chrf": ci["baseline_chrf"],
                   "copy_chrf_ci95": ci["baseline_chrf_ci95"], "chrf_minus_copy": ci["delta"]})
    scores.update({"model": str(model_dir), "tgt_lang": tgt_lang, "beams": beams, "no_repeat_ngram": no_repeat_ngram,
                   "source_bias": source_bias})
    if out is not None:
        out = Path(out)
        write_text_atomic(out / "hypotheses.txt", "".join(h.replace("\n", " ") + "\n" for h in hyps))
        write_json_atomic(out / "scores.json", scores)
    log.info("scores: %s", json.dumps({k: scores[k] for k in ("bleu", "chrf", "chrf++", "copy_chrf", "n")}))
    return scores
