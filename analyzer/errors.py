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


class ParserBug(RpaError):
    """A layout's sniff or parser that crashed: an exception other than FormatError.

    A bug in rpa, not a fault of the file, and never passed off as a refusal of the
    file ("no known layout", "cannot be read"): the message names the layout, the part
    that crashed and the file, and asks for a report. `original` is the exception."""

    def __init__(self, layout: str, part: str, name: str, original: BaseException):
        detail = " ".join(str(original).split())[:200]
        super().__init__(f"rpa bug: the {layout} {part} crashed on {name}: {type(original).__name__}: {detail}; please report")
        self.original = original
