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
