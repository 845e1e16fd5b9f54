"""The `xling` command: one subcommand group per stage, each registered by its own package.

The CLI is thin: every command parses its arguments and calls the stage's Python API.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback

from xling import __version__
from xling.core.errors import XlingError
from xling.core.procs import Terminated, terminate_on_sigterm

# Command → the module whose `register(subparsers)` adds it. A run imports only its own command's
# module: some modules load torch at their top (the evaluation runner and the pipeline hold configs
# built around the fine-tuning one), and `xling corpora identify` should not wait seconds for a library
# it never uses. Help, --version and unknown commands import them all. Heavy imports still belong
# inside handlers, for `xling --help`.
COMMAND_MODULES = {
    "corpora": "corpora.cli",
    "lid": "corpora.lid_train",  # xling lid train
    "vocab": "vocab.cli",
    "pretrain": "xling.pretrain_cli",
    "bt": "xling.bt.cli",
    "eval": "eval_xtreme.cli",
    "data": "eval_xtreme.fetch",
    "run": "xling.run",
    "publish": "xling.publish",
    "recipes": "xling.recipes_cli",
    "lang": "xling.lang_cli",
}


def command_of(argv: list[str]) -> str | None:
    """The command `argv` runs: its first word that is no option (the top-level options take no value)."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser for `argv`'s command alone when it names one (None: every command, as for --help)."""
    parser = argparse.ArgumentParser(prog="xling", description="Low-resource cross-lingual modeling pipeline: "
                                     "corpora → vocabulary → pretraining → XTREME evaluation.")
    parser.add_argument("--version", action="version", version=f"xling {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    command = command_of(argv) if argv is not None else None
    for name, module in COMMAND_MODULES.items():
        if command in COMMAND_MODULES and name != command:
            continue
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command. This is the one error boundary of the CLI (see `xling.core.errors`)."""
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    terminate_on_sigterm()
    try:
        rc = args.func(args)
        sys.stdout.flush()  # a closed pipe shows up here for buffered output: handle it inside the boundary
    except KeyboardInterrupt as e:
        print(f"{'stopped by SIGTERM' if isinstance(e, Terminated) else 'interrupted'}; re-run the same command "
              "to resume", file=sys.stderr)
        return 143 if isinstance(e, Terminated) else 130
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except (XlingError, OSError) as e:
        if os.environ.get("XLING_DEBUG") == "1":
            raise
        print(f"xling: error: {user_message(e)}", file=sys.stderr)
        return 2
    except Exception:
        traceback.print_exc()
        print("xling: internal error (the traceback above is a bug in xling, not in your input); please "
              f"report it with the command you ran: {' '.join(sys.argv)}", file=sys.stderr)
        return 1
    return int(rc or 0)


def user_message(e: BaseException) -> str:
    """One line for a user-fixable error; an OSError names its path (`strerror: path`)."""
    if isinstance(e, OSError) and not isinstance(e, XlingError) and e.strerror and e.filename:
        what = f"{e.filename} → {e.filename2}" if e.filename2 else str(e.filename)
        return f"{what}: {e.strerror}"
    return str(e) or type(e).__name__


def _quiet_broken_pipe() -> int:
    """`xling ... | head`: the reader left; exit quietly like other Unix tools do."""
    # Python would report the failed flush of stdout at exit; point it at /dev/null instead.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 141  # 128 + SIGPIPE, what a shell reports for a tool killed by the closed pipe


if __name__ == "__main__":
    sys.exit(main())
