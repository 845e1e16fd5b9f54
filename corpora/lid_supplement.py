"""A supplementary LID model next to the base one: it decides among the labels it was trained on.

`xling lid train` (`corpora.lid_train`) writes a folder with `model.bin` (a fastText supervised model,
predicted through `fasttext-predict` like lid.176) and `lid_model.json` (labels, the letter evidence
per label, the decision settings). `corpora.lid.LanguageIdentifier(..., supplementary=FOLDER)` asks it
after the base model, for lines whose script it has at least two labels for, when

* the base model is unsure (top probability below `trust_base`): Latin-script Uyghur reaches lid.176
  as Turkish, Hungarian, English, German, … with low confidence; or
* the base label is one of the supplementary labels and the model's answer could replace it
  (`_could_change`: characters outside its alphabet, letter pairs of a label the base model lacks, or a
  short line without any of its own markers against such a label; one to three regex searches).

Everywhere else the base model's label stands. The labels of the line's script are ranked by
log-odds: the model's log-probability plus the letter evidence (`_rank`) —

* a word with letters outside a label's alphabet costs it −ln(share of such words in its training
  text); letters in a quarter of the words rule it out (Turkish `ı ş ğ` rule out Uyghur, Uzbek and
  Turkmen; Azerbaijani `ə` the rest);
* a long line without any of the leader's *markers* against the runner-up — letters or letter pairs
  in ≥ 95 % of its long training lines that the rival does not write (Uyghur Latin `gh é ö ü w`
  against Uzbek) — costs the leader ln 20;

both divided by the number of words, as fastText averages its own evidence over the line. A
*confident* base label is replaced only when the letters rule it out, count against it in two words
and not against the winner, or by a label the base model lacks (`base_recall` below
`base_lacks_below`) whose letters or letter pairs against it are in the line, or — on a short line that
holds none of the base label's own markers against it — that the model gives ≥ `markerless_min_prob`.

Alphabets, foreign-word rates, letter pairs and markers are measured on the training text
(`corpora.lid_train`) and the language profiles, so a new label needs text, not code.
"""

from __future__ import annotations

import math
import re
import string
from functools import lru_cache
from pathlib import Path

from xling.core.errors import InputError
from xling.core.io import read_json

MODEL_FILE = "model.bin"
META_FILE = "lid_model.json"

# Apostrophe look-alikes (Uzbek oʻ/gʻ, Uyghur n'g) are written many ways; the model sees one.
_APOSTROPHE_RE = re.compile("[’‘ʻʼ`´ʹ′]")
WORD_RE = re.compile(r"[^\W\d_]+")

# Turkish text saved as cp1254 and read as cp1252/Latin-1 turns ı ş ğ into ý þ ð (Leipzig's Turkish
# sentences have it). ý is a Turkmen letter, but þ and ð belong to no Turkic alphabet: a line with
# them is that mojibake, and is read back as Turkish letters.
_CP1254_MOJIBAKE = str.maketrans("ýþðÝÞÐ", "ışğİŞĞ")


def prepare(text: str) -> str:
    """What the supplementary model reads: lower case, one apostrophe, one line, cp1254 mojibake undone."""
    text = text.replace("\n", " ").lower()
    if _APOSTROPHE_RE.search(text):  # a search first: most lines have none
        # a regex substitution: str.translate with a dict table looks up every character (7 times slower)
        text = _APOSTROPHE_RE.sub("'", text)
    if "þ" in text or "ð" in text:
        text = text.translate(_CP1254_MOJIBAKE)
    return text


class SupplementaryLid:
    """A trained supplementary model folder, loaded once per process (`load_supplementary`)."""

    def __init__(self, folder: str | Path) -> None:
        folder = Path(folder)
        meta_path = folder / META_FILE
        if not meta_path.is_file():
            raise InputError(f"{folder}: not a supplementary LID model ({META_FILE} missing); "
                             "train one with `xling lid train LABEL=FILE... --out DIR`")
        meta = read_json(meta_path)
        try:
            self.labels: list[str] = list(meta["labels"])
            self.alphabets = {k: frozenset(v) for k, v in meta["alphabets"].items()}
            # marker units (letters, letter pairs such as `gh`, `o'`) of a label against a rival
            self.markers = {k: {r: frozenset(m) for r, m in v.items()} for k, v in meta["markers"].items()}
            self.pair_markers = {k: {r: frozenset(m) for r, m in v.items()}
                                 for k, v in meta.get("pair_markers", {}).items()}
            decide = meta["decision"]
            # labels the base model gets wrong too often to be trusted on them (uig_Latn: right on 0 % of
            # its training lines, uzb_Latn 59 %, tuk_Latn 46 %)
            below = float(decide.get("base_lacks_below", 0.5))
            self.base_lacks = {k for k, r in meta["base_recall"].items() if r < below}
            self.trust_base = float(decide["trust_base"])
            self.marker_min_words = int(decide["marker_min_words"])
            self.foreign_word_share = float(decide["foreign_word_share"])
            # log-odds one word with letters outside a label's alphabet costs it: -ln(share of such words in
            # its own training text), floored (names and loans happen in every language)
            floor = float(decide.get("foreign_rate_floor", 1e-3))
            self.foreign_cost = {k: -math.log(max(float(r), floor)) for k, r in meta.get("foreign_rate", {}).items()}
            self.marker_cost = -math.log(max(1.0 - float(meta["config"]["marker_coverage"]), floor))
            # the marker rule weighs a runner-up the model itself finds plausible (Uzbek against Uyghur),
            # not one it all but excludes
            self.marker_rival_min = float(decide.get("marker_rival_min", 0.1))
            self.override_foreign_words = int(decide.get("override_foreign_words", 2))
            # a line of n < marker_min_words words without the leader's markers costs it -ln(share of its
            # n-word training windows without them), at most `marker_cost` (off by default)
            self.short_line_markers = bool(decide.get("short_line_markers", False))
            self.short_markers = meta.get("short_markers", {})
            self.short_marker_cost = {(k, r): [min(-math.log(max(float(a), floor)), self.marker_cost) for a in v]
                                      for k, rivals in meta.get("marker_absence", {}).items()
                                      for r, v in rivals.items()}
            # a confident base label on a short line without any of its short-line markers against a label
            # the base model lacks (Turkish "Bahor keldi." has no ç ğ ı ö ş ü against Uzbek) is put to the
            # supplementary model's ranking too (off for models trained before the setting existed)
            self.markerless_to_lacking = bool(decide.get("markerless_to_lacking", False))
            self.markerless_min_prob = float(decide.get("markerless_min_prob", 0.0))
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(f"{meta_path}: malformed supplementary LID metadata ({type(e).__name__}: {e})") from None
        self.folder = folder
        by_script: dict[str, list[str]] = {}
        for label in self.labels:
            by_script.setdefault(label.split("_")[1], []).append(label)
        # a script with one label has nothing to decide among
        self.scripts = {s: set(ls) for s, ls in by_script.items() if len(ls) >= 2}
        self._raw_labels = {s: {f"__label__{k}": k for k in ls} for s, ls in self.scripts.items()}  # fastText's names
        # per label: the letters of the labels the base model lacks that it does not have (Uyghur é ö ü w q x
        # against Turkish), the only letters that let such a label replace it when it is confident
        self._against = {b: frozenset().union(*(self._evidence(k, b) for k in self.base_lacks if k != b))
                         for b in self.labels}
        self._against_pairs = {b: frozenset().union(*(self.pair_markers.get(k, {}).get(b, ())
                                                      for k in self.base_lacks if k != b)) for b in self.labels}
        # per label: a character outside its alphabet, digits, spaces and punctuation (`_outside_re`), and the
        # letter pairs of labels the base model lacks (`_pairs_re`; `_inner_pairs_re`: those of them spelt
        # with its own letters only, the only ones a line without such a character can hold). One regex
        # per label, the pairs grouped by their first letter (`a[qwý]|g['hy]|…`): an alternation of 30
        # two-letter strings is tried at every position and costs 4 times as much.
        neutral = " \t0123456789" + string.punctuation + "«»“”„–—…"
        self._outside_re: dict[str, re.Pattern] = {}
        self._pairs_re: dict[str, re.Pattern] = {}
        self._inner_pairs_re: dict[str, re.Pattern] = {}
        for b in self.labels:
            alphabet = self.alphabets.get(b)
            if alphabet:
                allowed = set(alphabet) | set(neutral)
                self._outside_re[b] = re.compile("[^" + "".join(re.escape(c) for c in sorted(allowed)) + "]")
                inner = [p for p in self._against_pairs[b] if allowed.issuperset(p)]
            else:  # no alphabet: only the letters of a label the base model lacks tell
                self._outside_re[b] = char_class(self._against[b])
                inner = list(self._against_pairs[b])
            self._pairs_re[b] = _units_regex(self._against_pairs[b])
            self._inner_pairs_re[b] = _units_regex(inner)
        # per script: its labels with an alphabet, and per word the labels it is foreign to (`_foreign_counts`)
        self._script_alphabets = {script: [(k, self.alphabets[k]) for k in sorted(labels) if self.alphabets.get(k)]
                                  for script, labels in self.scripts.items()}
        self._word_foreign: dict[str, dict[str, tuple[str, ...]]] = {script: {} for script in self.scripts}
        # per script: the labels the base model lacks, the rivals `_markerless_rival` looks at
        self._lacking = {script: sorted(self.base_lacks & labels) for script, labels in self.scripts.items()}
        # a label's markers against a rival (letters, letter pairs) as one regex (`_rank`)
        self._marker_re = {(k, r): _units_regex(m) for k, rivals in self.markers.items() for r, m in rivals.items() if m}
        self._short_marker_re = {(k, r): _units_regex(m) for k, rivals in self.short_markers.items()
                                 for r, m in rivals.items() if m}
        import fasttext

        self.model = fasttext.load_model(str(folder / MODEL_FILE))
        self._predict_raw = self.model.f.predict

    def covers(self, script: str) -> bool:
        return script in self.scripts

    def foreign_words(self, label: str, words: list[str]) -> int:
        """Words holding a letter outside `label`'s alphabet (0 for a label without one)."""
        alphabet = self.alphabets.get(label)
        return sum(1 for w in words if not alphabet.issuperset(w)) if alphabet else 0

    def possible(self, label: str, words: list[str]) -> bool:
        """False when a quarter of the words hold letters outside `label`'s alphabet."""
        return self.foreign_words(label, words) < max(1.0, self.foreign_word_share * len(words))

    def _could_change(self, base_label: str, script: str, prepared: str
                      ) -> tuple[bool, list[str] | None, dict[str, int] | None]:
        """(whether a supplementary label could replace the confident `base_label`, the line's words and
        `_foreign_counts` where they were needed). `decide` replaces a confident label in three cases
        only — its letters ruled out, ≥ `override_foreign_words` words it cannot spell, or a label the
        base model lacks whose letters or letter pairs against it are in the line — and none of them can
        hold, whatever the model says, on a line of its own letters without such pairs (most confident
        lines: one regex search), nor on a line with a foreign name or two and no letters of a label
        the base model lacks. Those lines are never predicted."""
        if self._outside_re[base_label].search(prepared) is None:
            # every letter is in its alphabet: no foreign word, no letter it lacks; only letter pairs remain
            return (self._inner_pairs_re[base_label].search(prepared) is not None
                    or self._markerless_rival(base_label, script, prepared, None) is not None), None, None
        words = WORD_RE.findall(prepared)
        foreign = self._foreign_counts(script, words)
        n = foreign.get(base_label, 0)
        if n >= max(1.0, self.foreign_word_share * len(words)) or n >= self.override_foreign_words:
            return True, words, foreign
        return (not self._against[base_label].isdisjoint(prepared)
                or self._pairs_re[base_label].search(prepared) is not None
                or self._markerless_rival(base_label, script, prepared, words) is not None), words, foreign

    def _markerless_rival(self, base_label: str, script: str, prepared: str, words: list[str] | None,
                          rival: str | None = None) -> str | None:
        """With `markerless_to_lacking`: a label the base model lacks (`rival`, or the first of this script)
        against which a line of fewer than `marker_min_words` words holds none of `base_label`'s short-line
        markers, else None. The regexes run first: most lines hold a marker and need no word split
        (`words`: the line's words where they are already known)."""
        if not self.markerless_to_lacking:
            return None
        for k in ([rival] if rival else self._lacking[script]):
            marks = self._short_marker_re.get((base_label, k))
            if k != base_label and marks is not None and marks.search(prepared) is None:
                n = len(words if words is not None else WORD_RE.findall(prepared))
                return k if 0 < n < self.marker_min_words else None
        return None

    def decide(self, text: str, script: str, base_label: str, base_score: float) -> tuple[str, float] | None:
        """The supplementary label and its probability, or None where the base model's label stands."""
        if script not in self.scripts:
            return None
        if base_score < self.trust_base:
            prepared = prepare(text)
            words = WORD_RE.findall(prepared)
            ranked = self._rank(prepared, script, words, self._foreign_counts(script, words))
            return ranked[0] if ranked else None
        if base_label not in self.scripts[script]:
            return None  # a confident label the model was not trained on: it knows nothing about it
        prepared = prepare(text)
        could, words, foreign = self._could_change(base_label, script, prepared)
        if not could:
            return None
        if words is None or foreign is None:
            words = WORD_RE.findall(prepared)
            foreign = self._foreign_counts(script, words)
        ranked = self._rank(prepared, script, words, foreign)
        if not ranked:
            return None
        best = ranked[0]
        if best[0] == base_label:
            return None  # the confident base label and its score stand
        # a confident base label is replaced only when the letters speak against it (words with letters it
        # lacks: Turkish has no q or x, Uzbek no é ö ü w; one such word is often a name, "Excursion" in a
        # Turkish line, so it takes `override_foreign_words`), or by a label the base model lacks (it cannot
        # have meant it) whose own letters or letter pairs are in the line: Uzbek that lid.176 is sure
        # of stays Uzbek
        n = foreign.get(base_label, 0)
        if n >= max(1.0, self.foreign_word_share * len(words)):
            return best  # its letters rule it out (`possible`)
        # ... and not against the winner: English names (w, x) in a Turkish news line count against
        # Turkish and Azerbaijani alike
        if n >= self.override_foreign_words and not foreign.get(best[0], 0):
            return best
        if best[0] in self.base_lacks and (
                not self._evidence(best[0], base_label).isdisjoint(prepared)
                or _has_any(prepared, self.pair_markers.get(best[0], {}).get(base_label, ()))
                or (best[1] >= self.markerless_min_prob
                    and self._markerless_rival(base_label, script, prepared, words, best[0]) is not None)):
            return best
        return None

    def _foreign_counts(self, script: str, words: list[str]) -> dict[str, int]:
        """{label of `script`: how many of `words` hold a letter outside its alphabet} (labels without
        such words, or without an alphabet, are left out): `foreign_words` for all labels at once. The
        labels a word is foreign to are looked up once per process: words recur line after line."""
        cache = self._word_foreign[script]
        counts: dict[str, int] = {}
        for w in words:
            labs = cache.get(w)
            if labs is None:
                if len(cache) >= 50_000:  # bounded (a few MB): web text brings new words without end
                    cache.clear()
                labs = cache[w] = tuple(k for k, a in self._script_alphabets[script] if not a.issuperset(w))
            for k in labs:
                counts[k] = counts.get(k, 0) + 1
        return counts

    def _evidence(self, label: str, against: str) -> frozenset[str]:
        """Letters of `label` that `against` lacks (alphabets where both are known, else its markers)."""
        mine, theirs = self.alphabets.get(label), self.alphabets.get(against)
        if mine and theirs:
            return mine - theirs
        return self.markers.get(label, {}).get(against, frozenset())

    def _rank(self, prepared: str, script: str, words: list[str], foreign: dict[str, int]
              ) -> list[tuple[str, float]]:
        """This script's labels the letters allow, best first, as (label, probability). The model's
        log-probability is combined with the letter evidence as log-odds: each word with letters
        outside a label's alphabet costs that label `foreign_cost`; a line of ≥ `marker_min_words`
        words without any of the leader's markers against the runner-up (letters, letter pairs)
        costs the leader `marker_cost` (its markers are in ≥ `marker_coverage` of its long training
        lines, so their absence is that unlikely). Letter costs are divided by the number of words:
        fastText averages its n-gram evidence over the line rather than adding it up, so one English
        name ("Shadow") in a 31-word Uzbek line must not outweigh the other 30 words (chosen on the
        dev part: Uyghur Latin 0.957 → 0.964, Turkish +0.2 points, the rest unchanged). `foreign`:
        `_foreign_counts(script, words)`."""
        limit = max(1.0, self.foreign_word_share * len(words))
        scored = []
        per_word = 1.0 / max(1, len(words))
        foreign_costs = self.foreign_cost
        # fastText's C++ call directly (its Python wrapper costs as much again): [(p, "__label__xxx_Scrp")]
        mine = self._raw_labels[script]
        got = [(mine[lab], p) for p, lab in self._predict_raw(prepared + "\n", -1, 0.0, "strict") if lab in mine]
        total = sum([p for _, p in got]) or 1.0  # renormalised over the script
        for lab, p in got:
            p = p / total
            n = foreign.get(lab, 0) if foreign else 0
            if n >= limit:
                continue  # the letters rule it out
            scored.append((math.log(p if p > 1e-12 else 1e-12) - n * foreign_costs.get(lab, 0.0) * per_word, lab, p))
        if not scored:
            return []
        scored.sort(reverse=True)
        if len(scored) >= 2 and words and scored[1][2] >= self.marker_rival_min and (
                len(words) >= self.marker_min_words or self.short_line_markers):
            (s1, l1, _), (s2, l2, _) = scored[0], scored[1]
            marks = self._marker_re.get((l1, l2))
            cost = 0.0
            if len(words) >= self.marker_min_words:
                if marks is not None and marks.search(prepared) is None:
                    cost = self.marker_cost
            else:
                marks = self._short_marker_re.get((l1, l2))
                by_length = self.short_marker_cost.get((l1, l2))
                if marks is not None and by_length and len(words) <= len(by_length) and marks.search(prepared) is None:
                    cost = by_length[len(words) - 1]
            if cost and s1 - cost / len(words) < s2:
                scored[0], scored[1] = scored[1], scored[0]
        return [(lab, p) for _, lab, p in scored]

    def choose(self, text: str, script: str) -> tuple[str, float] | None:
        """The best of this script's labels that the letters allow (None: the script has no labels)."""
        if script not in self.scripts:
            return None
        prepared = prepare(text)
        words = WORD_RE.findall(prepared)
        ranked = self._rank(prepared, script, words, self._foreign_counts(script, words))
        return ranked[0] if ranked else None


def _has_any(text: str, units) -> bool:
    return any(u in text for u in units)


def char_class(chars) -> re.Pattern:
    """A regex matching any of `chars` (none: never matches)."""
    return re.compile("[" + "".join(re.escape(c) for c in sorted(chars)) + "]" if chars else "(?!)")


def _units_regex(units) -> re.Pattern:
    """A regex matching any of the strings `units` (letters, letter pairs), grouped by first character:
    Python's regex engine tries an alternation branch by branch at every position, a class at once."""
    by_first: dict[str, list[str]] = {}
    for u in sorted(units):
        by_first.setdefault(u[0], []).append(u[1:])
    if not by_first:
        return re.compile("(?!)")
    singles = [f for f, rest in by_first.items() if "" in rest]
    parts = ["[" + "".join(map(re.escape, singles)) + "]"] if singles else []
    parts += [re.escape(f) + _alternatives(rest) for f, rest in by_first.items() if f not in singles]
    return re.compile("|".join(parts))


def _alternatives(rests: list[str]) -> str:
    if len(rests) == 1:
        return re.escape(rests[0])
    if all(len(r) == 1 for r in rests):
        return "[" + "".join(map(re.escape, rests)) + "]"
    return "(?:" + "|".join(map(re.escape, rests)) + ")"


@lru_cache(maxsize=4)
def load_supplementary(folder: str) -> SupplementaryLid:
    """One loaded model per folder and process (workers of a local executor share it)."""
    return SupplementaryLid(folder)
