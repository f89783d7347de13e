"""`per_registry`: one metric family per registry, shared by its owners, freed with it."""

from __future__ import annotations

import gc
import weakref

from prometheus_client import CollectorRegistry, Counter

from framework.metrics import per_registry


def test_same_registry_gets_the_same_family_built_once() -> None:
    built: list[CollectorRegistry] = []

    @per_registry
    def requests_of(registry: CollectorRegistry) -> Counter:
        built.append(registry)
        return Counter("test_requests", "Requests.", ["code"], registry=registry)

    registry = CollectorRegistry()
    first = requests_of(registry)
    second = requests_of(registry)

    assert second is first
    assert built == [registry]
    assert requests_of.__name__ == "requests_of"


def test_two_registries_get_independent_families() -> None:
    @per_registry
    def requests_of(registry: CollectorRegistry) -> Counter:
        return Counter("test_requests", "Requests.", ["code"], registry=registry)

    one, two = CollectorRegistry(), CollectorRegistry()
    # Registering the same name twice in one registry would raise "Duplicated timeseries".
    requests_of(one).labels("200").inc(3)
    requests_of(two).labels("200").inc()

    assert requests_of(one) is not requests_of(two)
    assert one.get_sample_value("test_requests_total", {"code": "200"}) == 3
    assert two.get_sample_value("test_requests_total", {"code": "200"}) == 1


def test_an_unused_registry_is_freed() -> None:
    @per_registry
    def requests_of(registry: CollectorRegistry) -> Counter:
        return Counter("test_requests", "Requests.", ["code"], registry=registry)

    registry = CollectorRegistry()
    requests_of(registry).labels("200").inc()
    freed = weakref.ref(registry)
    del registry
    gc.collect()

    assert freed() is None
