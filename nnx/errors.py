"""One small hierarchy of user-facing errors; the CLI turns each into a one-line message.

Exit codes follow the usual convention: 2 for bad usage, bad config or bad data (nothing ran),
1 for failures during a run.
"""

import errno


class NnxError(Exception):
    """Base class: an error whose message is meant for the user, as is."""

    exit_code = 1


class ConfigError(NnxError):
    """The experiment file or a command-line option is invalid."""

    exit_code = 2


class DataError(NnxError):
    """A data set is missing, corrupted or malformed."""

    exit_code = 2


class RunError(NnxError):
    """A run failed while training (NaN loss, out of memory, ...)."""

    exit_code = 1


class DiskFullError(RunError):
    """The disk filled up while a run wrote its folder; the run resumes once space is freed."""

    exit_code = 1


def is_disk_full(e: BaseException) -> bool:
    """A full disk (or quota) behind `e` or its causes: errno ENOSPC/EDQUOT, or TensorStore's
    RESOURCE_EXHAUSTED write errors, which carry only the OS message."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(e)
        if ("No space left on device" in text or "Disk quota exceeded" in text
                or ("RESOURCE_EXHAUSTED" in text and "writ" in text.lower())):
            return True
        e = e.__cause__ or e.__context__
    return False
