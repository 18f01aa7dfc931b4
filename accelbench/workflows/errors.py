"""The CLI's own error types (kept apart from cli.py, which also runs as __main__)."""

from accelbench.common.errors import AccelbenchError, InputError


class UsageError(InputError):
    """A command-line value that cannot be used."""


class OutputConflict(AccelbenchError):
    """Another process wrote the output this command was writing (a release of the same name, say)."""
