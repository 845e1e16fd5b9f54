"""Lower-case alphabets per language (ISO 639-3 + script), for the alphabet-coverage statistic.

The alphabets live in the language profiles (`scripts.<Script>.alphabet` in
`xling/core/lang_profiles/*.yaml`, or a user's profile). Only single code points are listed:
coverage asks whether each letter exists as a one-character piece, so digraph letters (Uzbek `sh`,
Uyghur `ئا`) are represented by their parts.
"""

from __future__ import annotations

from xling.core.langs import registry


def alphabets() -> dict[str, str]:
    """{`iso3_Script`: lower-case alphabet} for every profiled script whose alphabet is known."""
    return registry().alphabets()


def alphabet(lang: str) -> str | None:
    """The lower-case alphabet of `lang` (`kaz_Cyrl`), or None when no profile gives one."""
    code, _, script = lang.partition("_")
    prof = registry().find(code) if script else None
    return prof.alphabet(script) if prof is not None and prof.code == code else None
