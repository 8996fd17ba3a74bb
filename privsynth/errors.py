"""Errors a user can fix: the CLI prints them as one line and exits 2, with no traceback."""

from __future__ import annotations


class UserError(Exception):
    """A usage or input mistake. The message names the file, row, option or value and what to do."""

    exit_code = 2


class GateBlocked(Exception):
    """The release gate refused the data (exit 3)."""

    exit_code = 3
