"""One exception type for bad input: the CLI prints its message as one line and exits non-zero."""


class TaskNeuronsError(Exception):
    """Bad input or state the user can fix; the message names what was wrong and what was expected."""


class TaskNeuronsWarning(UserWarning):
    """Something done on purpose or by a likely mistake that the user should see (the CLI prints it as one line)."""
