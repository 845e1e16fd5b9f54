"""The `xling` command: one subcommand group per stage, each registered by its own package.

The CLI is thin: every command parses its arguments and calls the stage's Python API.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from xling import __version__
from xling.core.config import ConfigError

# Explicit list: each module defines `register(subparsers)`. Heavy imports happen inside handlers.
COMMAND_MODULES = [
    "corpora.cli",
    "vocab.cli",
    "xling.pretrain_cli",
    "xling.bt.cli",
    "eval_xtreme.cli",
    "eval_xtreme.fetch",
    "xling.run",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xling", description="Low-resource cross-lingual modeling pipeline: "
                                     "corpora → vocabulary → pretraining → XTREME evaluation.")
    parser.add_argument("--version", action="version", version=f"xling {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    try:
        rc = args.func(args)
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, KeyError) as e:
        if os_debug() or not isinstance(e, (ConfigError, ValueError, FileNotFoundError, KeyError)):
            raise
        print(f"xling: error: {e}", file=sys.stderr)
        return 2
    return int(rc or 0)


def os_debug() -> bool:
    return os.environ.get("XLING_DEBUG") == "1"


if __name__ == "__main__":
    sys.exit(main())
