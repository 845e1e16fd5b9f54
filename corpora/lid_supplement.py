"""A supplementary LID model next to the base one: it decides among the labels it was trained on.

`xling lid train` (`corpora.lid_train`) writes a folder with `model.bin` (a fastText supervised model,
predicted through `fasttext-predict` like lid.176) and `lid_model.json` (labels, the letter evidence
per label, the decision settings). `corpora.lid.LanguageIdentifier(..., supplementary=FOLDER)` asks it
after the base model, for lines whose script it has at least two labels for, when

* the base model's label is one of the supplementary labels (it is confused among them), or
* the base model is unsure (top probability below `trust_base`): Latin-script Uyghur reaches lid.176
  as Turkish, Hungarian, English, German, … with low confidence.

Everywhere else the base model's label stands. Among its labels the supplementary model's best one
wins, after letter evidence (the same kind as `corpora.lid`'s Cyrillic check) removes labels. A
*confident* base label is replaced only by a label the base model lacks (measured at training: the
base model names it on under half of its training lines, as for `uig_Latn`), and only when the line
has that label's marker letters against the base label: Uzbek that lid.176 is sure of stays Uzbek.
Letter evidence:

* a label whose alphabet lacks letters found in a quarter of the line's words (Turkish `ı ş ğ` rule
  out Uyghur, Uzbek and Turkmen; Azerbaijani `ə` rules out the rest);
* a label with *marker* letters against a rival — letters in ≥ 95 % of its training lines that
  the rival's alphabet lacks (Uyghur Latin `é ö ü w q` against Uzbek) — when a line of at least
  `marker_min_words` words has none of them and the rival is still possible.

Alphabets and markers are measured on the training text (`corpora.lid_train`), so a new label needs
text, not code.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from xling.core.errors import InputError
from xling.core.io import read_json

MODEL_FILE = "model.bin"
META_FILE = "lid_model.json"

# Apostrophe look-alikes (Uzbek oʻ/gʻ, Uyghur n'g) are written many ways; the model sees one.
_APOSTROPHES = str.maketrans({c: "'" for c in "’‘ʻʼ`´ʹ′"})
_WORD_RE = re.compile(r"[^\W\d_]+")


def prepare(text: str) -> str:
    """What the supplementary model reads: lower case, one apostrophe, one line."""
    return text.replace("\n", " ").lower().translate(_APOSTROPHES)


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
            self.markers = {k: {r: frozenset(m) for r, m in v.items()} for k, v in meta["markers"].items()}
            # labels the base model gets right on under half of their training lines (uig_Latn: 0 %)
            self.base_lacks = {k for k, r in meta["base_recall"].items() if r < 0.5}
            decide = meta["decision"]
            self.trust_base = float(decide["trust_base"])
            self.marker_min_words = int(decide["marker_min_words"])
            self.foreign_word_share = float(decide["foreign_word_share"])
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(f"{meta_path}: malformed supplementary LID metadata ({type(e).__name__}: {e})") from None
        self.folder = folder
        by_script: dict[str, list[str]] = {}
        for label in self.labels:
            by_script.setdefault(label.split("_")[1], []).append(label)
        # a script with one label has nothing to decide among
        self.scripts = {s: set(ls) for s, ls in by_script.items() if len(ls) >= 2}
        import fasttext

        self.model = fasttext.load_model(str(folder / MODEL_FILE))

    def covers(self, script: str) -> bool:
        return script in self.scripts

    def probabilities(self, text: str, script: str) -> list[tuple[str, float]]:
        """(label, probability) of this script's labels, best first, renormalised over the script."""
        labels, probs = self.model.predict(prepare(text), k=-1)
        mine = self.scripts.get(script, set())
        out = [(lab.removeprefix("__label__"), float(p)) for lab, p in zip(labels, probs, strict=True)]
        out = [(lab, p) for lab, p in out if lab in mine]
        total = sum(p for _, p in out) or 1.0
        return [(lab, p / total) for lab, p in out]

    def possible(self, label: str, words: list[str]) -> bool:
        """False when a quarter of the words hold letters outside `label`'s alphabet."""
        alphabet = self.alphabets.get(label)
        if not alphabet or not words:
            return True
        foreign = sum(1 for w in words if not alphabet.issuperset(w))
        return foreign < max(1.0, self.foreign_word_share * len(words))

    def decide(self, text: str, script: str, base_label: str, base_score: float) -> tuple[str, float] | None:
        """The supplementary label and its probability, or None where the base model's label stands."""
        if script not in self.scripts:
            return None
        if base_score < self.trust_base:
            return self.choose(text, script)
        if base_label not in self.scripts[script]:
            return None
        # a confident base label is replaced only by a label the base model lacks (it cannot have meant
        # it), and only when the line has letters of that label which the base label's alphabet lacks
        letters = set(prepare(text))
        wanted = {lab for lab in self.base_lacks & self.scripts[script] if self._evidence(lab, base_label) & letters}
        if not wanted:  # nothing could replace it: spare the prediction
            return None
        choice = self.choose(text, script)
        return choice if choice is not None and choice[0] in wanted else None

    def _evidence(self, label: str, against: str) -> frozenset[str]:
        """Letters of `label` that `against` lacks (alphabets where both are known, else its markers)."""
        mine, theirs = self.alphabets.get(label), self.alphabets.get(against)
        if mine and theirs:
            return mine - theirs
        return self.markers.get(label, {}).get(against, frozenset())

    def choose(self, text: str, script: str) -> tuple[str, float] | None:
        """The best of this script's labels that the letters allow (None: the script has no labels)."""
        ranked = self.probabilities(text, script)
        words = _WORD_RE.findall(prepare(text))
        letters = set("".join(words))
        alive = [(lab, p) for lab, p in ranked if self.possible(lab, words)]
        if not alive:
            return None
        if len(words) >= self.marker_min_words:
            names = {lab for lab, _ in alive}
            for lab, p in alive:
                rivals = self.markers.get(lab, {})
                # the label's own letters are missing while a rival that lacks them is still possible
                if any(r in names and r != lab and not (m & letters) for r, m in rivals.items()):
                    names.discard(lab)
                    continue
                return lab, p
        return alive[0]


@lru_cache(maxsize=4)
def load_supplementary(folder: str) -> SupplementaryLid:
    """One loaded model per folder and process (workers of a local executor share it)."""
    return SupplementaryLid(folder)
