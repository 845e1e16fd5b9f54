"""Lower-case alphabets per language (ISO 639-3 + script), for the alphabet-coverage statistic.

Only single code points are listed: coverage asks whether each letter exists as a one-character
piece, so digraph letters (Uzbek `sh`, Uyghur `ئا`) are represented by their parts.
"""

from __future__ import annotations

_RUSSIAN = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"

ALPHABETS: dict[str, str] = {
    # 42 letters; і (U+0456) is the one our normalisers protect from Latin `i` look-alikes.
    "kaz_Cyrl": _RUSSIAN + "әғқңөұүһі",
    # Uyghur Ereb Yéziqi: 32 letters written with 32 base code points plus hamza carrier ئ (U+0626).
    "uig_Arab": (
        "\u0627\u06d5\u0628\u067e\u062a\u062c\u0686\u062e\u062f\u0631\u0632\u0698\u0633\u0634\u063a\u0641"
        "\u0642\u0643\u06af\u06ad\u0644\u0645\u0646\u06be\u0648\u06c7\u06c6\u06c8\u06cb\u06d0\u0649\u064a\u0626"
    ),
    "rus_Cyrl": _RUSSIAN,
    "eng_Latn": "abcdefghijklmnopqrstuvwxyz",
    "tur_Latn": "abcçdefgğhıijklmnoöprsştuüvyz",
    "kir_Cyrl": _RUSSIAN + "ңөү",
    "tat_Cyrl": _RUSSIAN + "әөүҗңһ",
    # 1995 Latin alphabet: o‘ and g‘ use U+02BB (modifier letter turned comma); `c` only occurs in `ch`.
    "uzb_Latn": "abcdefghijklmnopqrstuvxyz\u02bb",
}


def alphabet(lang: str) -> str | None:
    """The lower-case alphabet of `lang`, or None when we ship none for it."""
    return ALPHABETS.get(lang)
