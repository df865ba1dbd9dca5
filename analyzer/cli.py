"""The maillog command: parse arguments, call one library function, print. Nothing else lives here."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import output
from .errors import MaillogError
from .events import ParseStats
from .reader import ReadOptions, read_events
from .sources import expand_inputs
from .timestamps import resolve_timezone

app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                  help="Mail-log analyzer for Postfix, Exim and Sendmail: reply codes, what they mean, "
                       "and what to do about them.")

Inputs = Annotated[list[str], typer.Argument(help="Log files, globs, directories, or - for stdin.",
                                             show_default=False)]
MtaOption = Annotated[Optional[str], typer.Option("--mta", help="Force the MTA: postfix, exim or sendmail.")]
TzOption = Annotated[Optional[str], typer.Option("--tz", help="Zone of timestamps without offset "
                                                              "(default: this machine's).")]
YearOption = Annotated[Optional[int], typer.Option("--year", help="Year of the first year-less syslog line.")]
UnparsedOption = Annotated[Optional[Path], typer.Option("--unparsed", help="Write unrecognised lines here.")]


def _fail(error: MaillogError) -> typer.Exit:
    typer.echo(f"maillog: error: {error}", err=True)
    return typer.Exit(error.exit_code)


def _finish(stats: ParseStats) -> None:
    """Name input problems on stderr; exit 3 when some input could only be read in part."""
    for problem in stats.problems:
        typer.echo(f"maillog: warning: {problem}", err=True)
    if stats.problems:
        raise typer.Exit(3)


@app.command()
def events(inputs: Inputs,
           format: Annotated[str, typer.Option("--format", "-f", help="jsonl or csv.")] = "jsonl",
           mta: MtaOption = None, tz: TzOption = None, year: YearOption = None,
           stats: Annotated[bool, typer.Option("--stats", help="Print line counts to stderr.")] = False,
           unparsed: UnparsedOption = None) -> None:
    """Print one event per line, with the fields of the public event schema.

    Example: maillog events /var/log/mail.log --format jsonl
    """
    counts = ParseStats()
    try:
        sources = expand_inputs(inputs)
        with output.atomic_text_file(unparsed) as unparsed_file:
            options = ReadOptions(mta=mta, zone=resolve_timezone(tz), year=year, unparsed=unparsed_file)
            output.write_events(read_events(sources, options, counts), sys.stdout, format)
    except MaillogError as error:
        raise _fail(error) from None
    if stats:
        typer.echo(output.format_stats(counts), err=True)
    _finish(counts)


@app.command()
def analyze(inputs: Inputs, mta: MtaOption = None, tz: TzOption = None, year: YearOption = None,
            top: Annotated[int, typer.Option("--top", help="Rows in each top list.")] = 10,
            unparsed: UnparsedOption = None) -> None:
    """Summarise logs: events by kind, top reply codes, top rejected clients, unparsed lines.

    Example: maillog analyze /var/log/mail.log*
    """
    counts = ParseStats()
    try:
        sources = expand_inputs(inputs)
        with output.atomic_text_file(unparsed) as unparsed_file:
            options = ReadOptions(mta=mta, zone=resolve_timezone(tz), year=year, unparsed=unparsed_file)
            summary = output.summarise(read_events(sources, options, counts), top=top)
    except MaillogError as error:
        raise _fail(error) from None
    typer.echo(output.format_summary(summary, counts, top=top))
    _finish(counts)


def main() -> None:
    app(prog_name="maillog")
