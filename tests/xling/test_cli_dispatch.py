"""The CLI builds the parser of the command it runs from that command's module alone."""

from __future__ import annotations

import argparse
import importlib

import pytest

from xling.cli import COMMAND_MODULES, build_parser


def _commands(parser: argparse.ArgumentParser) -> list[str]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(sub.choices)


def test_each_module_registers_the_command_it_is_listed_under():
    # a run imports only the module listed under its command: a wrong key would make the command unknown
    for command, module in COMMAND_MODULES.items():
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(module).register(sub)
        assert list(sub.choices) == [command], module


@pytest.mark.parametrize(("argv", "expected"), [
    (["corpora", "identify", "x.txt"], ["corpora"]),
    (["-v", "lang", "ls"], ["lang"]),
    (["--help"], list(COMMAND_MODULES)),  # help lists every command
    (["corpra"], list(COMMAND_MODULES)),  # an unknown command is answered with all the valid ones
    (None, list(COMMAND_MODULES)),
])
def test_parser_holds_the_command_run_or_all_of_them(argv, expected):
    assert _commands(build_parser(argv)) == expected
