"""The maillog command: parse arguments, call the library, print. Nothing else lives here."""
from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import replace
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import html, output, parallel, render, report, spikes
from . import watch as watcher_module
from .catalogue import load_catalogue
from .classify import Classifier
from .errors import MaillogError, UsageError, check_format
from .events import ParseStats
from .explain import check_language
from .explain import compare as compare_codes
from .explain import explain as explain_codes
from .parsers import load_all_patterns
from .reader import ReadOptions
from .sources import Source, expand_inputs
from .timestamps import parse_time_bound, resolve_timezone

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
SinceOption = Annotated[Optional[str], typer.Option("--since", help="Keep events from this time: ISO date or "
                                                    "time, today, yesterday, 7d, 24h.")]
UntilOption = Annotated[Optional[str], typer.Option("--until", help="Keep events before this time.")]
UnparsedOption = Annotated[Optional[Path], typer.Option("--unparsed", help="Write unrecognised lines here.")]
RulesOption = Annotated[Optional[list[Path]], typer.Option("--rules", help="Extra catalogue rule file (TOML, "
                                                           "same format as patterns/catalogue); repeatable.")]
LangOption = Annotated[Optional[str], typer.Option("--lang", help="en or ja (default: from the locale).")]
PageFormatOption = Annotated[str, typer.Option("--format", "-f", help="text, markdown or json.")]
JobsOption = Annotated[Optional[int], typer.Option("--jobs", "-j", min=1, help="Processes to read with (default, "
                                                   "and at most: the number of cores; never more than the files "
                                                   "and byte ranges to read; large files are cut in byte "
                                                   "ranges).")]
EngineOption = Annotated[str, typer.Option("--engine", help="auto (blocks with pyarrow), line (line by line), or "
                                           "dask (on a Dask cluster, with --scheduler).")]
# The spike detector's options, the same for `spikes` and `watch` (one algorithm, one set of parameters).
WindowOption = Annotated[str, typer.Option("--window", help="Window length, e.g. 10m, 1h.")]
BaselineOption = Annotated[str, typer.Option("--baseline", help="Trailing history for the baseline.")]
ThresholdOption = Annotated[float, typer.Option("--threshold", help="Scaled MADs above the median for a spike.")]
MinCountOption = Annotated[int, typer.Option("--min-count", min=1, help="Fewest failures in a spike window.")]
PerIpOption = Annotated[int, typer.Option("--per-ip", min=1, help="Failures within one window that make an "
                                          "address an offender.")]
SchedulerOption = Annotated[Optional[str], typer.Option("--scheduler", help="Dask scheduler address for "
                                                        "--engine dask, e.g. tcp://10.0.0.5:8786.")]


def _fail(error: MaillogError) -> typer.Exit:
    typer.echo(f"maillog: error: {error}", err=True)
    return typer.Exit(error.exit_code)


def _finish(stats: ParseStats, status: int = 0) -> None:
    """Name input problems on stderr; exit 3 when some input could only be read in part."""
    for problem in stats.problems:
        typer.echo(f"maillog: warning: {output.sanitize(problem)}", err=True)
    if stats.problems:
        raise typer.Exit(3)
    if status:
        raise typer.Exit(status)


@contextlib.contextmanager
def _reading(inputs: list[str], mta: str | None, tz: str | None, year: int | None, since: str | None = None,
             until: str | None = None, unparsed: Path | None = None,
             engine: str = "auto") -> Iterator[tuple[list[Source], ReadOptions]]:
    """Inputs and read options from the shared command-line options; the unparsed file is written whole."""
    zone = resolve_timezone(tz)
    sources = expand_inputs(inputs)
    load_all_patterns()  # a broken pattern file is reported before any output (the CSV header of events)
    if engine not in ("auto", "line", "dask"):
        raise UsageError(f"unknown engine {engine!r}; choose auto, line or dask")
    # Only a person watching a terminal wants a progress line; never in a pipe, a file or cron mail.
    progress = output.Progress(sources) if sys.stderr.isatty() else None
    try:
        with output.atomic_text_file(unparsed) as unparsed_file:
            yield sources, ReadOptions(mta=mta, zone=zone, year=year, unparsed=unparsed_file,
                                       since=parse_time_bound(since, zone) if since else None,
                                       until=parse_time_bound(until, zone) if until else None, progress=progress,
                                       engine="line" if engine == "line" else "auto")
    finally:
        if progress is not None:
            progress.close()


@app.command()
def events(inputs: Inputs,
           format: Annotated[str, typer.Option("--format", "-f", help="jsonl or csv.")] = "jsonl",
           mta: MtaOption = None, tz: TzOption = None, year: YearOption = None, since: SinceOption = None,
           until: UntilOption = None,
           stats: Annotated[bool, typer.Option("--stats", help="Print line counts to stderr.")] = False,
           unparsed: UnparsedOption = None, rules: RulesOption = None, jobs: JobsOption = None,
           engine: EngineOption = "auto", scheduler: SchedulerOption = None) -> None:
    """Print one event per line, with the fields of the public event schema.

    Example: maillog events /var/log/mail.log --format jsonl
    """
    try:
        output.check_event_format(format)
        with _reading(inputs, mta, tz, year, since, until, unparsed, engine) as (sources, options):
            load_catalogue(rules)  # a broken rule file is reported before any output
            if format == "csv":
                sys.stdout.write(output.event_csv_header())
            _nothing, counts = _collect(sources, options, f"events-{format}", rules, jobs, engine, scheduler,
                                        out=sys.stdout)
    except MaillogError as error:
        raise _fail(error) from None
    if stats:
        typer.echo(output.format_stats(counts), err=True)
    _finish(counts)


@app.command()
def analyze(inputs: Inputs, mta: MtaOption = None, tz: TzOption = None, year: YearOption = None,
            since: SinceOption = None, until: UntilOption = None,
            top: Annotated[int, typer.Option("--top", min=1, help="Rows in each top list.")] = 10,
            lang: LangOption = None,
            format: Annotated[str, typer.Option("--format", "-f", help="text, markdown or json.")] = "text",
            unparsed: UnparsedOption = None, rules: RulesOption = None, jobs: JobsOption = None,
            engine: EngineOption = "auto", scheduler: SchedulerOption = None) -> None:
    """Summarise logs: events by kind, top reply codes with fixes, rejected clients, failing destinations,
    auth failures, events per day, and what could not be parsed.

    Example: maillog analyze /var/log/mail.log* --since yesterday
    """
    try:
        check_format(format, render.ANALYSIS_FORMATS)  # before reading: exit 2 means nothing was produced
        language = check_language(lang)
        with _reading(inputs, mta, tz, year, since, until, unparsed, engine) as (sources, options):
            catalogue = load_catalogue(rules)
            (summary, tally), counts = _collect(sources, options, "analysis", rules, jobs, engine, scheduler,
                                                spikes.SpikeSettings())
        colour = format == "text" and sys.stdout.isatty() and "NO_COLOR" not in os.environ
        text = render.format_analysis(summary, counts, catalogue, language, top, format, spikes.find_spikes(tally),
                                      colour)
    except MaillogError as error:
        raise _fail(error) from None
    typer.echo(text)
    _finish(counts)


@app.command("report")
def report_command(inputs: Inputs,
                   out: Annotated[Optional[str], typer.Option("--output", "-o", help="CSV file to write ('-' for "
                                                              "stdout, the default unless --html is given); "
                                                              "strftime fields allowed, e.g. daily-%Y-%m-%d.csv."
                                                              )] = None,
                   html_out: Annotated[Optional[str], typer.Option("--html", help="Also (or only) write a "
                                                                   "self-contained HTML report with charts.")] = None,
                   daily: Annotated[bool, typer.Option("--daily", help="One row per date, host, MTA, kind, "
                                                       "code and entry (the default).")] = True,
                   summary: Annotated[bool, typer.Option("--summary", help="One row per date and host "
                                                         "instead.")] = False,
                   append: Annotated[bool, typer.Option("--append", help="Add to an existing CSV, replacing the "
                                                        "rows of the dates written.")] = False,
                   mta: MtaOption = None, tz: TzOption = None, year: YearOption = None,
                   since: SinceOption = None, until: UntilOption = None, lang: LangOption = None,
                   rules: RulesOption = None, jobs: JobsOption = None, engine: EngineOption = "auto",
                   scheduler: SchedulerOption = None) -> None:
    """Write the daily CSV report (schemas in the README), atomically.

    Example: maillog report /var/log/mail.log* --daily --since yesterday --until today -o daily-%Y-%m-%d.csv
    """
    try:
        language = check_language(lang)
        columns = report.SUMMARY_COLUMNS if summary else report.DAILY_COLUMNS
        with _reading(inputs, mta, tz, year, since, until, None, engine) as (sources, options):
            target = None if out is None and html_out else output.report_path(out or "-", options.since, options.zone)
            page = output.report_path(html_out, options.since, options.zone) if html_out else None
            for path in (target, page):
                if path is not None:
                    _refuse_overwriting_inputs(path, sources)
            catalogue = load_catalogue(rules)
            appending = append and target not in (None, "-")
            existing = output.read_existing_rows(target, columns) if appending else []
            cut = report.days_cut_by(options.since, options.until, options.zone) & {row[0] for row in existing}
            if cut:
                raise UsageError(report.append_refusal(sorted(cut)))
            # Every output is made ready before the logs are read: one that cannot be written fails now.
            with output.output_files([target, page]) as (csv_file, page_file):
                if page is None:  # the failure tally only feeds the HTML page's spike section
                    totals, counts = _collect(sources, options, "summary", rules, jobs, engine, scheduler)
                else:
                    (totals, tally), counts = _collect(sources, options, "analysis", rules, jobs, engine,
                                                       scheduler, spikes.SpikeSettings())
                if target is not None:
                    rows = (report.daily_summary_rows(totals) if summary
                            else report.daily_rows(totals, catalogue, language))
                    if appending:
                        rows = report.merge_daily_rows(existing, rows, options.since, options.until, options.zone)
                if page is not None:
                    output.write_text(html.render(totals, spikes.find_spikes(tally), catalogue, language, counts),
                                      page_file or "-")
                if target is not None:
                    output.write_rows_csv(columns, rows, csv_file or "-")  # pandas is a fifth of the start-up
    except MaillogError as error:
        raise _fail(error) from None
    if counts.events_without_time:  # never lost silently: a cron job's mail says so
        typer.echo(f"maillog: note: {counts.events_without_time} events had no usable time stamp (Nov 31, a "
                   f"garbled date) and are in no daily row; `maillog events` lists them", err=True)
    _finish(counts)


def _collect(sources: list[Source], options: ReadOptions, mode: str, rules: list[Path] | None, jobs: int | None,
             engine: str, scheduler: str | None, settings: spikes.SpikeSettings | None = None, out=None):
    """Read the sources in parts (processes or Dask) and merge what `mode` folds them into."""
    if engine == "dask" and not scheduler:
        raise UsageError("--engine dask needs --scheduler ADDRESS (a running dask scheduler)")
    job = parallel.Job(mode, replace(options, unparsed=None, progress=None),
                       tuple(str(r) for r in rules or ()), settings)
    return parallel.collect(sources, job, jobs or parallel.default_jobs(), scheduler if engine == "dask" else None,
                            options.progress, options.unparsed, out)


def _spike_settings(window: str, baseline: str, threshold: float, min_count: int,
                    per_ip: int) -> spikes.SpikeSettings:
    return spikes.SpikeSettings(window=spikes.parse_duration(window), baseline=spikes.parse_duration(baseline),
                                threshold=threshold, min_count=min_count, per_ip=per_ip)


def _refuse_overwriting_inputs(target: str, sources: list[Source]) -> None:
    if target == "-":
        return
    resolved = os.path.realpath(target)
    for source in sources:
        if source.path != "-" and os.path.realpath(source.path) == resolved:
            raise UsageError(f"{target}: is one of the inputs; choose another output file")


@app.command("spikes")
def spikes_command(inputs: Inputs,
                   window: WindowOption = "10m", baseline: BaselineOption = "24h", threshold: ThresholdOption = 5.0,
                   min_count: MinCountOption = 10, per_ip: PerIpOption = 5,
                   format: Annotated[str, typer.Option("--format", "-f", help="text, csv or json.")] = "text",
                   ips_only: Annotated[bool, typer.Option("--ips-only", help="Print only offender addresses, "
                                                          "one per line (for a blocklist).")] = False,
                   fail_on_spike: Annotated[bool, typer.Option("--fail-on-spike", help="Exit 1 when a spike "
                                                               "is found.")] = False,
                   mta: MtaOption = None, tz: TzOption = None, year: YearOption = None,
                   since: SinceOption = None, until: UntilOption = None, rules: RulesOption = None,
                   jobs: JobsOption = None, engine: EngineOption = "auto", scheduler: SchedulerOption = None) -> None:
    """Find authentication-failure spikes (brute force, distributed, targeted) and offending addresses.

    Example: maillog spikes /var/log/mail.log --window 10m --per-ip 20 --fail-on-spike
    """
    try:
        check_format(format, render.SPIKE_FORMATS)
        settings = _spike_settings(window, baseline, threshold, min_count, per_ip)
        with _reading(inputs, mta, tz, year, since, until, None, engine) as (sources, options):
            load_catalogue(rules)
            tally, counts = _collect(sources, options, "failures", rules, jobs, engine, scheduler, settings)
        found = spikes.find_spikes(tally)
        text = render.format_spikes(found, format, ips_only)
    except MaillogError as error:
        raise _fail(error) from None
    if text:
        typer.echo(text.rstrip("\r\n"))
    _finish(counts, 1 if fail_on_spike and found.spikes else 0)


@app.command()
def watch(path: Annotated[str, typer.Argument(help="The live log to follow, or - for journalctl -o json on stdin.")],
          state: Annotated[Optional[Path], typer.Option("--state", help="Where to keep the position, baseline and "
                                                        "alerts raised, across restarts.")] = None,
          format: Annotated[str, typer.Option("--format", "-f", help="json (one object per alert) or text.")] = "json",
          to_syslog: Annotated[bool, typer.Option("--syslog", help="Also send each alert to syslog (mail, "
                                                  "warning).")] = False,
          window: WindowOption = "10m", baseline: BaselineOption = "24h", threshold: ThresholdOption = 5.0,
          min_count: MinCountOption = 10, per_ip: PerIpOption = 5,
          poll: Annotated[float, typer.Option("--poll", min=0.05, help="Seconds between looks at the file when "
                                              "it is idle.")] = 0.5,
          mta: MtaOption = None, tz: TzOption = None, rules: RulesOption = None) -> None:
    """Follow a log like tail -F and print an alert as soon as a spike window closes or an address crosses
    --per-ip; survives rotation and restarts (with --state).

    Example: maillog watch /var/log/mail.log --state /var/lib/maillog/watch.json --syslog
    """
    try:
        check_format(format, watcher_module.ALERT_FORMATS)
        watcher_module.check_watchable(path)
        settings = _spike_settings(window, baseline, threshold, min_count, per_ip)
        options = ReadOptions(mta=mta, zone=resolve_timezone(tz), engine="line")
        emit = _alert_printer(format, to_syslog)
        watcher = watcher_module.Watcher(path, options, Classifier(load_catalogue(rules)), settings, emit, state,
                                         poll)
        watcher.run()
    except MaillogError as error:
        raise _fail(error) from None


def _alert_printer(format: str, to_syslog: bool):
    if to_syslog:
        import syslog
        syslog.openlog("maillog", syslog.LOG_PID, syslog.LOG_MAIL)

    def emit(alert: dict) -> None:
        typer.echo(watcher_module.format_alert(alert, format))
        sys.stdout.flush()
        if to_syslog:
            syslog.syslog(syslog.LOG_WARNING, watcher_module.format_alert(alert, "text"))
    return emit


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
                                                                "pattern matched.")] = False,
                   shapes: Annotated[bool, typer.Option("--shapes", help="With --unmatched: group those lines by "
                                                        "shape (addresses, ids, names and numbers masked), most "
                                                        "frequent first, one example each.")] = False) -> None:
    """Show, for each line, which line pattern and which catalogue rule matched it (to teach a new line).

    Example: maillog check-patterns /var/log/mail.log --unmatched --shapes
    """
    try:
        if shapes and not only_unmatched:
            raise UsageError("--shapes groups the unmatched lines: give it with --unmatched")
        sources = expand_inputs(inputs)
        load_all_patterns()
        found = (output.check_shapes(sources, mta=mta) if shapes else
                 output.check_lines(sources, load_catalogue(rules), mta=mta, only_unmatched=only_unmatched))
        for line in found:
            typer.echo(line)
    except MaillogError as error:
        raise _fail(error) from None


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
    try:
        try:
            app(prog_name="maillog")
        finally:
            sys.stdout.flush()  # here, where a failure can still be reported, rather than at exit
    except BrokenPipeError:
        # The reader went away (`maillog events ... | head`): stop quietly, as the CLI library does.
        _discard_stdout()
        sys.exit(1)
    except OSError as exc:  # what reaches here is a write to standard output: inputs and files have their own
        _discard_stdout()
        where = exc.filename or "standard output"
        typer.echo(f"maillog: error: {where}: could not be written ({exc.strerror or exc})", err=True)
        sys.exit(2)


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's flush at exit does not fail a second time."""
    with contextlib.suppress(OSError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
