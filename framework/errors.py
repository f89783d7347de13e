"""Typed Kubernetes API errors.

A request the API server answered with a non-success code raises an `ApiError` subclass chosen
by the Status `reason` the server sent (as apimachinery's `errors.IsNotFound` & co. do), falling
back to the HTTP code when the body is not a Status. Connection failures are not API errors:
they surface as aiohttp's `ClientError`s (or `TimeoutError`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class Cause:
    """One StatusCause: why a field was rejected (`reason` e.g. "FieldValueRequired")."""

    reason: str
    message: str
    field: str


class ApiError(Exception):
    """A non-success answer from the API server.

    `status` is the HTTP code, `reason` the Status reason ("" when the body was not a Status),
    `message` the server's message, `details` the Status details, `body` the decoded Status (or
    {}), and `retry_after` the seconds the server asked the client to wait (Retry-After header,
    else `details.retryAfterSeconds`), None when it did not say.
    """

    def __init__(
        self,
        status: int,
        reason: str = "",
        message: str = "",
        *,
        details: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {reason}: {message}" if reason else f"{status}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.details: Mapping[str, Any] = details or {}
        self.body: Mapping[str, Any] = body or {}
        self.retry_after = retry_after


class NotFound(ApiError):
    """404: the object (or the resource type) does not exist."""


class AlreadyExists(ApiError):
    """409 AlreadyExists: a create named an object that exists."""


class Conflict(ApiError):
    """409 Conflict: the write carried a stale resourceVersion (optimistic lock lost)."""


class Invalid(ApiError):
    """422 Invalid: the object failed validation; `causes` says which fields and why."""

    @property
    def causes(self) -> list[Cause]:
        return [
            Cause(
                reason=str(cause.get("reason", "")),
                message=str(cause.get("message", "")),
                field=str(cause.get("field", "")),
            )
            for cause in self.details.get("causes") or ()
            if isinstance(cause, Mapping)
        ]


class Gone(ApiError):
    """410 Gone/Expired: a resourceVersion or continue token is too old."""


class Forbidden(ApiError):
    """403: the credentials may not do this."""


class Unauthorized(ApiError):
    """401: the credentials were missing or rejected."""


class TooManyRequests(ApiError):
    """429: the server is throttling; `retry_after` says for how long, when it does."""


class NoKindMatch(LookupError):
    """Neither the resource registry nor the server's discovery knows this kind."""


_BY_REASON: dict[str, type[ApiError]] = {
    "NotFound": NotFound,
    "AlreadyExists": AlreadyExists,
    "Conflict": Conflict,
    "Invalid": Invalid,
    "Gone": Gone,
    "Expired": Gone,
    "Forbidden": Forbidden,
    "Unauthorized": Unauthorized,
    "TooManyRequests": TooManyRequests,
}

_BY_STATUS: dict[int, type[ApiError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    422: Invalid,
    429: TooManyRequests,
}


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header given in seconds; None if absent or a date."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(seconds, 0.0)


def error_from_response(status: int, body: bytes, retry_after_header: str | None) -> ApiError:
    """The typed error for a non-success answer with this code, body and Retry-After header."""
    try:
        decoded = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        decoded = {}
    if not isinstance(decoded, dict) or decoded.get("kind") != "Status":
        text = body.decode("utf-8", "replace").strip()
        cls = _BY_STATUS.get(status, ApiError)
        return cls(status, "", text, retry_after=parse_retry_after(retry_after_header))
    reason = str(decoded.get("reason") or "")
    details = decoded.get("details")
    details = details if isinstance(details, dict) else {}
    retry_after = parse_retry_after(retry_after_header)
    if retry_after is None and isinstance(details.get("retryAfterSeconds"), int | float):
        retry_after = float(details["retryAfterSeconds"])
    cls = _BY_REASON.get(reason) or _BY_STATUS.get(status, ApiError)
    return cls(
        status,
        reason,
        str(decoded.get("message") or ""),
        details=details,
        body=decoded,
        retry_after=retry_after,
    )
