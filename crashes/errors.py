"""Errors a user can act on: the CLI prints their message as one line and exits non-zero."""


class CrashesError(Exception):
    """A problem with input, configuration or state that the user can fix; no traceback shown."""

    exit_code = 2
