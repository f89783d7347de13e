"""ObjectMeta helpers of the embedded API server: no-op detection, timestamps, name checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from framework.envtest.apiserver.metadata import name_error, same_content, timestamp


def configmap(rv: str, api_version: str = "v1", **data: Any) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": "ConfigMap",
        "metadata": {"name": "a", "resourceVersion": rv},
        "data": data,
    }


def test_same_content_ignores_only_the_resource_version_and_api_version() -> None:
    assert same_content(configmap("1", k="v"), configmap("2", k="v"))
    assert same_content(configmap("1", k="v"), configmap("1", "v2", k="v"))
    assert not same_content(configmap("1", k="v"), configmap("1", k="w"))
    assert not same_content(configmap("1", k="v"), configmap("2", "v2", k="w"))
    # equal in Python, not in JSON
    assert not same_content(configmap("1", k=1), configmap("1", k=True))
    assert not same_content(configmap("1", k=1), configmap("1", k=1.0))


def test_timestamp_is_rfc3339_seconds_with_a_z() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)
    assert timestamp(when) == "2026-01-02T03:04:05Z"
    assert timestamp(datetime(999, 12, 31, 23, 59, 59)) == "0999-12-31T23:59:59Z"
    # the clock's fields as given, whatever the zone (callers pass UTC)
    assert timestamp(when.astimezone(timezone(timedelta(hours=2)))) == "2026-01-02T05:04:05Z"


def test_name_errors_are_the_same_when_asked_again() -> None:
    for _ in range(2):
        assert name_error("configmaps", "ws-00054-407b327d-0") is None
        assert name_error("configmaps", "a.b") is None
        assert name_error("namespaces", "a.b") is not None
        assert name_error("configmaps", "Bad") is not None
        assert name_error("configmaps", "x" * 254) == "must be no more than 253 characters"
