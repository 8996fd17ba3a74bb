"""Errors a user can fix: the CLI prints them as one line and exits 2, with no traceback."""

from __future__ import annotations

import errno


class UserError(Exception):
    """A usage or input mistake. The message names the file, row, option or value and what to do."""

    exit_code = 2


class GateBlocked(Exception):
    """The release gate refused the data (exit 3)."""

    exit_code = 3


# The machine's faults a user fixes (space, permissions, a read-only disk, a file-size limit): one
# line and exit 2 like any user error, with the file named. Every other OSError stays an internal
# error with its traceback.
_ENVIRONMENT = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}


def environment_error(err: OSError) -> UserError | None:
    """The UserError to report for ERR, or None when it is not the machine's (then: a traceback)."""
    if err.errno not in _ENVIRONMENT:
        return None
    where = f"{err.filename}: " if err.filename else ""
    return UserError(f"{where}{err.strerror or err}; the run stopped and its unfinished files were removed")
