"""The one exception type that the command line turns into a one-line message."""


class TunesmithError(Exception):
    """A problem the user can fix: bad input, a wrong option, a missing file.

    The CLI prints ``str(error)`` on one line and exits non-zero; no traceback reaches the user.
    """
