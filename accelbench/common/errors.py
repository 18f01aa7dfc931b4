"""The one error hierarchy of accelbench, at the bottom of the layout so that every layer can use it.

Every error a user should see derives from `AccelbenchError`; the CLI prints it as one line and exits
with its `exit_code`: 2 for bad input (`InputError`: a value, file or option that is not allowed), 1
for a run that failed (a locked store, a release written meanwhile by another process).
"""

from __future__ import annotations

import re


class AccelbenchError(Exception):
    """A failure the user can act on; the message says what, where and what to do."""

    exit_code = 1


class InputError(AccelbenchError, ValueError):
    """Input that is not allowed: the message names the value and what is allowed."""

    exit_code = 2


# Names that become file or folder names (sweeps, targets, releases, imported devices): no separators,
# no leading dot (so never "." or ".."), nothing a shell or an object store treats specially.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def check_name(value: object, what: str) -> str:
    """`value` if it is safe as one path component; else an InputError naming `what`."""
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise InputError(
            f"{what}={value!r} is not allowed; a name becomes a file name: use 1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value
