"""`xling lang ls` and `xling lang show CODE`: what xling knows about a language, and what is missing for it.

`show` prints the language's profile (codes, scripts and alphabets, LID labels and orthography rules,
homoglyph repairs, transliteration tables), the evaluation tasks of the registry that list it with
the splits found under the data root, the monolingual text the data root holds for it, and a
"missing" list: the pieces of the onboarding guide (docs/new-language.md) still to do.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

from eval_xtreme.tasks import TASKS
from xling.core.langs import LanguageProfile, profile, registry
from xling.core.paths import data_root


@dataclass
class LanguageReport:
    profile: LanguageProfile
    eval_sets: list[tuple[str, str, str]] = field(default_factory=list)  # (task, split, where or "")
    mono: list[str] = field(default_factory=list)  # data-root folders of monolingual text
    missing: list[str] = field(default_factory=list)


def language_report(lang: str, root: Path | None) -> LanguageReport:
    prof = profile(lang)
    rep = LanguageReport(prof)
    codes = {prof.short, prof.code}
    for name, task in TASKS.items():
        for code in sorted(codes & set(task.languages)):
            # train and dev splits are the source language's (English for XTREME: checkpoints are chosen on
            # its dev set), so a language's evaluation sets are its test splits
            for split in ("test",):
                if split not in task.files or not task.candidates(split, code):
                    continue
                where = ""
                if root is not None:
                    try:
                        where = task.resolve(split, code, root, allow_fixtures=False).describe()
                    except FileNotFoundError:
                        where = ""
                rep.eval_sets.append((name, split, where))
    if root is not None:
        for pattern in prof.eval.files:
            found = sorted(root.glob(pattern))
            rep.eval_sets.append(("files", pattern, ", ".join(str(p) for p in found)))
        for code in sorted(codes):
            d = root / "mono" / code
            if d.is_dir():
                rep.mono += sorted(str(p) for p in d.iterdir() if p.is_dir())
    rep.missing = _missing(rep, root)
    return rep


def _missing(rep: LanguageReport, root: Path | None) -> list[str]:
    prof, out = rep.profile, []
    for script, sp in prof.scripts.items():
        if sp.alphabet is None:
            out.append(f"scripts.{script}.alphabet: unknown (vocab stats report no alphabet coverage for "
                       f"{prof.code}_{script})")
    labels = prof.lid.labels
    if labels.lid176 is None:
        out.append("lid.labels.lid176: fastText lid.176 does not know the language; train a supplementary "
                   "model (`xling lid train`, docs/new-language.md)")
    if labels.langid is None:
        out.append("lid.labels.langid: langid.py does not know the language (use --lid fasttext)")
    if prof.default_script == "Cyrl" and prof.lid.cyrillic is None:
        out.append("lid.cyrillic: no Cyrillic letter evidence; a line the model gives to a neighbour is not "
                   "taken back")
    if not any(t.view for t in prof.translit.values()):
        out.append("translit: no input view (only needed for a Latin-script view of the language)")
    if root is None:
        out.append("data root: not found ($XLING_DATA): evaluation files and monolingual text not checked")
        return out
    found = [e for e in rep.eval_sets if e[2]]
    if not rep.eval_sets:
        out.append("evaluation: no registered task lists the language; write a task file "
                   "(eval_xtreme/user_tasks.py) or list files under eval.files")
    elif not found:
        out.append("evaluation: tasks list the language but none of their files is under the data root")
    if not rep.mono:
        out.append(f"monolingual text: nothing under {root}/mono/{prof.short}")
    return out


def format_report(rep: LanguageReport) -> str:
    p = rep.profile
    lines = [f"{p.name} ({p.code}{', ' + p.iso639_1 if p.iso639_1 else ''})   profile: {p.path}"]
    lines.append(f"  scripts: {', '.join(p.scripts)} (default {p.default_script})")
    for script, sp in p.scripts.items():
        alpha = f"{len(sp.alphabet)} letters: {sp.alphabet}" if sp.alphabet else "alphabet unknown"
        lines.append(f"    {script}: {alpha}")
    lb = p.lid.labels
    lines.append(f"  LID labels: lid.176 {lb.lid176 or '-'}, langid {lb.langid or '-'}, "
                 f"GlotLID {', '.join(lb.glotlid) or '-'}")
    if p.lid.cyrillic:
        c = p.lid.cyrillic
        lines.append(f"  LID Cyrillic check: letters beyond Russian '{c.marks}'"
                     + (f", lacks '{c.lacks}'" if c.lacks else "")
                     + (f", fallback rank {c.fallback_rank}" if c.fallback_rank is not None else ""))
    if p.lid.arabic:
        a = p.lid.arabic
        parts = [f"marks '{a.marks}'" if a.marks else "",
                 f"bare word-initial vowels '{a.bare_initial_vowels}'" if a.bare_initial_vowels else "",
                 f"reclaims '{a.reclaim_letters}'" if a.reclaim_letters else "",
                 f"fallback rank {a.fallback_rank}" if a.fallback_rank is not None else ""]
        lines.append(f"  LID Arabic-script check: {', '.join(x for x in parts if x) or 'takes part'}")
    for script, table in p.normalize.homoglyphs.items():
        lines.append(f"  homoglyph repairs in {script} words: "
                     + " ".join(f"{k}→{v}" for k, v in table.items()))
    for name, tr in p.translit.items():
        size = len(tr.letters) or len(tr.vowels) + len(tr.consonants) + len(tr.digraphs)
        lines.append(f"  translit {name}: {tr.source} → {tr.to} ({tr.kind}, {size} entries"
                     f"{', the input view' if tr.view else ''})")
    codes = [f"FLORES-200 {p.eval.flores}" if p.eval.flores else "",
             f"Tatoeba {p.eval.tatoeba}" if p.eval.tatoeba else ""]
    if any(codes):
        lines.append(f"  evaluation file codes: {', '.join(c for c in codes if c)}")
    lines.append("  evaluation sets:" if rep.eval_sets else "  evaluation sets: none registered")
    for task, split, where in rep.eval_sets:
        lines.append(f"    {task} {split}: {where or 'not in the data root'}")
    if rep.mono:
        lines.append("  monolingual text: " + ", ".join(rep.mono))
    if p.notes:
        lines.append(f"  notes: {p.notes.strip()}")
    lines.append("  missing:" if rep.missing else "  missing: nothing")
    lines += [f"    - {m}" for m in rep.missing]
    return "\n".join(lines)


def register(subparsers) -> None:
    p = subparsers.add_parser("lang", help="language profiles: what xling knows about a language",
                              description="Language profiles (xling/core/lang_profiles, plus folders in "
                              "$XLING_LANG_PROFILES); see docs/new-language.md.")
    sub = p.add_subparsers(dest="lang_command", required=True, metavar="SUBCOMMAND")
    ls = sub.add_parser("ls", help="list the profiled languages")
    ls.set_defaults(func=_cmd_ls)
    show = sub.add_parser("show", help="profile, evaluation sets, LID labels, translit, and what is missing")
    show.add_argument("code", help="any code the language goes by: kk, kaz, kaz_Cyrl")
    show.add_argument("--data-root", help="data root (default: $XLING_DATA, else ../shared/data)")
    show.set_defaults(func=_cmd_show)


def _cmd_ls(args: argparse.Namespace) -> int:
    for p in registry():
        print(f"{p.code}\t{p.iso639_1 or '-'}\t{','.join(p.scripts)}\t{p.name}\t{p.path}")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    root = Path(args.data_root) if args.data_root else data_root(required=False)
    sys.stdout.write(format_report(language_report(args.code, root)) + "\n")
    return 0
