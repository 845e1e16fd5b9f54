"""Languages as data: one profile file per language, and the one language-code table.

A profile (`xling/core/lang_profiles/<iso639-3>.yaml`, or a user's file in a folder named by
`$XLING_LANG_PROFILES`, several separated by `os.pathsep`) says what xling knows about a language:
its codes, scripts and alphabets, the letters that tell it from its neighbours in language ID, its
Latin look-alike (homoglyph) repairs, transliteration tables, the labels LID models give it and the
codes of its evaluation sets. Corpora (normalisation, LID relabelling), vocab (alphabet coverage),
the transliteration views and eval_xtreme (file codes) all read it; adding a language means adding
a file, not editing code (`docs/new-language.md`). A user profile with the code of a shipped one
replaces it.

The code table is `lang_profiles/codes.tsv` (languages without a profile: ISO 639-3, ISO 639-1,
lid.176 label, Tatoeba and FLORES-200 file codes) plus every profile. Codes follow the ISO 639-3
code table's `Part1` column (Debian's iso-codes, `iso_639-3.xml`): a two-letter code maps to the
code of the same language in ISO 639-3, which for a macrolanguage is the macrolanguage (`fa`→`fas`,
`sw`→`swa`, `zh`→`zho`). File names are the one place another code is used: XTREME's Tatoeba files
(from LASER) name the individual language (`tatoeba.pes-eng.pes`, `swh`, `cmn`), exactly as
google-research/xtreme `utils_preprocess.py` maps them back; `tatoeba_code()` gives those.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from xling.core.config import from_dict
from xling.core.errors import ConfigError, InputError
from xling.core.registry import RegistryError

SHIPPED_DIR = Path(__file__).with_name("lang_profiles")
PROFILES_ENV = "XLING_LANG_PROFILES"


# ---------------------------------------------------------------------------------------------
# The profile file, typed (unknown keys and wrong types are errors naming file and key)

@dataclass(frozen=True)
class ScriptProfile:
    # lower-case letters, one code point each (a digraph letter is listed by its parts); None: unknown
    alphabet: str | None = None
    # letters the language's text also uses that its alphabet does not list (Turkish â î û in loans):
    # language identification must not count them against it
    other_letters: str = ""


@dataclass(frozen=True)
class LidLabels:
    """What each LID model calls this language; None: the model does not know it."""

    lid176: str | None = None  # fastText lid.176 (ISO 639-1 or a Wikipedia code)
    langid: str | None = None  # langid.py (ISO 639-1)
    # GlotLID labels (ISO 639-3 + script) that mean this language; individual-language codes of a
    # macrolanguage (`uzn_Latn` for Uzbek) are how our code differs from the model's.
    glotlid: tuple[str, ...] = ()


@dataclass(frozen=True)
class CyrillicLid:
    """Takes part in the Cyrillic alphabet check (`corpora.lid.cyrillic_orthography`)."""

    marks: str = ""  # letters beyond Russian's
    lacks: str = ""  # Russian letters the alphabet does not have
    # order in which a language whose alphabet fits is chosen when the model's label does not fit
    # (lowest first); None: never chosen that way
    fallback_rank: int | None = None


@dataclass(frozen=True)
class ArabicLid:
    """Takes part in the Turkic Arabic-script orthography check (`corpora.lid.arabic_turkic_orthography`)."""

    marks: str = ""  # letters that count as evidence for this language against the others
    bare_initial_vowels: str = ""  # vowel letters whose bare word-initial use is evidence for it
    # letters Arabic, Persian and Urdu never use: a line with one that reaches the model as a
    # non-Turkic language is taken back for the Turkic group
    reclaim_letters: str = ""
    fallback_rank: int | None = None  # the default when reclaimed without a Turkic model guess (lowest first)


@dataclass(frozen=True)
class LidProfile:
    labels: LidLabels = field(default_factory=LidLabels)
    cyrillic: CyrillicLid | None = None
    arabic: ArabicLid | None = None


@dataclass(frozen=True)
class NormalizeProfile:
    # {script: {look-alike: letter}}: a look-alike typed inside a word of that script is repaired
    homoglyphs: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)  # hashed by identity: derived tables are cached per table
class Translit:
    """One transliteration table. `kind` names the algorithm that reads it (`xling.translit`)."""

    kind: Literal["letters", "uly"]
    to: str  # script written
    view: bool = False  # the language's input view (`xling.translit.views()`)
    # kind "letters": lower-case letter → string; `upper` gives capitals that are not str.upper();
    # `inverse_prefer` picks the reading of an ambiguous target letter for the reverse direction
    letters: dict[str, str] = field(default_factory=dict)
    upper: dict[str, str] = field(default_factory=dict)
    inverse_prefer: dict[str, str] = field(default_factory=dict)
    # kind "uly" (Uyghur Latin ↔ Arabic): the Latin → Arabic tables; the view is their inverse
    digraphs: dict[str, str] = field(default_factory=dict)
    vowels: dict[str, str] = field(default_factory=dict)
    consonants: dict[str, str] = field(default_factory=dict)
    punct: dict[str, str] = field(default_factory=dict)
    hamza: str = ""
    apostrophes: str = ""
    inverse_skip: tuple[str, ...] = ()  # Latin spellings the inverse never writes
    # `from` is a Python keyword: the YAML key `from` is read into this field
    source: str = ""


@dataclass(frozen=True)
class EvalCodes:
    """How evaluation files name the language where it is not the ISO 639-1 (or 639-3) code."""

    flores: str | None = None  # FLORES-200 file code (ISO 639-3 + script)
    tatoeba: str | None = None  # LASER Tatoeba file code
    # data-root-relative paths (glob patterns) of this language's evaluation files, for `xling lang show`
    files: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class LanguageProfile:
    code: str  # ISO 639-3
    name: str
    default_script: str
    scripts: dict[str, ScriptProfile]
    iso639_1: str | None = None
    lid: LidProfile = field(default_factory=LidProfile)
    normalize: NormalizeProfile = field(default_factory=NormalizeProfile)
    translit: dict[str, Translit] = field(default_factory=dict)
    eval: EvalCodes = field(default_factory=EvalCodes)
    notes: str = ""
    path: Path | None = None  # the file it was read from

    @property
    def short(self) -> str:
        """The code file names and XTREME use: ISO 639-1 where one exists, else ISO 639-3."""
        return self.iso639_1 or self.code

    def alphabet(self, script: str) -> str | None:
        sp = self.scripts.get(script)
        return sp.alphabet if sp else None


def load_profile(path: str | os.PathLike) -> LanguageProfile:
    """Read and check one profile file; errors name the file and the key."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise InputError(f"{p}: invalid YAML: {e}") from None
    if not isinstance(data, dict):
        raise InputError(f"{p}: a language profile is a mapping (code, name, scripts, ...)")
    for tr in (data.get("translit") or {}).values():
        if isinstance(tr, dict) and "from" in tr:
            tr["source"] = tr.pop("from")
    try:
        prof = from_dict(LanguageProfile, data, where="")
    except ConfigError as e:
        raise InputError(f"{p}: {e}") from None
    _check(prof, p)
    return dataclasses.replace(prof, path=p)


def _check(prof: LanguageProfile, p: Path) -> None:
    def bad(msg: str) -> InputError:
        return InputError(f"{p}: {msg}")

    if len(prof.code) != 3 or not prof.code.isascii() or not prof.code.islower():
        raise bad(f"code: {prof.code!r} is not an ISO 639-3 code (three lower-case letters)")
    if p.suffix in (".yaml", ".yml") and p.stem != prof.code:
        raise bad(f"code: {prof.code!r} differs from the file name; name the file {prof.code}.yaml")
    if prof.iso639_1 is not None and (len(prof.iso639_1) != 2 or not prof.iso639_1.islower()):
        raise bad(f"iso639_1: {prof.iso639_1!r} is not a two-letter code")
    for script in prof.scripts:
        if len(script) != 4 or not script.istitle():
            raise bad(f"scripts: {script!r} is not an ISO 15924 code (e.g. Cyrl, Latn, Arab)")
    if prof.default_script not in prof.scripts:
        raise bad(f"default_script: {prof.default_script!r} is not one of scripts ({', '.join(prof.scripts)})")
    for script, sp in prof.scripts.items():
        if sp.alphabet is not None and sp.alphabet != sp.alphabet.lower():
            raise bad(f"scripts.{script}.alphabet: list lower-case letters only")
        if sp.other_letters != sp.other_letters.lower():
            raise bad(f"scripts.{script}.other_letters: list lower-case letters only")
    for script in prof.normalize.homoglyphs:
        if script != "Cyrl":
            # the repair (corpora.normalize) looks for look-alikes inside Cyrillic words only
            raise bad(f"normalize.homoglyphs.{script}: only Cyrl look-alikes are repaired today")
    for name, tr in prof.translit.items():
        if tr.source not in prof.scripts:
            raise bad(f"translit.{name}.from: {tr.source!r} is not one of scripts ({', '.join(prof.scripts)})")
        if tr.kind == "letters" and not tr.letters:
            raise bad(f"translit.{name}.letters: a 'letters' table needs its letters")
        if tr.kind == "uly" and not (tr.vowels and tr.consonants and tr.hamza):
            raise bad(f"translit.{name}: a 'uly' table needs vowels, consonants and hamza")
    if sum(tr.view for tr in prof.translit.values()) > 1:
        raise bad("translit: at most one table may be the language's view (view: true)")


# ---------------------------------------------------------------------------------------------
# The registry

@dataclass(frozen=True)
class CodeRow:
    iso639_3: str
    iso639_1: str | None
    lid176: str | None
    tatoeba: str | None
    flores: str | None


class LanguageRegistry:
    """The profiles and the code table, merged; lookups accept any code a language goes by."""

    def __init__(self, profiles: dict[str, LanguageProfile], table: list[CodeRow]) -> None:
        self.profiles = dict(sorted(profiles.items()))
        rows = {r.iso639_3: r for r in table if r.iso639_3 not in profiles}
        for prof in self.profiles.values():
            rows[prof.code] = CodeRow(prof.code, prof.iso639_1, prof.lid.labels.lid176, prof.eval.tatoeba,
                                      prof.eval.flores)
        self.rows = dict(sorted(rows.items()))
        self.part1: dict[str, str] = {}  # ISO 639-1 → ISO 639-3
        self.iso3: dict[str, str] = {}  # every alias → ISO 639-3
        for r in self.rows.values():
            for alias, kind in ((r.iso639_1, "ISO 639-1 code"), (r.lid176, "lid.176 label")):
                if alias is None:
                    continue
                other = self.iso3.get(alias)
                if other is not None and other != r.iso639_3:
                    raise InputError(f"{kind} {alias!r} is claimed by both {other} ({self._where(other)}) and "
                                     f"{r.iso639_3} ({self._where(r.iso639_3)}); one language-code table "
                                     "allows one")
                self.iso3[alias] = r.iso639_3
                if kind.startswith("ISO"):
                    self.part1[alias] = r.iso639_3
        self._iso1 = {v: k for k, v in self.part1.items()}
        self._glotlid = {label: f"{p.code}_{label.partition('_')[2]}" for p in self.profiles.values()
                         for label in p.lid.labels.glotlid}

    def _where(self, code: str) -> str:
        prof = self.profiles.get(code)
        return str(prof.path) if prof and prof.path else str(SHIPPED_DIR / "codes.tsv")

    # codes ------------------------------------------------------------------------------------
    def to_iso3(self, code: str) -> str:
        code = code.lower()
        return self.iso3.get(code, code)

    def to_iso1(self, iso3: str) -> str:
        return self._iso1.get(iso3, iso3)

    def tatoeba_code(self, lang: str) -> str:
        iso3 = self.to_iso3(lang)
        row = self.rows.get(iso3)
        return row.tatoeba if row and row.tatoeba else iso3

    def flores_code(self, lang: str) -> str | None:
        row = self.rows.get(self.to_iso3(lang))
        return row.flores if row else None

    def from_glotlid(self, label: str) -> str:
        """A GlotLID label (`uzn_Latn`, `__label__uzn_Latn`) → ours (`uzb_Latn`): the profile that lists it
        under `lid.labels.glotlid`, else the label's language through the code table."""
        label = label.removeprefix("__label__")
        ours = self._glotlid.get(label)
        if ours is None:
            code, _, script = label.partition("_")
            ours = f"{self.to_iso3(code)}_{script}" if script else self.to_iso3(code)
        return ours

    # profiles ---------------------------------------------------------------------------------
    def find(self, lang: str) -> LanguageProfile | None:
        """The profile of `lang` (kk, kaz, kaz_Cyrl, kk-ru → kk), or None when there is none."""
        base = lang.split("_")[0].split("-")[0]
        return self.profiles.get(self.to_iso3(base))

    def get(self, lang: str) -> LanguageProfile:
        prof = self.find(lang)
        if prof is None:
            names = list(self.profiles) + [p.iso639_1 for p in self.profiles.values() if p.iso639_1]
            close = difflib.get_close_matches(lang.lower(), names, n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise RegistryError(f"no language profile for {lang!r}.{hint} Profiles: {', '.join(self.profiles)}; "
                                f"add one as <code>.yaml in a folder named by ${PROFILES_ENV} "
                                "(docs/new-language.md)")
        return prof

    def __iter__(self):
        return iter(self.profiles.values())

    def homoglyphs(self, script: str = "Cyrl") -> dict[str, str]:
        """{look-alike: letter of `script`} from every profile's `normalize.homoglyphs` together; a
        look-alike two profiles repair differently is an error (one repair per character)."""
        table: dict[str, str] = {}
        for prof in self:
            for other, letter in prof.normalize.homoglyphs.get(script, {}).items():
                if table.get(other, letter) != letter:
                    raise InputError(f"{prof.path}: normalize.homoglyphs.{script}.{other}: {letter!r}, but another "
                                     f"profile repairs {other!r} as {table[other]!r}")
                table[other] = letter
        return table

    def alphabets(self) -> dict[str, str]:
        """{`iso3_Script`: lower-case alphabet} for every profiled script with a known alphabet."""
        return {f"{p.code}_{s}": sp.alphabet for p in self for s, sp in p.scripts.items() if sp.alphabet}

    def lid_alphabets(self) -> dict[str, str]:
        """`alphabets()` plus each script's `other_letters`: the letters LID expects in the language's text."""
        return {f"{p.code}_{s}": sp.alphabet + sp.other_letters for p in self for s, sp in p.scripts.items()
                if sp.alphabet}


def read_code_table(path: Path) -> list[CodeRow]:
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        if len(cells) != 5 or len(cells[0]) != 3:
            raise InputError(f"{path}:{lineno}: expected 5 tab-separated cells (iso639_3 iso639_1 lid176 "
                             f"tatoeba flores, '-' for none), got {line!r}")
        rows.append(CodeRow(*(None if c == "-" else c for c in cells)))
    return rows


def profile_dirs() -> list[Path]:
    """The shipped profile folder, then the user's folders from $XLING_LANG_PROFILES (later wins)."""
    extra = [Path(d) for d in os.environ.get(PROFILES_ENV, "").split(os.pathsep) if d]
    for d in extra:
        if not d.is_dir():
            raise InputError(f"${PROFILES_ENV}: {d} is not a folder of language profiles")
    return [SHIPPED_DIR, *extra]


def load_registry(dirs: list[Path]) -> LanguageRegistry:
    profiles: dict[str, LanguageProfile] = {}
    for d in dirs:
        for path in sorted(d.glob("*.yaml")):
            prof = load_profile(path)
            profiles[prof.code] = prof
    return LanguageRegistry(profiles, read_code_table(SHIPPED_DIR / "codes.tsv"))


_REGISTRIES: dict[str, LanguageRegistry] = {}


def registry() -> LanguageRegistry:
    """The registry for the current $XLING_LANG_PROFILES (read once per value of the variable)."""
    key = os.environ.get(PROFILES_ENV, "")
    reg = _REGISTRIES.get(key)
    if reg is None:
        reg = _REGISTRIES[key] = load_registry(profile_dirs())
    return reg


def to_iso3(code: str) -> str:
    """A two-letter or lid.176 Wikipedia code → ISO 639-3; three-letter codes pass through."""
    return registry().to_iso3(code)


def to_iso1(iso3: str) -> str:
    """ISO 639-3 → the two-letter code where one exists (else the code unchanged)."""
    return registry().to_iso1(iso3)


def tatoeba_code(lang: str) -> str:
    """The three-letter code in XTREME Tatoeba file names for a two-letter XTREME language."""
    return registry().tatoeba_code(lang)


def flores_code(lang: str) -> str:
    """The FLORES-200 file code of `lang` (the code unchanged when the table has none)."""
    return registry().flores_code(lang) or lang


def profile(lang: str) -> LanguageProfile:
    """The profile of `lang` (any code it goes by); a RegistryError names the profiles there are."""
    return registry().get(lang)
