"""The bounded structures behind the summaries: exact while small, bounded and close when large."""
from __future__ import annotations

from collections import Counter

from analyzer.aggregate import EXACT_DISTINCT, SKETCH_SIZE, DistinctCounter, TopCounter


def test_distinct_counter_is_exact_while_small_and_close_when_large():
    small = DistinctCounter()
    for index in range(1000):
        small.add(f"192.0.2.{index % 250}")
    assert small.exact and small.count() == 250
    large = DistinctCounter()
    for index in range(200_000):
        large.add(f"10.{index >> 16}.{(index >> 8) & 255}.{index & 255}")
    assert not large.exact and len(large.hashes) == SKETCH_SIZE  # memory no longer grows
    assert abs(large.count() - 200_000) / 200_000 < 0.05


def test_distinct_counters_merge_like_one_counter():
    left, right, whole = DistinctCounter(), DistinctCounter(), DistinctCounter()
    for index in range(3 * EXACT_DISTINCT):
        value = f"user{index}@example.com"
        (left if index % 3 else right).add(value)
        whole.add(value)
    left.merge(right)
    assert left.count() == whole.count()


def test_top_counter_stays_bounded_and_keeps_the_heavy_hitters():
    top = TopCounter(capacity=1000)
    truth = Counter()
    for index in range(300_000):
        key = f"203.0.113.{index % 7}" if index % 10 == 0 else f"198.51.{index >> 8 & 255}.{index & 255}-{index}"
        top.add(key)
        truth[key] += 1
    assert len(top.counts) <= 2 * 1000 and top.approximate
    heavy = {key for key, _ in truth.most_common(7)}
    assert {key for key, _ in top.most_common(7)} == heavy  # the same heavy hitters (order among near-ties may differ)
    for key, count in top.most_common(7):
        assert count <= truth[key]  # lower bounds, as documented


def test_top_counter_is_exact_below_capacity():
    top = TopCounter(capacity=100)
    for index in range(150):
        top.add(f"k{index % 60}")
    assert not top.approximate and dict(top.counts) == {f"k{i}": (3 if i < 30 else 2) for i in range(60)}


def _filled(values) -> DistinctCounter:
    counter = DistinctCounter()
    for value in values:
        counter.add(value)
    return counter


def test_a_packed_counter_counts_merges_and_takes_values_as_before():
    for size in (0, 10, EXACT_DISTINCT, EXACT_DISTINCT + 1, 5 * EXACT_DISTINCT):
        values = [f"user{index}@example.com" for index in range(size)]
        more = [f"late{index}@example.org" for index in range(300)] + values[:50]
        plain, packed = _filled(values), _filled(values)
        packed.pack()
        assert packed.packed is not None and packed.values is None and packed.hashes is None
        assert (packed.count(), packed.exact) == (plain.count(), plain.exact)
        for counter in (plain, packed):  # a late value after packing
            for value in more:
                counter.add(value)
        assert (packed.count(), packed.exact) == (plain.count(), plain.exact)
        packed.pack()
        from_plain, from_packed = _filled(more), _filled(more)
        from_plain.merge(plain)
        from_packed.merge(packed)
        assert (from_packed.count(), from_packed.exact) == (from_plain.count(), from_plain.exact)
        merged_into_packed = _filled(values)
        merged_into_packed.pack()
        merged_into_packed.merge(_filled(more))
        whole = _filled(values + more)
        assert merged_into_packed.count() == whole.count()


def test_summary_packs_the_rows_of_days_that_are_over(catalogue):
    from datetime import datetime, timedelta, timezone

    from analyzer.aggregate import Summary
    from analyzer.classify import Classifier
    from analyzer.events import Event, Kind
    classify = Classifier(catalogue)
    summary = Summary()
    start = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)

    def add(day: int, recipient: str) -> None:
        event = Event(timestamp=start + timedelta(days=day), host="mx1", mta="postfix", kind=Kind.DELIVERED,
                      reply_code="250", enhanced_code="2.0.0", recipient=recipient)
        summary.add(event, classify(event))

    for day in range(4):
        for index in range(100):
            add(day, f"r{index}@example.com")
    rows = {key[0]: row for key, row in summary.daily.items()}
    assert [rows[day].recipients.packed is not None for day in sorted(rows)] == [True, True, False, False]
    add(0, "late@example.com")  # a straggler for a packed day still counts
    assert rows["2026-11-20"].recipients.count() == 101 and rows["2026-11-20"].count == 101
