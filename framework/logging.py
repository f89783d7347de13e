"""Logging: structlog for our code, with the standard library's records routed through it.

`configure_logging` installs one handler on the root logger whose structlog ProcessorFormatter
renders every record, ours and the libraries' (aiohttp, kubernetes_asyncio, warnings), the same
way: JSON lines when the output is not a terminal, coloured console lines when it is. Each entry
carries an ISO-8601 UTC `timestamp`, `level`, `logger` (the name given to `get_logger`) and the
context bound with `structlog.contextvars` (controller, namespace, name, reconcile_id), so a
library's record logged during a reconcile names that reconcile too.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal, TextIO, cast

import orjson
import structlog
from structlog.typing import Processor

__all__ = ["LogFormat", "configure_logging", "get_logger"]

LogFormat = Literal["json", "console", "auto"]

_LEVELS = {"debug", "info", "warning", "error", "critical"}


class _KubeloopHandler(logging.StreamHandler[TextIO]):
    """The root handler `configure_logging` installs (and replaces when called again)."""


def _dumps(value: Any, **_: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def configure_logging(
    format: LogFormat = "auto", level: str = "info", *, stream: TextIO | None = None
) -> None:
    """Route all logging to `stream` (default: stdout) at `level` and above.

    "auto" renders JSON unless `stream` is a terminal; console output is coloured only on a
    terminal. Calling again replaces the previous configuration; handlers installed by others
    are left alone. ValueError for an unknown format or level.
    """
    if format not in ("json", "console", "auto"):
        raise ValueError(f"unknown log format {format!r}: expected json, console or auto")
    if level.lower() not in _LEVELS:
        raise ValueError(f"unknown log level {level!r}: expected one of {sorted(_LEVELS)}")
    stream = stream if stream is not None else sys.stdout
    terminal = stream.isatty()
    json = format == "json" or (format == "auto" and not terminal)

    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: list[Processor] = (
        [structlog.processors.format_exc_info, structlog.processors.JSONRenderer(_dumps)]
        if json
        else [structlog.dev.ConsoleRenderer(colors=terminal)]
    )
    handler = _KubeloopHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _KubeloopHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.stdlib.PositionalArgumentsFormatter(),
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def get_logger(name: str, **context: Any) -> structlog.stdlib.BoundLogger:
    """A structlog logger named `name` (e.g. "kubeloop.controller"), with `context` bound."""
    return cast(structlog.stdlib.BoundLogger, structlog.get_logger(name, **context))
