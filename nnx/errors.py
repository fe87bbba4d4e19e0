"""One small hierarchy of user-facing errors; the CLI turns each into a one-line message.

Exit codes follow the usual convention: 2 for bad usage, bad config or bad data (nothing ran),
1 for failures during a run.
"""


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
