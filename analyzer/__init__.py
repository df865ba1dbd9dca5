"""maillog: SMTP reply codes in Postfix, Exim and Sendmail logs, what they mean and what to do about them.

The library behind the `maillog` command; every command is a thin layer over these functions:

    from analyzer import expand_inputs, read_events, ReadOptions, load_catalogue, Classifier, summarise
    catalogue = load_catalogue()
    summary = summarise(read_events(expand_inputs(["/var/log/mail.log"]), ReadOptions()), Classifier(catalogue))
    table = daily_report(summary, catalogue)          # a pandas DataFrame, the rows of `maillog report`
"""
from .aggregate import Summary, summarise
from .catalogue import Catalogue, Entry, load_catalogue
from .classify import Classification, Classifier, classify
from .errors import InputError, MaillogError, PatternFileError, UsageError
from .events import Direction, Event, Kind, ParseStats
from .explain import compare, explain
from .parsers import detect_mta
from .reader import ReadOptions, inspect_line, read_events
from .report import daily_report, daily_summary
from .sources import Source, expand_inputs
from .spikes import FailureTally, SpikeSettings, find_spikes

__all__ = [
    "Catalogue", "Classification", "Classifier", "Direction", "Entry", "Event", "FailureTally", "InputError",
    "Kind", "MaillogError", "ParseStats", "PatternFileError", "ReadOptions", "Source", "SpikeSettings",
    "Summary", "UsageError", "classify", "compare", "daily_report", "daily_summary", "detect_mta",
    "expand_inputs", "explain", "find_spikes", "inspect_line", "load_catalogue", "read_events", "summarise",
]
