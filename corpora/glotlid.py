"""GlotLID (cis-lmu/glotlid, 1,600+ labels such as `uig_Latn`) as a `corpora.lid` backend: `--lid glotlid`.

GlotLID is a fastText supervised model whose labels are ISO 639-3 + script (`__label__uig_Latn`).
datatrove's `GlotLID` step fetches `hf://cis-lmu/glotlid/model_v3.bin` and reads labels as
`label.split("__")[2]`; xling never downloads: the model comes from

1. an explicit path (`--lid-model PATH`, recipe `clean.lid_model`), else
2. `$XLING_GLOTLID_MODEL`, else
3. the Hugging Face Hub cache (`huggingface-cli download cis-lmu/glotlid model.bin` once; the cache is
   found the way `huggingface_hub` finds it, `HF_HUB_CACHE` / `HF_HOME` included).

Like every backend it answers language codes; `corpora.lid.LanguageIdentifier` takes the script from
the text's letters and applies the same Arabic-script Kazakh/Uyghur and Cyrillic alphabet rules on top.
GlotLID labels map to our codes through the language profiles' `lid.labels.glotlid` lists (GlotLID
names individual languages: `uzn_Latn` is our `uzb`, `azj_Latn` our `aze`); a language GlotLID lists
under several scripts (`uig_Arab`, `uig_Latn`, `uig_Cyrl`) is one code with the summed probability.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from huggingface_hub import try_to_load_from_cache

from xling.core.errors import InputError
from xling.core.langs import registry, to_iso3

GLOTLID_REPO = "cis-lmu/glotlid"
GLOTLID_FILES = ("model.bin", "model_v3.bin")
ENV_VAR = "XLING_GLOTLID_MODEL"


def glotlid_model_path(explicit: str | os.PathLike | None = None) -> Path:
    """Where the GlotLID model is (see the module docstring); never downloads."""
    for given, where in ((explicit, "--lid-model"), (os.environ.get(ENV_VAR), f"${ENV_VAR}")):
        if given:
            path = Path(given).expanduser()
            if not path.is_file():
                raise InputError(f"{where}: GlotLID model {path} is not a file")
            return path
    for filename in GLOTLID_FILES:
        cached = try_to_load_from_cache(GLOTLID_REPO, filename)
        if isinstance(cached, str) and os.path.isfile(cached):
            return Path(cached)
    raise InputError(f"GlotLID model not found: give --lid-model PATH, set ${ENV_VAR}, or fetch it once into "
                     f"the Hugging Face cache (huggingface-cli download {GLOTLID_REPO} model.bin); "
                     "xling does not download models")


@lru_cache(maxsize=2)
def _load(path: str):
    import fasttext

    return fasttext.load_model(path)


@lru_cache(maxsize=1)
def _profile_labels() -> dict[str, str]:
    """{GlotLID label: our code} from the language profiles (`uzn_Latn` → `uzb`, `azj_Latn` → `aze`)."""
    return {label: prof.code for prof in registry() for label in prof.lid.labels.glotlid}


def _language(label: str) -> str:
    """`__label__uig_Latn` → `uig`: the profile that lists the label, else its ISO 639-3 part."""
    label = label.removeprefix("__label__")
    return _profile_labels().get(label) or to_iso3(label.split("_")[0])


class GlotLid:
    """Predicts (ISO 639-3 code, probability); `languages` keeps only those languages."""

    name = "glotlid"

    def __init__(self, languages: Sequence[str] = (), model: str | os.PathLike | None = None) -> None:
        self.path = glotlid_model_path(model)
        self.model = _load(str(self.path))
        self.allowed = {to_iso3(c.split("_")[0]) for c in languages}

    def predict_topk(self, text: str, k: int = 5) -> list[tuple[str, float]]:
        # scripts of one language are merged, and a restriction filters: ask for a wider list
        labels, probs = self.model.predict(text.replace("\n", " "), k=max(4 * k, 20))
        merged: dict[str, float] = {}
        for label, p in zip(labels, probs, strict=True):
            code = _language(label)
            merged[code] = merged.get(code, 0.0) + float(p)
        out = [(c, min(p, 1.0)) for c, p in sorted(merged.items(), key=lambda cp: -cp[1])]
        if not out:
            return [("und", 0.0)]
        if self.allowed:
            out = [(c, p) for c, p in out if c in self.allowed] or [(out[0][0], 0.0)]
        return out[:k]

    def predict(self, text: str) -> tuple[str, float]:
        return self.predict_topk(text, 1)[0]
