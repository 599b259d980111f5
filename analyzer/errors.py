"""Errors that are the user's to fix: the CLI prints them on one line, never a traceback."""


class RpaError(Exception):
    """A problem with the user's input or case; `exit_code` is what the CLI exits with."""

    exit_code = 2


class NoCaseError(RpaError):
    """The folder holds no case database."""


class CaseBusyError(RpaError):
    """Another rpa process is writing to the case."""

    exit_code = 3


class FormatError(RpaError):
    """A file whose layout rpa cannot read (no known layout, or a broken structure)."""


class RosterError(RpaError):
    """A roster file that cannot be loaded."""


class CaseKeyError(RpaError):
    """An encrypted case opened without its key, or with a wrong one."""
