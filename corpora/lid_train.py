"""`xling lid train LABEL=FILE... --out DIR`: a supplementary LID model for what the base model misses.

lid.176 has no Latin-script Uyghur (it calls THUYG transcripts Turkish, Hungarian or English) and
mixes up Uzbek, Turkish and Turkmen. This trains a character n-gram linear classifier on labelled
text — multinomial logistic regression over fastText's own hashed n-grams of `<word>`, saved as a
fastText `.bin` (`corpora.fasttext_format`), so it predicts through the same C++ code as the base
model — and measures the letter evidence per label (alphabet, marker letters against each rival)
that `corpora.lid_supplement` applies on top. `identify` and `corpora clean` use the folder with
`--lid-supplementary DIR` (recipe: `clean.lid_supplementary`).

Each label's lines are deduplicated and split by a hash of the line: `heldout` of them are never
trained on and give the report (per-label precision/recall, confusion matrix). Files that the
evaluation registry (`eval_xtreme.tasks.evaluation_files`) lists are refused: LID is trained on
pretraining-safe text only.

Readers by file name: `*.conllu*` (the `# text =` lines), UDHR `*.xml` (titles and paragraphs, cut
into sentences), `*.tsv*` (the last column, e.g. THUYG's `wav\\ttext`; `FILE#N` reads column N, 1-based, as
`corpora clean` does), anything else one line per text (`.gz`/`.xz`/`.bz2` fine).
"""

from __future__ import annotations

import argparse
import html
import random
import re
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from corpora.corpus import TAB, is_tsv_name, parse_input_spec, tsv_cell
from corpora.fasttext_format import feature_matrix, write_model
from corpora.lid import LanguageIdentifier, detect_script, script_counts
from corpora.lid_supplement import META_FILE, MODEL_FILE, WORD_RE, SupplementaryLid, prepare
from eval_xtreme.tasks import evaluation_files
from xling.core.config import add_set_option, load_config, to_dict
from xling.core.errors import InputError
from xling.core.io import atomic_path, open_text, sha256_file, write_json_atomic, write_text_atomic
from xling.core.langs import registry
from xling.core.paths import data_root, split_column
from xling.core.report import heatmap, markdown_table

_SENTENCE_END = re.compile(r"(?<=[.!?;:።])\s+")
_UDHR_TEXT = re.compile(r"<(?:para|title)>(.*?)</(?:para|title)>", re.S)


@dataclass
class LidTrainConfig:
    """Settings of `xling lid train` (saved in `lid_model.json`)."""

    inputs: list[str] = field(default_factory=list)  # LABEL=FILE, e.g. uig_Latn=thuyg20_train.tsv.xz
    out: str = ""
    heldout: float = 0.2  # share of each label's distinct lines kept out of training, for the report
    max_lines: int = 3000  # training lines per label at most (the rest are not used)
    # character n-gram lengths; 1 = single letters, what a label with ~100 training lines (Uzbek,
    # Turkmen) can still learn. On the dev part 2–4 did better (Uyghur Latin 0.964 → 0.972) but the dev
    # part has 18 Uzbek lines; the bench then showed Uzbek 3–16 points worse with 2–4 (docs/lid.md)
    minn: int = 1
    maxn: int = 4
    bucket: int = 1 << 17  # hashed n-gram rows; the model file is bucket × labels float32
    # inverse L2 strength of the logistic regression and L-BFGS iterations: 30 and 300 (converged) were
    # chosen on the dev part together with `short_line_markers` (docs/lid.md); 10/150 before
    c: float = 30.0
    max_iter: int = 300
    balance: float = 1.0  # label weight ∝ lines^-balance: 0 = as many as given, 1 = every label equal
    chunks: int = 300  # also train on a 2–6 word piece of this many longer lines per label (short web lines)
    # labels without a profile alphabet: a letter belongs to the alphabet from this share of its letters
    alphabet_min_share: float = 2e-4
    marker_coverage: float = 0.95  # marker letters: in this share of a label's training lines …
    marker_min_words: int = 8  # … of at least this many words (and only such lines are judged by them)
    foreign_word_share: float = 0.25  # a label is ruled out when this share of words has letters it lacks
    marker_rival_min: float = 0.1  # the marker rule applies against a runner-up of at least this probability
    # the marker rule on lines shorter than `marker_min_words` too, with the cost the training text's windows
    # of that many words measure (`measure_marker_absence`); chosen on the dev part (docs/lid.md)
    short_line_markers: bool = True
    override_foreign_words: int = 2  # a confident base label yields to the letters from this many words it cannot spell
    # a confident base label on a line of < marker_min_words words holding none of its short-line markers
    # against a label the base model lacks yields to that label when the supplementary model gives it at
    # least `markerless_min_prob` (lid.176 is sure that "Bahor keldi." is Turkish: no letter says otherwise,
    # but neither does any Turkish letter). Chosen on the dev part: 0.8 lifts Uzbek windows 0.802 → 0.863
    # with Turkish unchanged; 0.7 costs Turkish pieces 0.5 points, 0.5 1.7 (docs/lid.md)
    markerless_to_lacking: bool = True
    markerless_min_prob: float = 0.8
    trust_base: float = 0.5  # at or above this score the base label is "confident" (corpora.lid_supplement)
    # a label the base model gets right on fewer of its training lines than this is one it "lacks": its
    # letters may overrule a confident base label
    base_lacks_below: float = 0.75
    # a word with letters outside a label's alphabet costs it -ln(max(share of such words in its training
    # text, this floor)) log-odds (corpora.lid_supplement)
    foreign_rate_floor: float = 1e-3
    # letter-pair markers: pairs in ≥ pair_common of a label's lines and ≤ pair_rare of a rival's
    pair_common: float = 0.05
    pair_rare: float = 0.002
    # share of each label's distinct lines (besides `heldout`) kept out of training as a dev part to
    # choose settings on (bench/lid_targets.py --dev); 0 = train on all non-held-out lines
    dev: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.heldout < 1.0:
            raise InputError(f"heldout: a share in (0, 1), got {self.heldout}")
        if not 1 <= self.minn <= self.maxn <= 8:
            raise InputError(f"minn/maxn: need 1 ≤ minn ≤ maxn ≤ 8, got {self.minn}/{self.maxn}")
        for key in ("max_lines", "bucket", "marker_min_words", "max_iter", "override_foreign_words"):
            if getattr(self, key) < 1:
                raise InputError(f"{key}: must be ≥ 1, got {getattr(self, key)}")
        if not 0.0 <= self.dev < 1.0 - self.heldout:
            raise InputError(f"dev: a share in [0, 1 - heldout), got {self.dev}")
        if not 0.0 < self.foreign_rate_floor < 1.0:
            raise InputError(f"foreign_rate_floor: a share in (0, 1), got {self.foreign_rate_floor}")
        for key in ("marker_coverage", "foreign_word_share", "trust_base", "balance", "marker_rival_min",
                    "base_lacks_below", "markerless_min_prob"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise InputError(f"{key}: must be within [0, 1], got {getattr(self, key)}")
        if self.chunks < 0:
            raise InputError(f"chunks: must be ≥ 0, got {self.chunks}")
        if self.c <= 0:
            raise InputError(f"c: must be > 0, got {self.c}")


# ---------------------------------------------------------------------------------------------
# Reading labelled text

def read_training_text(path: str | Path) -> list[str]:
    """The texts of one file (reader chosen by the file name, see the module docstring); `file#N`
    reads column N (1-based) of a tab-separated file."""
    path, column = split_column(path)
    name = path.name.lower()
    try:
        with open_text(path) as f:
            raw = f.read()
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except (OSError, EOFError) as e:
        raise InputError(f"{path}: cannot read ({type(e).__name__}: {e})") from None
    if ".conllu" in name:
        return [line[len("# text = "):] for line in raw.splitlines() if line.startswith("# text = ")]
    if name.endswith(".xml"):
        if "<udhr" not in raw[:2000]:
            raise InputError(f"{path}: an .xml file that is not a UDHR translation (no <udhr> element)")
        paragraphs = [html.unescape(re.sub(r"<[^>]+>", " ", p)) for p in _UDHR_TEXT.findall(raw)]
        return [s.strip() for p in paragraphs for s in _SENTENCE_END.split(" ".join(p.split())) if s.strip()]
    if not column and not is_tsv_name(path):
        return raw.splitlines()
    out = []  # tab-separated: column N, or the last
    for lineno, line in enumerate(raw.splitlines(), 1):
        cell = tsv_cell(line, column) if line.strip() else ""
        if cell is None:
            raise InputError(f"{path}:{lineno}: no column {column} (the line has {line.count(TAB) + 1}); "
                             f"is #{column} the text column?")
        out.append(cell)
    return out


def split_heldout(lines: list[str], share: float) -> tuple[list[str], list[str]]:
    """Distinct non-empty lines → (train, held out)."""
    train, _, held = split_lines(lines, share, 0.0)
    return train, held


def split_lines(lines: list[str], heldout: float, dev: float) -> tuple[list[str], list[str], list[str]]:
    """Distinct non-empty lines → (train, dev, held out) by the same hash: the held-out part is the
    same whatever `dev` is, and dev lines are the next `dev` share of hash values."""
    distinct = list(dict.fromkeys(" ".join(line.split()) for line in lines))
    distinct = [t for t in distinct if t and script_counts(t)]
    parts: tuple[list[str], list[str], list[str]] = ([], [], [])
    for t in distinct:
        h = zlib.crc32(t.encode("utf-8")) % 10_000
        parts[2 if h < heldout * 10_000 else 1 if h < (heldout + dev) * 10_000 else 0].append(t)
    return parts


def refuse_evaluation_files(paths: list[Path]) -> None:
    """Training on evaluation text would leak it into every corpus the model cleans."""
    root = data_root(required=False)
    if root is None:
        return
    wanted = {p.resolve() for p in paths}
    for name, files in evaluation_files(root).items():
        for df in files:
            for p in df.paths:
                if Path(p).resolve() in wanted:
                    raise InputError(f"{p} is evaluation data ({name!r} in eval_xtreme's registry): LID must "
                                     "not be trained on it; use pretraining-safe text (see mono/README.md)")


# ---------------------------------------------------------------------------------------------
# Letter evidence

@lru_cache(maxsize=1 << 16)
def _char_script(ch: str) -> str:
    return detect_script(ch)[0] if ch.isalpha() else ""


def _letters_of_script(text: str, script: str) -> list[str]:
    return [ch for ch in prepare(text) if _char_script(ch) == script]


def label_alphabets(texts: dict[str, list[str]], min_share: float) -> tuple[dict[str, list[str]], dict[str, str]]:
    """({label: alphabet}, {label: where it came from}): the language profile's alphabet of the label's
    script (`xling.core.langs`) where it has one, else the letters measured on the training text."""
    profiled = registry().lid_alphabets()
    measured = measure_alphabets({k: v for k, v in texts.items() if k not in profiled}, min_share)
    alphabets = {k: sorted(profiled[k]) if k in profiled else measured[k] for k in texts}
    return alphabets, {k: "profile" if k in profiled else "training text" for k in texts}


def measure_alphabets(texts: dict[str, list[str]], min_share: float) -> dict[str, list[str]]:
    """{label: letters of its script with ≥ `min_share` of its letters (and ≥ 3 occurrences)}."""
    out = {}
    for label, lines in texts.items():
        script = label.split("_")[1]
        counts = Counter(ch for line in lines for ch in _letters_of_script(line, script))
        total = sum(counts.values())
        out[label] = sorted(ch for ch, n in counts.items() if n >= max(3, min_share * total))
    return out


def foreign_rates(texts: dict[str, list[str]], alphabets: dict[str, list[str]]) -> dict[str, float]:
    """{label: share of its training words holding letters outside its alphabet} (names, loans, typos)."""
    out = {}
    for label, lines in texts.items():
        alphabet = frozenset(alphabets.get(label, ()))
        words = [w for t in lines for w in WORD_RE.findall(prepare(t))]
        out[label] = sum(1 for w in words if not alphabet.issuperset(w)) / len(words) if words and alphabet else 0.0
    return out


_PAIR_RE = re.compile(r"(?=([^\W\d_]['\w]))")  # overlapping letter+letter and letter+apostrophe pairs


def letter_pairs(text: str) -> set[str]:
    """Pairs of adjacent letters (and a letter + apostrophe: Uzbek `o'`, `g'`) of `prepare(text)`."""
    return {p for p in _PAIR_RE.findall(prepare(text)) if not p[1].isdigit() and p[1] != "_"}


def measure_pair_markers(texts: dict[str, list[str]], common: float, rare: float,
                         top: int = 12) -> dict[str, dict[str, list[str]]]:
    """{label: {rival: pairs}}: letter pairs in ≥ `common` of the label's training lines and in ≤ `rare`
    of the rival's (Uyghur Latin `gh` against Uzbek, which writes `g'`; Uzbek `o'` `g'` against
    Turkish), the `top` most common first; same-script rivals with ≥ 50 lines only."""
    shares: dict[str, Counter] = {}
    for label, lines in texts.items():
        counts: Counter = Counter()
        for t in lines:
            counts.update(letter_pairs(t))
        shares[label] = Counter({p: n / len(lines) for p, n in counts.items()})
    out: dict[str, dict[str, list[str]]] = {}
    for label, mine in shares.items():
        for rival, theirs in shares.items():
            if rival == label or rival.split("_")[1] != label.split("_")[1] or len(texts[rival]) < 50:
                continue
            pairs = [p for p, s in mine.most_common() if s >= common and theirs[p] <= rare][:top]
            if pairs:
                out.setdefault(label, {})[rival] = pairs
    return out


def measure_marker_absence(texts: dict[str, list[str]], markers: dict[str, dict[str, list[str]]],
                           max_words: int) -> dict[str, dict[str, list[float]]]:
    """{label: {rival: [share of the label's n-word windows without any of its markers against the rival,
    for n = 1 … max_words]}}, over consecutive windows (stride n) of its training lines' whitespace
    tokens (`prepare`d): how likely a short line of that label is to show none of them (Uyghur Latin
    against Uzbek: 0.56 of single words, 0.19 of 4-word windows)."""
    out: dict[str, dict[str, list[float]]] = {}
    for label, rivals in markers.items():
        lines = [prepare(t).split() for t in texts[label]]
        for rival, units in rivals.items():
            has = [[any(u in tok for u in units) for tok in toks] for toks in lines]
            shares = []
            for n in range(1, max_words + 1):
                windows = [any(h[i:i + n]) for h in has for i in range(0, len(h) - n + 1, n)]
                shares.append(round(1.0 - sum(windows) / len(windows), 4) if windows else 1.0)
            out.setdefault(label, {})[rival] = shares
    return out


def measure_markers(texts: dict[str, list[str]], alphabets: dict[str, list[str]], coverage: float,
                    min_words: int, pairs: dict[str, dict[str, list[str]]] | None = None,
                    ) -> dict[str, dict[str, list[str]]]:
    """{label: {rival: units}}: letters the rival's alphabet lacks and letter pairs the rival does not
    write (`pairs`, from `measure_pair_markers`), one of which occurs in ≥ `coverage` of the label's
    training lines of ≥ `min_words` words. Found greedily (most frequent unit first), for rivals of the
    same script only."""
    pairs = pairs or {}
    out: dict[str, dict[str, list[str]]] = {}
    for label, lines in texts.items():
        script = label.split("_")[1]
        long_lines = [prepare(t) for t in lines if len(t.split()) >= min_words]
        if len(long_lines) < 20:
            continue
        for rival, rival_alphabet in alphabets.items():
            if rival == label or rival.split("_")[1] != script:
                continue
            own = sorted(set(alphabets[label]) - set(rival_alphabet)) + pairs.get(label, {}).get(rival, [])
            chosen: list[str] = []
            covered = 0
            remaining = list(long_lines)
            while own and remaining:
                best = max(own, key=lambda u: sum(u in s for s in remaining))
                hits = sum(best in s for s in remaining)
                if not hits:
                    break
                chosen.append(best)
                own.remove(best)
                covered += hits
                remaining = [s for s in remaining if best not in s]
            if chosen and covered >= coverage * len(long_lines):
                out.setdefault(label, {})[rival] = sorted(chosen)
    return out


# ---------------------------------------------------------------------------------------------
# Training

def _chunk(line: str, rng: random.Random) -> str | None:
    words = line.split()
    if len(words) < 7:
        return None
    n = rng.randint(2, 6)
    start = rng.randint(0, len(words) - n)
    return " ".join(words[start:start + n])


def fit(texts: dict[str, list[str]], config: LidTrainConfig) -> tuple[list[str], np.ndarray]:
    """Logistic regression over hashed n-grams → (labels, input matrix bucket × labels)."""
    rng = random.Random(config.seed)
    labels = sorted(texts)
    lines: list[str] = []
    y: list[int] = []
    weights: list[float] = []
    for i, label in enumerate(labels):
        own = [prepare(t) for t in texts[label]]
        own += [c for c in (_chunk(t, rng) for t in own[:config.chunks]) if c]
        w = len(own) ** -config.balance
        lines += own
        y += [i] * len(own)
        weights += [w] * len(own)
    x = feature_matrix(lines, config.minn, config.maxn, config.bucket)
    used = np.unique(x.indices)  # only rows some line touches get weights; the rest hold the intercept
    sw = np.asarray(weights) * len(weights) / sum(weights)
    clf = LogisticRegression(C=config.c, max_iter=config.max_iter, tol=1e-4)
    clf.fit(x[:, used], np.asarray(y), sample_weight=sw)
    coef = clf.coef_ if len(labels) > 2 else np.vstack([-clf.coef_ / 2, clf.coef_ / 2])
    intercept = clf.intercept_ if len(labels) > 2 else np.array([-clf.intercept_[0] / 2, clf.intercept_[0] / 2])
    # fastText averages the rows of a line's n-grams; adding the intercept to every row adds it once
    matrix = np.tile(intercept.astype(np.float32), (config.bucket, 1))
    matrix[used] += coef.T.astype(np.float32)
    return labels, matrix


def train_lid(config: LidTrainConfig) -> Path:
    """Train, evaluate on the held-out lines, write OUT (model.bin, lid_model.json, report.md,
    confusion.png, heldout.json); returns OUT."""
    if not config.out:
        raise InputError("out: no output folder given")
    if not config.inputs:
        raise InputError("inputs: give LABEL=FILE pairs, e.g. uig_Latn=thuyg20_train.tsv.xz")
    t0 = time.time()
    sources: dict[str, list[Path]] = {}  # label → inputs as given (`file#N` keeps its column)
    files: list[Path] = []  # the files they read
    for spec in config.inputs:
        label, path = parse_input_spec(spec)
        if label is None:
            raise InputError(f"{spec!r}: give the label, LABEL=FILE (e.g. tuk_Latn={spec})")
        src = split_column(path)[0]
        if not src.is_file():
            raise InputError(f"{spec!r}: {src} is not a file")
        sources.setdefault(label, []).append(path)
        files.append(src)
    refuse_evaluation_files(files)

    train: dict[str, list[str]] = {}
    held: dict[str, list[str]] = {}
    provenance = []
    for label, paths in sorted(sources.items()):
        script = label.split("_")[1]
        lines: list[str] = []
        for p in paths:
            got = read_training_text(p)
            if not got:
                raise InputError(f"{p}: no text read (label {label})")
            lines += got
            provenance.append({"label": label, "path": str(p), "sha256": sha256_file(split_column(p)[0]),
                               "lines": len(got)})
        tr, _, he = split_lines(lines, config.heldout, config.dev)
        off_script = sum(1 for t in tr if detect_script(t)[0] != script)
        if off_script > 0.5 * len(tr):
            raise InputError(f"{label}: {off_script} of {len(tr)} lines are not in the {script} script "
                             f"({', '.join(map(str, paths))}); is the label right?")
        tr = [t for t in tr if detect_script(t)[0] == script]
        he = [t for t in he if detect_script(t)[0] == script]
        if len(tr) < 10:
            raise InputError(f"{label}: only {len(tr)} training lines after the held-out split; give more text")
        rng = random.Random(config.seed)
        train[label] = tr if len(tr) <= config.max_lines else rng.sample(tr, config.max_lines)
        held[label] = he

    labels, matrix = fit(train, config)
    base = LanguageIdentifier("fasttext")
    base_recall = {}
    for k in labels:  # which labels the base model lacks (the supplementary model may overrule it there)
        sample = train[k][:300]
        base_recall[k] = sum(base.identify(t).lang == k for t in sample) / len(sample)
    out = Path(config.out)
    alphabets, alphabet_source = label_alphabets(train, config.alphabet_min_share)
    pairs = measure_pair_markers(train, config.pair_common, config.pair_rare)
    markers = measure_markers(train, alphabets, config.marker_coverage, config.marker_min_words, pairs)
    # short lines: every letter the rival lacks and every letter pair it does not write count, whatever
    # their coverage (a label without 95 % markers against a rival is judged by the same rule)
    short_units = {k: {r: sorted(set(alphabets[k]) - set(alphabets[r])) + pairs.get(k, {}).get(r, [])
                       for r in train if r != k and r.split("_")[1] == k.split("_")[1]} for k in train}
    short_units = {k: {r: u for r, u in v.items() if u} for k, v in short_units.items()}
    short_units = {k: v for k, v in short_units.items() if v}
    meta = {
        "labels": labels,
        "alphabets": {k: "".join(v) for k, v in alphabets.items()},
        "alphabet_source": alphabet_source,
        "base_recall": base_recall,
        "markers": markers,
        "pair_markers": pairs,
        "short_markers": short_units,
        "marker_absence": measure_marker_absence(train, short_units, config.marker_min_words - 1),
        "decision": {"trust_base": config.trust_base, "marker_min_words": config.marker_min_words,
                     "foreign_word_share": config.foreign_word_share,
                     "foreign_rate_floor": config.foreign_rate_floor, "marker_rival_min": config.marker_rival_min,
                     "override_foreign_words": config.override_foreign_words,
                     "short_line_markers": config.short_line_markers,
                     "markerless_to_lacking": config.markerless_to_lacking,
                     "markerless_min_prob": config.markerless_min_prob,
                     "base_lacks_below": config.base_lacks_below},
        "foreign_rate": foreign_rates(train, alphabets),
        "lines": {k: {"train": len(train[k]), "heldout": len(held[k])} for k in labels},
        "sources": provenance,
        "config": to_dict(config),
    }
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        write_model(tmp / MODEL_FILE, labels, matrix, np.eye(len(labels), dtype=np.float32),
                    config.minn, config.maxn, [len(train[k]) for k in labels])
        write_json_atomic(tmp / META_FILE, meta)
        report = evaluate_heldout(SupplementaryLid(tmp), held, tmp)
        report_md = _report_markdown(meta, report, time.time() - t0)
        write_text_atomic(tmp / "report.md", report_md)
    return out


# ---------------------------------------------------------------------------------------------
# Evaluation on held-out lines

def evaluate_heldout(model: SupplementaryLid, held: dict[str, list[str]], out: Path) -> dict:
    """Per-label precision/recall of the model alone (its labels of the line's script, after letter
    evidence) on held-out lines; writes heldout.json and confusion.png into `out`."""
    labels = model.labels
    index = {k: i for i, k in enumerate(labels)}
    confusion = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for gold, lines in held.items():
        script = gold.split("_")[1]
        for line in lines:
            got = model.choose(line, script) if model.covers(script) else (gold, 1.0)
            confusion[index[gold], index[got[0] if got else gold]] += 1
    per_label = {}
    for k, i in index.items():
        tp = int(confusion[i, i])
        n_gold = int(confusion[i].sum())
        n_pred = int(confusion[:, i].sum())
        per_label[k] = {"heldout_lines": n_gold, "precision": tp / n_pred if n_pred else None,
                        "recall": tp / n_gold if n_gold else None}
    result = {"labels": labels, "confusion": confusion.tolist(), "per_label": per_label}
    write_json_atomic(out / "heldout.json", result)
    heatmap(out / "confusion.png", confusion, labels, labels, "supplementary LID on held-out lines",
            xlabel="predicted", ylabel="gold")
    return result


def _report_markdown(meta: dict, report: dict, seconds: float) -> str:
    rows = []
    for k in meta["labels"]:
        r = report["per_label"][k]
        markers = "; ".join(f"vs {rv}: {' '.join(m)}" for rv, m in sorted(meta["markers"].get(k, {}).items()))
        rows.append([k, meta["lines"][k]["train"], r["heldout_lines"],
                     "—" if r["precision"] is None else f"{r['precision']:.3f}",
                     "—" if r["recall"] is None else f"{r['recall']:.3f}",
                     f"{meta['alphabets'][k]} ({meta['alphabet_source'][k]})", markers or "—"])
    return "\n".join([
        "# Supplementary LID model", "",
        f"Trained in {seconds:.0f} s on {sum(v['train'] for v in meta['lines'].values()):,} lines "
        f"({len(meta['labels'])} labels). Held-out lines (split by a hash of the line) were never trained on.",
        "A script with a single label has nothing to decide among (its recall is trivially 1).", "",
        markdown_table(["label", "train lines", "held-out lines", "precision", "recall", "alphabet",
                        "marker letters"], rows),
        "", "![confusion matrix](confusion.png)", "",
        "Sources: " + ", ".join(f"`{s['label']}={s['path']}` ({s['lines']:,} lines)" for s in meta["sources"]), "",
    ])


# ---------------------------------------------------------------------------------------------
# CLI

def register(subparsers) -> None:
    p = subparsers.add_parser("lid", help="language identification models (train a supplementary model)")
    group = p.add_subparsers(dest="lid_command", required=True, metavar="COMMAND")
    t = group.add_parser(
        "train", help="train a supplementary LID model from LABEL=FILE text",
        description="Train a character n-gram classifier for labels the base LID model lacks or confuses "
                    "(e.g. uig_Latn, uzb_Latn, tuk_Latn). Writes OUT/model.bin, lid_model.json, report.md "
                    "and confusion.png; use it with `--lid-supplementary OUT` in identify/clean.")
    t.add_argument("inputs", nargs="+", metavar="LABEL=FILE",
                   help="labelled text: plain lines, .tsv (last column; FILE#N: column N), .conllu (# text), UDHR .xml")
    t.add_argument("--out", required=True, help="output folder")
    t.add_argument("--config", default=None, help="YAML file with LidTrainConfig fields")
    add_set_option(t, "heldout=0.3")
    t.set_defaults(func=_cli_train)


def _cli_train(args: argparse.Namespace) -> int:
    config = load_config(LidTrainConfig, args.config, args.overrides, {"inputs": list(args.inputs), "out": args.out})
    out = train_lid(config)
    print((out / "report.md").read_text(encoding="utf-8").split("![")[0].rstrip())
    print(f"wrote {out}/ ({MODEL_FILE}, {META_FILE}, report.md, confusion.png, heldout.json)")
    return 0
