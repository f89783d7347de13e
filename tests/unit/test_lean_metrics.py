"""The lean metric families expose exactly what prometheus_client's own would."""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from framework.metrics import LeanCounter, LeanGauge, LeanHistogram

BUCKETS = (0.001, 0.01, 0.1, 1.0, 10.0)
OBSERVED = (0.0, 0.001, 0.0011, 0.5, 10.0, 11.0, math.inf, -1.0, math.nan)


def record(
    counter: Counter | LeanCounter, gauge: Gauge | LeanGauge, histogram: Histogram | LeanHistogram
) -> None:
    counter.labels("200", "GET").inc()
    counter.labels("200", "GET").inc(2.5)
    counter.labels("500", "PATCH").inc(0)
    gauge.labels("a").inc()
    gauge.labels("a").inc(3)
    gauge.labels("a").dec()
    gauge.labels("b").set(7)
    gauge.labels("c").dec(2)
    for amount in OBSERVED:
        histogram.labels("x").observe(amount)
    histogram.labels("y")


def prometheus_families(registry: CollectorRegistry) -> tuple[Counter, Gauge, Histogram]:
    return (
        Counter("t_requests_total", "Requests.", ["code", "method"], registry=registry),
        Gauge("t_depth", "Depth.", ["name"], registry=registry),
        Histogram("t_seconds", "Seconds.", ["name"], registry=registry, buckets=BUCKETS),
    )


def lean_families(registry: CollectorRegistry) -> tuple[LeanCounter, LeanGauge, LeanHistogram]:
    return (
        LeanCounter("t_requests_total", "Requests.", ["code", "method"], registry),
        LeanGauge("t_depth", "Depth.", ["name"], registry),
        LeanHistogram("t_seconds", "Seconds.", ["name"], registry, buckets=BUCKETS),
    )


def without_created_values(text: bytes) -> str:
    return re.sub(rb"(_created\{[^}]*\}) [0-9.e+]+", rb"\1 T", text).decode()


@pytest.mark.parametrize("generate", [generate_latest, generate_openmetrics])
def test_lean_families_expose_what_prometheus_client_does(
    generate: Callable[[CollectorRegistry], bytes],
) -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    record(*prometheus_families(theirs))
    record(*lean_families(ours))
    expected = without_created_values(generate(theirs))
    assert "t_seconds_bucket" in expected
    assert "_created" in expected
    assert without_created_values(generate(ours)) == expected


def test_lean_families_register_their_names_and_check_their_use() -> None:
    registry = CollectorRegistry()
    counter, _, histogram = lean_families(registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        Counter("t_requests", "Clash.", ["code"], registry=registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        Gauge("t_seconds_count", "Clash.", registry=registry)
    with pytest.raises(ValueError, match="non-negative"):
        counter.labels("200", "GET").inc(-1)
    with pytest.raises(ValueError, match="label count"):
        counter.labels("200")
    with pytest.raises(ValueError, match="sorted"):
        LeanHistogram("t_other", "Other.", ["name"], CollectorRegistry(), buckets=(2.0, 1.0))
    histogram.labels("x").observe(0.05)
    assert registry.get_sample_value("t_seconds_bucket", {"name": "x", "le": "0.01"}) == 0
    assert registry.get_sample_value("t_seconds_bucket", {"name": "x", "le": "0.1"}) == 1
    assert registry.get_sample_value("t_seconds_count", {"name": "x"}) == 1
    assert registry.get_sample_value("t_seconds_sum", {"name": "x"}) == 0.05
