"""Errors the auditor raises for input a user can fix (the CLI prints one line, exit 2)."""

from __future__ import annotations


class AuditInputError(ValueError):
    """Bad input: the message names the file, row, option or value and what to do."""

    exit_code = 2
