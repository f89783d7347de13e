"""configure_logging: JSON lines off a terminal, colours on one, bound context, standard library
records routed through structlog, level filtering, idempotence."""

from __future__ import annotations

import io
import json
import logging
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import structlog

from framework.logging import configure_logging, get_logger

EARLY = structlog.get_logger("kubeloop.early")  # created before any configuration, as modules do


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)
    structlog.reset_defaults()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_timestamp_level_and_logger() -> None:
    out = io.StringIO()
    configure_logging("json", stream=out)
    get_logger("kubeloop.test").info("hello", answer=42)
    [entry] = lines(out)
    assert entry["event"] == "hello"
    assert entry["answer"] == 42
    assert entry["level"] == "info"
    assert entry["logger"] == "kubeloop.test"
    assert entry["timestamp"].endswith("Z")
    stamp = datetime.fromisoformat(entry["timestamp"])
    assert stamp.utcoffset() == timedelta(0)


def test_auto_is_json_off_a_terminal() -> None:
    out = io.StringIO()
    configure_logging(stream=out)
    EARLY.warning("early logger", n=1)
    [entry] = lines(out)
    assert (entry["event"], entry["logger"], entry["level"]) == (
        "early logger",
        "kubeloop.early",
        "warning",
    )


def test_auto_is_coloured_console_on_a_terminal() -> None:
    out = Terminal()
    configure_logging("auto", stream=out)
    get_logger("kubeloop.test").info("hello", answer=42)
    text = out.getvalue()
    assert "\x1b[" in text
    assert "hello" in text
    assert "answer" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_console_off_a_terminal_has_no_colours() -> None:
    out = io.StringIO()
    configure_logging("console", stream=out)
    get_logger("kubeloop.test").info("plain", answer=42)
    text = out.getvalue()
    assert "\x1b[" not in text
    assert "plain" in text
    assert "answer=42" in text
    assert "kubeloop.test" in text


def test_bound_context_appears_in_every_entry() -> None:
    out = io.StringIO()
    configure_logging("json", stream=out)
    log = get_logger("kubeloop.controller", controller="workspace")
    context = {"namespace": "team-a", "name": "ws-1", "reconcile_id": "abc123"}
    with structlog.contextvars.bound_contextvars(**context):
        log.info("reconciling")
        logging.getLogger("kubernetes_asyncio.client.rest").debug("not shown at info")
        logging.getLogger("kubernetes_asyncio.client.rest").warning("slow request")
    log.info("outside")
    reconciling, library, outside = lines(out)
    assert reconciling["controller"] == "workspace"
    assert {key: reconciling[key] for key in context} == context
    assert {key: library[key] for key in context} == context
    assert library["logger"] == "kubernetes_asyncio.client.rest"
    assert "reconcile_id" not in outside
    assert outside["controller"] == "workspace"


def test_standard_library_records_are_routed_through_structlog() -> None:
    out = io.StringIO()
    configure_logging("json", "debug", stream=out)
    logging.getLogger("aiohttp.access").info("%s %s", "GET", "/healthz", extra={"status": 200})
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("deprecated thing", DeprecationWarning, stacklevel=1)
    access, warning = lines(out)
    assert access["event"] == "GET /healthz"
    assert (access["logger"], access["level"], access["status"]) == ("aiohttp.access", "info", 200)
    assert "timestamp" in access
    assert warning["logger"] == "py.warnings"
    assert "deprecated thing" in warning["event"]


def test_level_filters_both_kinds_of_record() -> None:
    out = io.StringIO()
    configure_logging("json", "WARNING", stream=out)
    log = get_logger("kubeloop.test")
    log.info("dropped")
    logging.getLogger("aiohttp.client").info("dropped too")
    log.warning("kept")
    logging.getLogger("aiohttp.client").error("kept too")
    assert [entry["event"] for entry in lines(out)] == ["kept", "kept too"]


def test_exceptions_are_rendered_into_the_json_entry() -> None:
    out = io.StringIO()
    configure_logging("json", stream=out)
    try:
        _ = 1 / 0
    except ZeroDivisionError:
        get_logger("kubeloop.test").exception("failed")
    [entry] = lines(out)
    assert entry["level"] == "error"
    assert "ZeroDivisionError" in entry["exception"]


def test_configuring_again_replaces_the_previous_configuration() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("json", stream=first)
    configure_logging("json", stream=second)
    get_logger("kubeloop.test").info("once")
    assert first.getvalue() == ""
    assert [entry["event"] for entry in lines(second)] == ["once"]


@pytest.mark.parametrize(("fmt", "level"), [("xml", "info"), ("json", "loud")])
def test_unknown_format_or_level_is_rejected(fmt: Any, level: str) -> None:
    with pytest.raises(ValueError, match="unknown log"):
        configure_logging(fmt, level, stream=io.StringIO())
