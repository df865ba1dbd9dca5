"""The maillog command: parse arguments, call one library function, print. Nothing else lives here."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import output, report
from .catalogue import load_catalogue
from .classify import Classifier
from .errors import MaillogError
from .explain import compare as compare_codes
from .explain import check_language
from .explain import explain as explain_codes
from .events import ParseStats
from .reader import ReadOptions, read_events
from .sources import expand_inputs
from .timestamps import resolve_timezone

app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                  pretty_exceptions_enable=False,
                  help="Mail-log analyzer for Postfix, Exim and Sendmail: reply codes, what they mean, "
                       "and what to do about them.")

Inputs = Annotated[list[str], typer.Argument(help="Log files, globs, directories, or - for stdin.",
                                             show_default=False)]
MtaOption = Annotated[Optional[str], typer.Option("--mta", help="Force the MTA: postfix, exim or sendmail.")]
TzOption = Annotated[Optional[str], typer.Option("--tz", help="Zone of timestamps without offset "
                                                              "(default: this machine's).")]
YearOption = Annotated[Optional[int], typer.Option("--year", help="Year of the first year-less syslog line.")]
UnparsedOption = Annotated[Optional[Path], typer.Option("--unparsed", help="Write unrecognised lines here.")]
RulesOption = Annotated[Optional[list[Path]], typer.Option("--rules", help="Extra catalogue rule file (TOML, "
                                                           "same format as patterns/catalogue); repeatable.")]
LangOption = Annotated[Optional[str], typer.Option("--lang", help="en or ja (default: from the locale).")]
PageFormatOption = Annotated[str, typer.Option("--format", "-f", help="text, markdown or json.")]


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
           unparsed: UnparsedOption = None, rules: RulesOption = None) -> None:
    """Print one event per line, with the fields of the public event schema.

    Example: maillog events /var/log/mail.log --format jsonl
    """
    counts = ParseStats()
    try:
        sources = expand_inputs(inputs)
        with output.atomic_text_file(unparsed) as unparsed_file:
            options = ReadOptions(mta=mta, zone=resolve_timezone(tz), year=year, unparsed=unparsed_file)
            classifier = Classifier(load_catalogue(rules))
            output.write_events(read_events(sources, options, counts), sys.stdout, format, classifier)
    except MaillogError as error:
        raise _fail(error) from None
    if stats:
        typer.echo(output.format_stats(counts), err=True)
    _finish(counts)


@app.command()
def analyze(inputs: Inputs, mta: MtaOption = None, tz: TzOption = None, year: YearOption = None,
            top: Annotated[int, typer.Option("--top", help="Rows in each top list.")] = 10,
            lang: LangOption = None, unparsed: UnparsedOption = None, rules: RulesOption = None) -> None:
    """Summarise logs: events by kind, top reply codes, top rejected clients, unparsed lines.

    Example: maillog analyze /var/log/mail.log*
    """
    counts = ParseStats()
    try:
        sources = expand_inputs(inputs)
        with output.atomic_text_file(unparsed) as unparsed_file:
            options = ReadOptions(mta=mta, zone=resolve_timezone(tz), year=year, unparsed=unparsed_file)
            catalogue = load_catalogue(rules)
            frame = report.events_frame(read_events(sources, options, counts), catalogue)
        summary = output.format_analysis(frame, counts, catalogue, check_language(lang), top)
    except MaillogError as error:
        raise _fail(error) from None
    typer.echo(summary)
    _finish(counts)


@app.command()
def explain(codes: Annotated[list[str], typer.Argument(help="Reply codes, enhanced codes or reply texts.",
                                                       show_default=False)],
            lang: LangOption = None, format: PageFormatOption = "text", rules: RulesOption = None) -> None:
    """Show the catalogue page of each code or reply text: meaning, when you meet it, fix, what to check.

    Example: maillog explain 530 5.7.8 "Relay access denied" --lang ja
    """
    try:
        typer.echo(explain_codes(codes, load_catalogue(rules), lang, format))
    except MaillogError as error:
        raise _fail(error) from None


@app.command()
def compare(first: Annotated[str, typer.Argument(help="A reply code, enhanced code or reply text.")],
            second: Annotated[str, typer.Argument(help="The code to compare it with.")],
            lang: LangOption = None, format: PageFormatOption = "text", rules: RulesOption = None) -> None:
    """Compare two codes: classes, meanings, when each appears, fixes, key differences.

    Example: maillog compare 251 530 --lang ja
    """
    try:
        typer.echo(compare_codes(first, second, load_catalogue(rules), lang, format))
    except MaillogError as error:
        raise _fail(error) from None


@app.command("check-patterns")
def check_patterns(inputs: Inputs, mta: MtaOption = None, rules: RulesOption = None,
                   only_unmatched: Annotated[bool, typer.Option("--unmatched", help="Show only lines no "
                                                                "pattern matched.")] = False) -> None:
    """Show, for each line, which line pattern and which catalogue rule matched it (to teach a new line).

    Example: maillog check-patterns /var/log/mail.log --unmatched
    """
    try:
        sources = expand_inputs(inputs)
        report = output.check_lines(sources, load_catalogue(rules), mta=mta, only_unmatched=only_unmatched)
    except MaillogError as error:
        raise _fail(error) from None
    for line in report:
        typer.echo(line)


@app.command("classify-line")
def classify_line(line: Annotated[str, typer.Argument(help="One log line, quoted.")],
                  mta: MtaOption = None, rules: RulesOption = None) -> None:
    """Show which line pattern and catalogue rule match one line.

    Example: maillog classify-line "Nov 28 10:00:01 mx postfix/smtpd[1]: NOQUEUE: reject: ..."
    """
    try:
        for text in output.check_line_text(line, load_catalogue(rules), mta=mta):
            typer.echo(text)
    except MaillogError as error:
        raise _fail(error) from None


def main() -> None:
    app(prog_name="maillog")
