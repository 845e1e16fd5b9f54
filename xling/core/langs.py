"""The one language-code table: two-letter (ISO 639-1) and Wikipedia codes → ISO 639-3.

Codes follow the ISO 639-3 code table's `Part1` column (Debian's iso-codes, `iso_639-3.xml`):
a two-letter code maps to the code of the same language in ISO 639-3, which for a macrolanguage is
the macrolanguage (`fa`→`fas` Persian, `sw`→`swa` Swahili, `zh`→`zho` Chinese). The one place
another code is used is a file name: XTREME's Tatoeba files (from LASER) are named by the
individual language — `tatoeba.pes-eng.pes`, `tatoeba.swh-eng.swh`, `tatoeba.cmn-eng.cmn` — exactly
as google-research/xtreme `utils_preprocess.py` maps them back (`'pes':'fa'`, `'swh':'sw'`,
`'cmn':'zh'`); `tatoeba_code()` gives those.
"""

from __future__ import annotations

PART1 = {
    "af": "afr", "am": "amh", "an": "arg", "ar": "ara", "as": "asm", "av": "ava", "az": "aze", "ba": "bak",
    "be": "bel", "bg": "bul", "bn": "ben", "bo": "bod", "br": "bre", "bs": "bos", "ca": "cat",
    "ce": "che", "co": "cos", "cs": "ces", "cv": "chv", "cy": "cym", "da": "dan", "de": "deu", "dv": "div",
    "dz": "dzo", "el": "ell", "en": "eng", "eo": "epo", "es": "spa", "et": "est", "eu": "eus", "fa": "fas",
    "fi": "fin", "fo": "fao", "fr": "fra", "fy": "fry", "ga": "gle", "gd": "gla", "gl": "glg", "gn": "grn",
    "gu": "guj", "gv": "glv", "he": "heb", "hi": "hin", "hr": "hrv", "ht": "hat", "hu": "hun", "hy": "hye",
    "ia": "ina", "id": "ind", "ie": "ile", "io": "ido", "is": "isl", "it": "ita", "ja": "jpn", "jv": "jav",
    "ka": "kat", "kk": "kaz", "km": "khm", "kn": "kan", "ko": "kor", "ku": "kur", "kv": "kom", "kw": "cor",
    "ky": "kir", "la": "lat", "lb": "ltz", "li": "lim", "lo": "lao", "lt": "lit", "lv": "lav", "mg": "mlg",
    "mk": "mkd", "ml": "mal", "mn": "mon", "mr": "mar", "ms": "msa", "mt": "mlt", "my": "mya", "nb": "nob",
    "ne": "nep", "nl": "nld", "nn": "nno", "no": "nor", "oc": "oci", "or": "ori", "os": "oss", "pa": "pan",
    "pl": "pol", "ps": "pus", "pt": "por", "qu": "que", "rm": "roh", "ro": "ron", "ru": "rus", "rw": "kin",
    "sa": "san", "sc": "srd", "sd": "snd", "se": "sme", "sh": "hbs", "si": "sin", "sk": "slk", "sl": "slv",
    "so": "som", "sq": "sqi", "sr": "srp", "su": "sun", "sv": "swe", "sw": "swa", "ta": "tam", "te": "tel",
    "tg": "tgk", "th": "tha", "tk": "tuk", "tl": "tgl", "tr": "tur", "tt": "tat", "ug": "uig", "uk": "ukr",
    "ur": "urd", "uz": "uzb", "vi": "vie", "vo": "vol", "wa": "wln", "xh": "xho", "yi": "yid", "yo": "yor",
    "zh": "zho", "zu": "zul",
}

# lid.176 labels that are not ISO 639-1 codes: Wikipedia codes, and `bh` (Bihari, ISO 639-2 `bih`, a
# collective code that ISO 639-3 does not have).
LID176_LABELS = {
    "bh": "bih", "als": "gsw", "bat-smg": "sgs", "bcl": "bcl", "bpy": "bpy", "bxr": "bxr", "cbk": "cbk", "diq": "diq",
    "eml": "egl", "fiu-vro": "vro", "gom": "gom", "hif": "hif", "lrc": "lrc", "mhr": "mhr", "mrj": "mrj",
    "nah": "nah", "nds": "nds", "new": "new", "pam": "pam", "pfl": "pfl", "pms": "pms", "pnb": "pnb",
    "roa-rup": "rup", "rue": "rue", "sco": "sco", "vec": "vec", "vep": "vep", "vls": "vls", "war": "war",
    "wuu": "wuu", "xal": "xal", "xmf": "xmf", "yue": "yue", "zh-classical": "lzh",
}

ISO639_3 = {**PART1, **LID176_LABELS}

# XTREME's Tatoeba files name these languages by the individual language inside the ISO macrolanguage.
TATOEBA_INDIVIDUAL = {"fa": "pes", "sw": "swh", "zh": "cmn"}


def to_iso3(code: str) -> str:
    """A two-letter or lid.176 Wikipedia code → ISO 639-3; three-letter codes pass through."""
    code = code.lower()
    return ISO639_3.get(code, code)


def to_iso1(iso3: str) -> str:
    """ISO 639-3 → the two-letter code where one exists (else the code unchanged)."""
    return _ISO1.get(iso3, iso3)


def tatoeba_code(lang: str) -> str:
    """The three-letter code in XTREME Tatoeba file names for a two-letter XTREME language."""
    return TATOEBA_INDIVIDUAL.get(lang, to_iso3(lang))


_ISO1 = {v: k for k, v in PART1.items()}
