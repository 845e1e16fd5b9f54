"""Parallel (translation-pair) data for cross-lingual objectives: read, clean, sample, resume.

Formats, one `ParallelSource` each:
- aligned file pair: `src` and `tgt` hold line i of each other (plain, .gz, .xz, .bz2); different
  line counts are an error naming both files and both counts, never a silent truncation;
- TSV: `src` only, two tab-separated columns per line (what `xling bt translate` writes);
- TMX: `src` only, XML `<tu><tuv xml:lang=..><seg>` units; `tmx_langs` picks the two sides;
- UDHR: `src` and `tgt` are two translations of the Universal Declaration of Human Rights in the
  unicode-org/udhr XML layout; units (titles, paragraphs, list items) pair up by their place in the
  document (article number, position), so a unit only one translation has is left out.

Cleaning drops pairs and counts why (`ParallelStats.reasons`): an empty side, too long a side,
a length ratio beyond `max_length_ratio`, a side not written in its language's script, and exact
duplicates (after whitespace normalisation, per language pair).

Sampling: pairs are grouped per language pair ("kaz_Cyrl-rus_Cyrl"); each draw picks a group
with the `corpora.sampling` temperature plan (p ∝ n^α over pair counts) and takes that group's
next pair in a per-epoch permutation. Every random number derives from (seed, draw index) or
(seed, group, epoch), so `PairStream.state_dict()` is a few integers and resuming is exact.
"""

from __future__ import annotations

import html
import logging
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from corpora.corpus import is_lang_code
from corpora.normalize import strip_markup_tags
from corpora.sampling import check_alpha, sampling_plan
from eval_xtreme.baselines import char_ngram_vectors
from eval_xtreme.retrieval import Encoder as RetrievalEncoder
from eval_xtreme.retrieval import aligned_margins, normalize
from xling.core.config import ConfigError, from_dict, load_yaml_dict, to_dict
from xling.core.errors import InputError
from xling.core.io import open_text, write_text_atomic
from xling.core.paths import resolve_data_path
from xling.core.stage import without_new_defaults
from xling.translit import text_view

log = logging.getLogger(__name__)

FORMATS = ("auto", "aligned", "tsv", "tmx", "udhr")
SYNTHETIC_SIDES = ("", "src", "tgt")
REASONS = ("empty_side", "too_long", "length_ratio", "wrong_script_src", "wrong_script_tgt", "duplicate",
           "contaminated", "wrong_language_src", "wrong_language_tgt", "low_margin")


@dataclass
class ParallelSource:
    """One parallel resource. Paths may be written `$XLING_DATA/...`."""

    src: str
    src_lang: str
    tgt_lang: str
    tgt: str = ""  # the target-side file of an aligned pair; empty for TSV/TMX
    format: Literal["auto", "aligned", "tsv", "tmx", "udhr"] = "auto"
    # Some corpora ship text extracted from TMX with XML entities (`&quot;`) and stray segment tags
    # (`</seg>`) left in; decode the entities and drop the tags (`corpora.normalize.strip_markup_tags`).
    unescape_entities: bool = False
    tmx_langs: list[str] = field(default_factory=list)  # e.g. ["kk", "ru"]; default: first two seen
    name: str = ""  # shown in stats; defaults to the file name
    # The side a machine wrote ("tgt" for what `xling bt translate` writes: original → translation).
    # `xling bt train` trains such pairs only towards the human side (back-translation: the synthetic
    # side is the source, the target is real text) and never holds them out for dev; pretraining
    # objectives read them like any other pair.
    synthetic: Literal["", "src", "tgt"] = ""

    def __post_init__(self) -> None:
        if self.synthetic not in SYNTHETIC_SIDES:
            raise InputError(f"synthetic: expected one of {list(SYNTHETIC_SIDES)} (the machine-made side), "
                             f"got {self.synthetic!r}")
        for key in ("src_lang", "tgt_lang"):
            if not is_lang_code(getattr(self, key)):
                raise InputError(f"{key}: {getattr(self, key)!r} is not a language code like kaz_Cyrl "
                                 "(ISO 639-3 + script)")
        if self.format not in FORMATS:
            raise InputError(f"format: expected one of {list(FORMATS)}, got {self.format!r}")

    @property
    def pair_key(self) -> str:
        return f"{self.src_lang}-{self.tgt_lang}"

    @property
    def label(self) -> str:
        return self.name or Path(self.src).name


@dataclass
class PairFilterConfig:
    """`parallel.filter`: drop pairs whose sides do not translate each other, which `clean_pairs`' surface
    checks cannot see. Web-aligned corpora need it: in a hand-checked random sample of 100 cleaned
    apertium kk-ru pairs, 31 were not translations (docs/cross-lingual.md). Every check only drops
    pairs, per language pair, counted under its reason; synthetic (back-translated) pairs are left alone.

    - `lid`: a side of at least `lid_min_chars` characters that the LID backend (`corpora.lid`:
      fasttext, langid, glotlid) identifies as another language than its own is dropped (a Kazakh
      sentence copied into the Russian column passes the script check, Cyrillic on both sides).
    - `score`: each pair's ratio margin (LASER's mining score: its cosine over the mean cosine of
      either side's `k` nearest candidates among the group's other side), by character 1–3-gram
      TF-IDF (`chars`, no model) or by an encoder's mean-pooled layer `layer` (a model folder, e.g. the
      studied arm of an earlier run: the model's own similarity). The lowest `drop_fraction` of each
      scored group and every pair under `min_margin` are dropped.
    """

    lid: str = ""
    lid_min_chars: int = 20  # LID guesses on short strings (names, dates): shorter sides are not judged
    score: str = ""  # "", "chars" or a model folder
    layer: int = -1  # XTREME numbering, as `retrieval.layer`
    k: int = 4
    drop_fraction: float = 0.0
    min_margin: float = 0.0
    pairs: list[str] = field(default_factory=list)  # language-pair keys both checks apply to (kaz_Cyrl-rus_Cyrl); empty: all

    def __post_init__(self) -> None:
        if not 0.0 <= self.drop_fraction < 1.0:
            raise InputError(f"parallel.filter.drop_fraction must be within [0, 1), got {self.drop_fraction}")
        if self.k < 1:
            raise InputError(f"parallel.filter.k must be ≥ 1, got {self.k}")
        if self.lid_min_chars < 0:
            raise InputError(f"parallel.filter.lid_min_chars must be ≥ 0, got {self.lid_min_chars}")
        if bool(self.score) != (self.drop_fraction > 0 or self.min_margin > 0):
            raise InputError("parallel.filter: `score` and a cut (`drop_fraction` or `min_margin`) go together; "
                             f"got score={self.score!r}, drop_fraction={self.drop_fraction}, "
                             f"min_margin={self.min_margin}")

    def applies_to(self, pair_key: str) -> bool:
        return not self.pairs or pair_key in self.pairs

    @property
    def scorer_model(self) -> str:
        """The scoring model's folder ("" for none or for `chars`)."""
        return self.score if self.score not in ("", "chars") else ""


@dataclass
class ParallelConfig:
    """The `parallel:` section of a pretraining config (and of `xling bt train`)."""

    sources: list[ParallelSource] = field(default_factory=list)
    # YAML files holding a `sources:` list (e.g. recipes/parallel-kk-ru-apertium.yaml), appended to
    # `sources`, so several recipes share one list of files.
    include: list[str] = field(default_factory=list)
    alpha: float = 0.3  # temperature over language pairs (pair counts), as for monolingual languages
    min_chars: int = 1
    max_chars: int = 1000  # per side; longer lines are usually unsplit paragraphs or boilerplate
    max_length_ratio: float = 3.0  # longer/shorter side in characters
    script_check: bool = True
    min_script_fraction: float = 0.5  # of a side's letters that must be in its language's script
    dedup: bool = True
    swap_prob: float = 0.5  # chance a draw is returned tgt→src, so both directions are trained
    view: list[str] = field(default_factory=list)  # languages read through their Latin view (xling.translit)
    # Drop pairs with either side in an evaluation set under the data root (corpora.decontam's test,
    # the same as for the monolingual corpus), so parallel objectives never train on test text.
    decontaminate: bool = False
    filter: PairFilterConfig = field(default_factory=PairFilterConfig)
    seed: int = 0

    def all_sources(self) -> list[ParallelSource]:
        """`sources` plus the sources of every `include` file (relative paths: from the working directory)."""
        out = list(self.sources)
        for inc in self.include:
            data = load_yaml_dict(resolve_data_path(inc))
            items = data.get("sources")
            if not isinstance(items, list):
                raise ConfigError(f"{inc}: expected a top-level `sources:` list of parallel sources")
            out.extend(from_dict(ParallelSource, item, f"{inc}: sources[{i}]") for i, item in enumerate(items))
        return out

    def __post_init__(self) -> None:
        if self.max_length_ratio < 1.0:
            raise InputError(f"max_length_ratio must be ≥ 1, got {self.max_length_ratio}")
        check_alpha(self.alpha)
        if not 0.0 <= self.swap_prob <= 1.0:
            raise InputError(f"swap_prob must be within [0, 1], got {self.swap_prob}")
        if not 0.0 <= self.min_script_fraction <= 1.0:
            raise InputError(f"min_script_fraction must be within [0, 1], got {self.min_script_fraction}")


# --------------------------------------------------------------------------------------- readers


def read_aligned(src: str | Path, tgt: str | Path, unescape: bool = False) -> list[tuple[str, str]]:
    """Line-aligned file pair → [(src, tgt)]; unequal line counts raise naming both files."""
    a = _read_text_lines(src, unescape)
    b = _read_text_lines(tgt, unescape)
    if len(a) != len(b):
        raise InputError(f"misaligned parallel files: {src} has {len(a)} lines but {tgt} has {len(b)} lines; "
                         "line i of one must translate line i of the other")
    return list(zip(a, b, strict=True))


def read_tsv(path: str | Path, unescape: bool = False) -> list[tuple[str, str]]:
    """Two tab-separated columns per line (blank lines skipped); other shapes raise naming file:line."""
    out = []
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n").rstrip("\r")
            if not line.strip():
                continue
            cols = line.split("\t")
            if len(cols) != 2:
                raise InputError(f"{path}:{lineno}: expected 2 tab-separated columns (src, tgt), got {len(cols)}")
            out.append((_clean_text(cols[0], unescape), _clean_text(cols[1], unescape)))
    return out


def read_tmx(path: str | Path, langs: Sequence[str] = ()) -> list[tuple[str, str]]:
    """TMX translation units → [(side 1, side 2)]. `langs` names the two `xml:lang` values (a prefix
    match, so "kk" matches "kk-KZ"); by default the first two languages seen in the file."""
    xml_lang = "{http://www.w3.org/XML/1998/namespace}lang"
    wanted = [lg.lower() for lg in langs]
    if wanted and len(wanted) != 2:
        raise InputError(f"{path}: tmx_langs must name exactly two languages, got {list(langs)}")
    out = []
    try:
        with open_text(path) as f:
            for _, elem in ET.iterparse(f, events=("end",)):
                if elem.tag != "tu":
                    continue
                segs: dict[str, str] = {}
                for tuv in elem.findall("tuv"):
                    lang = (tuv.get(xml_lang) or tuv.get("lang") or "").lower()
                    seg = tuv.find("seg")
                    if lang and seg is not None and lang not in segs:
                        segs[lang] = "".join(seg.itertext())
                if not wanted and len(segs) >= 2:
                    wanted = list(segs)[:2]
                if wanted:
                    sides = [next((t for lg, t in segs.items() if lg.split("-")[0] == w.split("-")[0]), None)
                             for w in wanted]
                    if sides[0] is not None and sides[1] is not None:
                        out.append((_clean_text(sides[0]), _clean_text(sides[1])))
                elem.clear()
    except ET.ParseError as e:
        raise InputError(f"{path}: not a valid TMX file ({e})") from None
    return out


def udhr_units(path: str | Path) -> dict[tuple[str, ...], str]:
    """The text units of one UDHR translation keyed by their place in the document, e.g.
    ("article5", "para1") or ("article2", "orderedlist1", "listitem2"); whitespace collapsed."""
    try:
        with open_text(path) as f:
            root = ET.parse(f).getroot()
    except ET.ParseError as e:
        raise InputError(f"{path}: not a valid UDHR XML file ({e})") from None
    if root.tag.rsplit("}", 1)[-1] != "udhr":
        raise InputError(f"{path}: root element is <{root.tag}>, not <udhr> (unicode-org/udhr layout)")
    units: dict[tuple[str, ...], str] = {}

    def walk(elem: ET.Element, where: tuple[str, ...]) -> None:
        seen: Counter[str] = Counter()
        for child in elem:
            tag = child.tag.rsplit("}", 1)[-1]
            seen[tag] += 1
            key = (*where, f"{tag}{child.get('number') or seen[tag]}")
            # A list item that wraps paragraphs is a container; one holding text is a unit.
            if tag in ("title", "para") or (tag == "listitem" and not any(
                    c.tag.rsplit("}", 1)[-1] == "para" for c in child)):
                text = " ".join("".join(child.itertext()).split())
                if text:
                    units[key] = text
            else:
                walk(child, key)

    walk(root, ())
    return units


def read_udhr(src: str | Path, tgt: str | Path) -> list[tuple[str, str]]:
    """Two UDHR translations → [(src unit, tgt unit)] for every unit both have, in document order."""
    a, b = udhr_units(src), udhr_units(tgt)
    return [(text, b[key]) for key, text in a.items() if key in b]


def read_source(source: ParallelSource) -> list[tuple[str, str]]:
    """Raw pairs of one source, in file order."""
    src = resolve_data_path(source.src)
    if not src.is_file():
        raise FileNotFoundError(f"parallel source {source.label}: {src} does not exist")
    fmt = source.format
    if fmt == "auto":
        fmt = _sniff_format(src, bool(source.tgt))
    if fmt == "aligned":
        if not source.tgt:
            raise InputError(f"parallel source {source.label}: aligned format needs `tgt` (the other side's file)")
        tgt = resolve_data_path(source.tgt)
        if not tgt.is_file():
            raise FileNotFoundError(f"parallel source {source.label}: {tgt} does not exist")
        return read_aligned(src, tgt, source.unescape_entities)
    if fmt == "tsv":
        return read_tsv(src, source.unescape_entities)
    if fmt == "udhr":
        tgt = resolve_data_path(source.tgt) if source.tgt else None
        if tgt is None or not tgt.is_file():
            raise InputError(f"parallel source {source.label}: udhr format needs `tgt`, the other translation's "
                             f"XML file ({source.tgt or 'not given'})")
        return read_udhr(src, tgt)
    return read_tmx(src, source.tmx_langs)


def _sniff_format(path: Path, has_tgt: bool) -> str:
    if has_tgt:
        return "aligned"
    with open_text(path) as f:
        head = f.read(512).lstrip("\ufeff").lstrip()
    if head.startswith("<?xml") or head.startswith("<tmx"):
        return "tmx"
    return "tsv"


def _read_text_lines(path: str | Path, unescape: bool) -> list[str]:
    # Iterate the file rather than str.splitlines(): that also splits at U+2028, U+0085, \x0b …,
    # which occur inside web-text lines and would silently shift the alignment.
    with open_text(path) as f:
        return [_clean_text(line.rstrip("\n"), unescape) for line in f]


_WS = re.compile(r"\s+")


def _clean_text(text: str, unescape: bool = False) -> str:
    if unescape:
        text = strip_markup_tags(html.unescape(text))
    return _WS.sub(" ", text).strip()


# ------------------------------------------------------------------------------------- cleaning


def script_fraction(text: str, script: str) -> float:
    """Share of the letters of `text` written in `script` (ISO 15924: Cyrl, Arab, Latn, Hani …), by
    the cleaning stage's character tables; 1.0 with no letters (digit-only lines are left to the
    length filters)."""
    from corpora.lid import script_counts

    counts = script_counts(text)
    total = sum(counts.values())
    if not total:
        return 1.0
    if script in ("Hans", "Hant"):
        script = "Hani"
    return counts.get(script, 0) / total


def _script_matches(text: str, lang: str, min_fraction: float) -> bool:
    return script_fraction(text, lang.split("_", 1)[1]) >= min_fraction


@dataclass
class ParallelStats:
    """Per-source counts: pairs read, kept, and dropped per reason."""

    read: dict[str, int] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, dict[str, int]] = field(default_factory=dict)  # source → reason → count
    filtered: dict[str, dict[str, Any]] = field(default_factory=dict)  # pair key → `margin_filter`'s record

    def to_json(self) -> dict[str, Any]:
        total = Counter()
        for r in self.reasons.values():
            total.update(r)
        out = {"read": sum(self.read.values()), "kept": sum(self.kept.values()), "removed": dict(total),
               "per_source": {k: {"read": self.read[k], "kept": self.kept.get(k, 0), "removed": self.reasons.get(k, {})}
                              for k in self.read}}
        if self.filtered:
            out["margin_filter"] = self.filtered
        return out


def clean_pairs(pairs: Sequence[tuple[str, str]], src_lang: str, tgt_lang: str, cfg: ParallelConfig,
                seen: set[tuple[str, str]] | None = None) -> tuple[list[tuple[str, str]], Counter]:
    """Keep the pairs that pass every filter; returns (kept, Counter of drop reasons).

    `seen` carries dedup state across sources of one language pair (per-site files overlap)."""
    reasons: Counter = Counter()
    kept = []
    seen = set() if seen is None else seen
    for s, t in pairs:
        if len(s) < cfg.min_chars or len(t) < cfg.min_chars or not s or not t:
            reasons["empty_side"] += 1
            continue
        if len(s) > cfg.max_chars or len(t) > cfg.max_chars:
            reasons["too_long"] += 1
            continue
        if max(len(s), len(t)) > cfg.max_length_ratio * min(len(s), len(t)):
            reasons["length_ratio"] += 1
            continue
        if cfg.script_check:
            if not _script_matches(s, src_lang, cfg.min_script_fraction):
                reasons["wrong_script_src"] += 1
                continue
            if not _script_matches(t, tgt_lang, cfg.min_script_fraction):
                reasons["wrong_script_tgt"] += 1
                continue
        if cfg.dedup:
            key = (s.casefold(), t.casefold())
            if key in seen:
                reasons["duplicate"] += 1
                continue
            seen.add(key)
        kept.append((s, t))
    return kept, reasons


@dataclass
class ParallelData:
    """Cleaned pairs grouped by language pair, in a deterministic order."""

    groups: dict[str, list[tuple[str, str]]]
    langs: dict[str, tuple[str, str]]  # pair key → (src_lang, tgt_lang)
    stats: ParallelStats
    # pair key → the machine-made side of each pair of that group ("" human, "src", "tgt"), in order
    synthetic: dict[str, list[str]] = field(default_factory=dict)

    def sizes(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.groups.items()}


def load_parallel(cfg: ParallelConfig) -> ParallelData:
    """Read and clean every source; pairs of the same language pair share one group (and dedup)."""
    sources = cfg.all_sources()
    if not sources:
        raise InputError("parallel.sources is empty: list at least one aligned pair, TSV or TMX file")
    groups: dict[str, list[tuple[str, str]]] = {}
    synthetic: dict[str, list[str]] = {}
    langs: dict[str, tuple[str, str]] = {}
    seen: dict[str, set] = {}
    origin: dict[str, list[str]] = {}  # pair key → the stats label of each pair's source, in order
    stats = ParallelStats()
    index = None  # the evaluation-text index, built on first use
    lid = LanguageCheck(cfg.filter.lid, cfg.filter.lid_min_chars) if cfg.filter.lid else None
    for i, source in enumerate(sources):
        key = source.pair_key
        label = source.label if source.label not in stats.read else f"{source.label}#{i}"
        raw = read_source(source)
        kept, reasons = clean_pairs(raw, source.src_lang, source.tgt_lang, cfg, seen.setdefault(key, set()))
        if cfg.decontaminate:
            if index is None:
                from corpora.decontam import DecontamConfig

                index = DecontamConfig().build_index()
            kept, n = drop_contaminated(kept, index)
            if n:
                reasons["contaminated"] += n
        if lid is not None and not source.synthetic and cfg.filter.applies_to(key):  # before the view: LID reads the original script
            kept = lid.filter(kept, source.src_lang, source.tgt_lang, reasons)
        if cfg.view:  # after cleaning: its script check reads the original script
            vs, vt = text_view(source.src_lang, cfg.view), text_view(source.tgt_lang, cfg.view)
            kept = [(vs(s), vt(t)) for s, t in kept]
        groups.setdefault(key, []).extend(kept)
        synthetic.setdefault(key, []).extend([source.synthetic] * len(kept))
        origin.setdefault(key, []).extend([label] * len(kept))
        langs[key] = (source.src_lang, source.tgt_lang)
        stats.read[label] = len(raw)
        stats.kept[label] = len(kept)
        stats.reasons[label] = dict(reasons)
        log.info("parallel %s (%s): %d read, %d kept %s", label, key, len(raw), len(kept), dict(reasons))
    if cfg.filter.score:
        for key in groups:
            if cfg.filter.applies_to(key):
                groups[key], synthetic[key] = margin_filter(key, groups[key], synthetic[key], origin[key],
                                                            cfg.filter, stats)
    empty = [k for k, v in groups.items() if not v]
    if empty:
        raise InputError(f"no pairs left after cleaning for {', '.join(empty)}; see the drop reasons "
                         f"{stats.to_json()['removed']} and loosen the parallel.* filters")
    return ParallelData(groups=dict(sorted(groups.items())), langs=langs, stats=stats,
                        synthetic=dict(sorted(synthetic.items())))


class LanguageCheck:
    """`parallel.filter.lid`: is each side in its own language? Sides shorter than `min_chars` pass."""

    def __init__(self, backend: str, min_chars: int) -> None:
        from corpora.lid import LanguageIdentifier

        self.identifier, self.min_chars = LanguageIdentifier(backend=backend), min_chars

    def ok(self, text: str, lang: str) -> bool:
        return len(text) < self.min_chars or self.identifier.identify(text).lang == lang

    def filter(self, pairs: list[tuple[str, str]], src_lang: str, tgt_lang: str,
               reasons: Counter) -> list[tuple[str, str]]:
        kept = []
        for s, t in pairs:
            if not self.ok(s, src_lang):
                reasons["wrong_language_src"] += 1
            elif not self.ok(t, tgt_lang):
                reasons["wrong_language_tgt"] += 1
            else:
                kept.append((s, t))
        return kept


def pair_margins(pairs: Sequence[tuple[str, str]], fc: PairFilterConfig) -> np.ndarray:
    """Each pair's ratio margin among `pairs` (`eval_xtreme.retrieval.aligned_margins`) under `fc.score`."""
    src, tgt = [s for s, _ in pairs], [t for _, t in pairs]
    if fc.score == "chars":
        a, b = char_ngram_vectors(src, tgt)
    else:
        encoder = RetrievalEncoder(str(resolve_data_path(fc.score)), layer=fc.layer)
        a, b = normalize(encoder(src)), normalize(encoder(tgt))
    return aligned_margins(a, b, fc.k)


def margin_filter(key: str, pairs: list[tuple[str, str]], synthetic: list[str], origin: list[str],
                  fc: PairFilterConfig, stats: ParallelStats) -> tuple[list[tuple[str, str]], list[str]]:
    """A group's pairs less its human pairs of lowest margin (`fc.drop_fraction`, `fc.min_margin`);
    the drops are counted under `low_margin` for the source each pair came from."""
    human = [i for i, side in enumerate(synthetic) if not side]
    if len(human) < 2:
        return pairs, synthetic
    margins = pair_margins([pairs[i] for i in human], fc)
    order = np.argsort(margins, kind="stable")  # lowest first; ties: the earlier pair goes first
    drop = set(order[:int(fc.drop_fraction * len(human))].tolist())
    drop |= {j for j in range(len(human)) if margins[j] < fc.min_margin}
    dropped = {human[j] for j in drop}
    for i in dropped:  # every source label already has its reasons dict (load_parallel's loop)
        reasons = stats.reasons[origin[i]]
        stats.kept[origin[i]] -= 1
        reasons["low_margin"] = reasons.get("low_margin", 0) + 1
    kept = np.delete(margins, sorted(drop))
    stats.filtered[key] = {"scored": len(human), "dropped": len(dropped), "score": fc.score,
                           "lowest_kept_margin": round(float(kept.min()), 4) if len(kept) else None}
    log.info("parallel filter %s: %d pairs scored by %s, %d dropped (lowest margin kept %s)", key, len(human),
             fc.score, len(dropped), stats.filtered[key]["lowest_kept_margin"])
    keep = [i for i in range(len(pairs)) if i not in dropped]
    return [pairs[i] for i in keep], [synthetic[i] for i in keep]


def source_files(cfg: ParallelConfig) -> list[str]:
    """Every file the sources (`include`d ones too) read, and the filter's scoring model: what a stage
    must find finished before reading (a `bt translate` folder still running holds part of its pairs)."""
    files = [path for src in cfg.all_sources() for path in (src.src, src.tgt) if path]
    return files + ([cfg.filter.scorer_model] if cfg.filter.scorer_model else [])


def fingerprint_config(cfg: ParallelConfig) -> dict[str, Any]:
    """`to_dict(cfg)` less the source settings added after stage records were written, while they hold
    their default, so those records keep their fingerprint (`xling.core.stage.without_new_defaults`)."""
    out = without_new_defaults(to_dict(cfg), {"filter": to_dict(PairFilterConfig())})
    out["sources"] = [without_new_defaults(s, {"synthetic": ""}) for s in out["sources"]]
    return out


def drop_contaminated(pairs: list[tuple[str, str]], index) -> tuple[list[tuple[str, str]], int]:
    """Pairs whose sides share no text with the evaluation index (`corpora.decontam.EvalIndex`)."""
    if not pairs:
        return pairs, 0
    hit = index.match_masks([s for s, _ in pairs]) | index.match_masks([t for _, t in pairs])
    return [p for p, m in zip(pairs, hit, strict=True) if not m], int((hit != 0).sum())


# -------------------------------------------------------------------------------------- sampling

Encoder = Callable[[list[str]], list[list[int]]]


def hf_encoder(tokenizer: Any) -> Encoder:
    """Token ids without specials from a Hugging Face tokenizer, batched."""
    def encode(texts: list[str]) -> list[list[int]]:
        return tokenizer(texts, add_special_tokens=False)["input_ids"]

    return encode


class PairStream:
    """Deterministic, resumable, infinite stream of `PairExample`s.

    Draw k (global, across ranks) picks a language pair with `corpora.sampling` temperature
    probabilities, takes the next pair of that group's epoch permutation, and swaps the direction
    with `swap_prob`. Rank r of `world_size` yields draws k ≡ r (mod world_size), so the global
    sequence is the same for any number of ranks. Token ids are encoded once, up front.
    """

    def __init__(self, data: ParallelData, encode: Encoder, seed: int = 0, alpha: float = 0.3,
                 swap_prob: float = 0.5, rank: int = 0, world_size: int = 1) -> None:
        if not 0 <= rank < world_size:
            raise InputError(f"rank {rank} outside world_size {world_size}")
        self.keys = list(data.groups)
        self.langs = [data.langs[k] for k in self.keys]
        self.stats = data.stats
        self.ids: list[tuple[list[list[int]], list[list[int]]]] = []
        for k in self.keys:
            pairs = data.groups[k]
            self.ids.append((encode([s for s, _ in pairs]), encode([t for _, t in pairs])))
        self.plan = sampling_plan(data.sizes(), alpha=alpha, unit="pairs")
        probs = self.plan.probabilities()
        self.cum = np.cumsum([probs[k] for k in self.keys])
        self.seed, self.swap_prob, self.rank, self.world_size = seed, swap_prob, rank, world_size
        self.drawn = 0  # global draws consumed
        self.cursor = [[0, 0] for _ in self.keys]  # per group: (epoch, position)
        self._perm_cache: dict[int, tuple[int, np.ndarray]] = {}

    @classmethod
    def from_config(cls, cfg: ParallelConfig, encode: Encoder, rank: int = 0, world_size: int = 1) -> PairStream:
        return cls(load_parallel(cfg), encode, seed=cfg.seed, alpha=cfg.alpha, swap_prob=cfg.swap_prob,
                   rank=rank, world_size=world_size)

    def _perm(self, g: int, epoch: int) -> np.ndarray:
        cached = self._perm_cache.get(g)
        if cached is None or cached[0] != epoch:
            rng = np.random.default_rng([self.seed, 1, g, epoch])
            cached = (epoch, rng.permutation(len(self.ids[g][0])))
            self._perm_cache[g] = cached
        return cached[1]

    def _draw(self) -> tuple[int, int, bool]:
        """Global draw `self.drawn` → (group, pair index, swapped); advances the state."""
        u = np.random.default_rng([self.seed, 0, self.drawn]).random(2)
        g = min(int(np.searchsorted(self.cum, u[0] * self.cum[-1], side="right")), len(self.keys) - 1)
        epoch, pos = self.cursor[g]
        idx = int(self._perm(g, epoch)[pos])
        pos += 1
        if pos == len(self.ids[g][0]):
            epoch, pos = epoch + 1, 0
        self.cursor[g] = [epoch, pos]
        self.drawn += 1
        return g, idx, bool(u[1] < self.swap_prob)

    def __iter__(self) -> Iterator:
        return self

    def __next__(self):
        from xling.objectives.base import PairExample

        while True:
            k = self.drawn
            g, idx, swapped = self._draw()
            if k % self.world_size != self.rank:
                continue
            src, tgt = self.ids[g][0][idx], self.ids[g][1][idx]
            src_lang, tgt_lang = self.langs[g]
            if swapped:
                return PairExample(src=list(tgt), tgt=list(src), src_lang=tgt_lang, tgt_lang=src_lang)
            return PairExample(src=list(src), tgt=list(tgt), src_lang=src_lang, tgt_lang=tgt_lang)

    def take(self, n: int) -> list:
        return [next(self) for _ in range(n)]

    def state_dict(self) -> dict[str, Any]:
        """Plain ints only: saved in the JSON part of a checkpoint (`xling.core.checkpoint`)."""
        return {"drawn": self.drawn, "cursor": [list(c) for c in self.cursor], "keys": list(self.keys),
                "sizes": [len(i[0]) for i in self.ids]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        keys, sizes = list(state["keys"]), [int(s) for s in state["sizes"]]
        if keys != self.keys or sizes != [len(i[0]) for i in self.ids]:
            raise InputError(f"parallel data changed since the checkpoint: it had {dict(zip(keys, sizes, strict=False))}, "
                             f"now {dict(zip(self.keys, [len(i[0]) for i in self.ids], strict=True))}; "
                             "resume with the same parallel sources and filters")
        self.drawn = int(state["drawn"])
        self.cursor = [[int(e), int(p)] for e, p in state["cursor"]]


def write_tsv_pairs(path: str | Path, pairs: Sequence[tuple[str, str]]) -> Path:
    """Write pairs as the TSV `read_tsv` reads (tabs/newlines inside text become spaces), atomically."""
    return write_text_atomic(path, "".join(f"{tsv_field(s)}\t{tsv_field(t)}\n" for s, t in pairs))


def tsv_field(text: str) -> str:
    return _WS.sub(" ", text).strip()
