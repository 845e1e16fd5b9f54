"""The error family every layer raises for problems the user can fix.

`xling.cli.main` is the one boundary: an `XlingError` (or an `OSError`, which names its path)
prints one line and exits 2; anything else is a bug and prints its traceback with a request to
report it. The classes also derive from `ValueError` so callers that caught `ValueError` before
the family existed keep working.

This module imports nothing of ours, so any package (`corpora`, `vocab`, `eval_xtreme`, `xling`)
may raise these.
"""

from __future__ import annotations


class XlingError(Exception):
    """A problem the user can fix: bad input, bad config, a busy or unusable output folder."""


class ConfigError(XlingError, ValueError):
    """A config value is missing, of the wrong type or out of range (the message names the key)."""


class InputError(XlingError, ValueError):
    """An input file or folder cannot be used as given (the message names it and says why)."""


class OutputError(XlingError, ValueError):
    """The output folder cannot be used: locked by another run, or holding another run's results."""


class TrainingError(XlingError):
    """Training went somewhere it cannot recover from (e.g. a collapsed BTMLM generator); the
    message says what was measured and which setting to change."""


class StageError(XlingError):
    """A stage's tasks failed; the message says where their logs are and that a re-run resumes."""


class OutputLockedError(OutputError):
    """Another live process holds the output folder's lock."""

    def __init__(self, message: str, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid
