"""The CLI's own error type (kept apart from cli.py, which also runs as __main__)."""


class UsageError(ValueError):
    """A command-line value that cannot be used."""
