"""One exception base; the CLI turns it into a one-line error and a non-zero exit."""


class MaillogError(Exception):
    """Base of every error a user can act on."""

    exit_code = 2


class InputError(MaillogError):
    """An input file is missing, unreadable, or not a log."""


class PatternFileError(MaillogError):
    """A pattern or catalogue file is broken; the message names file, entry and field."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems) if len(problems) < 4 else
                         f"{len(problems)} problems in pattern files, first: {problems[0]}")

    def __reduce__(self):
        # Rebuilt from its problems, not from its message, when it comes back from a --jobs process.
        return PatternFileError, (self.problems,)


class UsageError(MaillogError):
    """An option value that cannot be used."""


def check_format(format: str, choices: tuple[str, ...]) -> str:
    """`format` if it is one of `choices`; commands call this before they read anything."""
    if format not in choices:
        raise UsageError(f"unknown format {format!r}; choose one of {', '.join(choices)}")
    return format
