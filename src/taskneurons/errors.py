"""One exception type for bad input: the CLI prints its message as one line and exits non-zero."""


class TaskNeuronsError(Exception):
    """Bad input or state the user can fix; the message names what was wrong and what was expected."""
