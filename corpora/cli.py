"""`xling corpora ...` commands. Each command module defines `register(subparsers)`."""

from __future__ import annotations

import importlib

# Explicit list of command modules in this group (clean, identify, dedup, decontaminate, mix, build).
COMMANDS = [
    "corpora.clean",
    "corpora.lid",  # identify
    "corpora.dedup",
    "corpora.decontam",
    "corpora.mix",
    "corpora.build",
    "corpora.hf_datasets",  # publish
]


def register(sub) -> None:
    p = sub.add_parser("corpora", help="read, clean, deduplicate, decontaminate and rebalance text corpora")
    group = p.add_subparsers(dest="corpora_command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(name)
        module.register(group)
