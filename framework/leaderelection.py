"""Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it.

Candidates share one Lease. A candidate takes the Lease when it does not exist, when it names
no holder, when it is already ours, or when its record has not changed for `lease_duration`
seconds of the candidate's own monotonic clock: expiry is judged from when this process last
*observed a change* of the record, never from the remote timestamps, so clock skew between
machines does not matter. Every write carries the Lease's resourceVersion (optimistic lock), so
of two candidates racing for an expired Lease exactly one succeeds.

The leader renews every `retry_period`. A leader that sees another holder in the Lease stops at
once; one that cannot renew stops `renew_deadline` seconds after its last successful renewal
began, which is before any standby may take over (`lease_duration` > `renew_deadline`).
"""

from __future__ import annotations

import asyncio
import math
import random
import socket
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol, Self, TypeVar

import aiohttp
import structlog
from prometheus_client import CollectorRegistry, Gauge
from pydantic import BaseModel, ConfigDict, Field, model_validator

from framework.clock import REAL_CLOCK, Clock
from framework.errors import ApiError, NotFound
from framework.metrics import per_registry
from framework.resources import GroupVersionKind

__all__ = [
    "JITTER_FACTOR",
    "LEASE",
    "LeaderElectionConfig",
    "LeaderElectionLost",
    "LeaderElectionRecord",
    "LeaderElector",
    "LeaseClient",
    "check_timing",
    "default_identity",
    "format_micro_time",
]

LEASE = GroupVersionKind("coordination.k8s.io", "v1", "Lease")
JITTER_FACTOR = 1.2
"""Acquisition retries wait retry_period * (1 + JITTER_FACTOR * random()) (client-go's value)."""

_FAILURES = (ApiError, aiohttp.ClientError, OSError, TimeoutError)
_log = structlog.get_logger("kubeloop.leaderelection")
T = TypeVar("T")


class LeaderElectionLost(Exception):
    """The leader could not keep its Lease; its leading work has been stopped."""


def default_identity() -> str:
    """controller-runtime's default candidate identity: "<hostname>_<uuid4>"."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


def check_timing(lease_duration: float, renew_deadline: float, retry_period: float) -> None:
    """ValueError unless lease_duration > renew_deadline > JITTER_FACTOR * retry_period > 0."""
    if retry_period <= 0:
        raise ValueError(f"retry_period ({retry_period}s) must be greater than 0")
    if lease_duration <= renew_deadline:
        raise ValueError(
            f"lease_duration ({lease_duration}s) must be greater than "
            f"renew_deadline ({renew_deadline}s)"
        )
    if renew_deadline <= JITTER_FACTOR * retry_period:
        raise ValueError(
            f"renew_deadline ({renew_deadline}s) must be greater than "
            f"{JITTER_FACTOR} x retry_period ({retry_period}s)"
        )


class LeaderElectionConfig(BaseModel):
    """Which Lease to compete for, as whom, and the timing (controller-runtime's defaults).

    Durations are seconds and must satisfy lease_duration > renew_deadline >
    JITTER_FACTOR * retry_period > 0. The Lease records `leaseDurationSeconds` as an integer,
    rounded up so that standbys never wait less than `lease_duration`.
    `release_on_cancel`: a leader that stops of its own accord (cancelled, or its leading work
    ended) clears the holder so a standby can take over at its next retry instead of waiting
    for the Lease to expire.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    namespace: str = Field(min_length=1)
    identity: str = Field(default_factory=default_identity, min_length=1)
    lease_duration: float = Field(default=15.0, gt=0)
    renew_deadline: float = Field(default=10.0, gt=0)
    retry_period: float = Field(default=2.0, gt=0)
    release_on_cancel: bool = False

    @model_validator(mode="after")
    def _check_durations(self) -> Self:
        check_timing(self.lease_duration, self.renew_deadline, self.retry_period)
        return self

    @property
    def lease_duration_seconds(self) -> int:
        """The `spec.leaseDurationSeconds` this candidate writes."""
        return math.ceil(self.lease_duration)


def format_micro_time(moment: datetime) -> str:
    """A metav1.MicroTime: RFC 3339 in UTC with microseconds, e.g. 2026-01-01T00:00:00.000000Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class LeaderElectionRecord:
    """The election fields of a Lease's spec; timestamps are kept as the MicroTime strings
    written, since only this process's observation times decide expiry."""

    holder_identity: str = ""
    lease_duration_seconds: int = 0
    acquire_time: str | None = None
    renew_time: str | None = None
    lease_transitions: int = 0

    @classmethod
    def from_spec(cls, spec: dict[str, Any] | None) -> LeaderElectionRecord:
        spec = spec or {}
        return cls(
            holder_identity=str(spec.get("holderIdentity") or ""),
            lease_duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=spec.get("acquireTime"),
            renew_time=spec.get("renewTime"),
            lease_transitions=int(spec.get("leaseTransitions") or 0),
        )

    def to_spec(self) -> dict[str, Any]:
        return {
            "holderIdentity": self.holder_identity,
            "leaseDurationSeconds": self.lease_duration_seconds,
            "acquireTime": self.acquire_time,
            "renewTime": self.renew_time,
            "leaseTransitions": self.lease_transitions,
        }


class LeaseClient(Protocol):
    """The part of `framework.client.Client` the elector uses (Leases as plain dicts)."""

    async def get(
        self, kind: GroupVersionKind, name: str, *, namespace: str | None = None
    ) -> dict[str, Any]: ...

    async def create(self, obj: dict[str, Any]) -> dict[str, Any]: ...

    async def update(self, obj: dict[str, Any]) -> dict[str, Any]: ...


@per_registry
def _status_gauge(registry: CollectorRegistry) -> Gauge:
    return Gauge(
        "leader_election_master_status",
        "Gauge of if the reporting system is master of the relevant lease, 0 indicates "
        "backup, 1 indicates master. 'name' is the string used to identify the lease.",
        ["name"],
        registry=registry,
    )


async def _within(clock: Clock, seconds: float, work: Coroutine[Any, Any, T]) -> T:
    """The result of `work`, cancelled and TimeoutError if not done `seconds` from now."""
    task = asyncio.ensure_future(work)

    def expire() -> None:
        task.cancel()

    timer = clock.call_later(seconds, expire)
    try:
        await asyncio.wait({task})
    finally:
        timer.cancel()
        if task.cancel():
            await asyncio.wait({task})
    if task.cancelled():
        raise TimeoutError(f"not done within {seconds:.3g}s")
    return task.result()


class LeaderElector:
    """One candidate for the Lease named by `config`.

    `run()` competes until this candidate holds the Lease, then runs the leading work while
    renewing. `is_leader` is True from acquisition until the leader stops or sees another
    holder. `leader_election_master_status{name=<lease name>}` on `registry` (default: a
    private one) is 1 while leading, else 0. A LeaderElector runs once at a time.
    """

    def __init__(
        self,
        client: LeaseClient,
        config: LeaderElectionConfig,
        *,
        clock: Clock = REAL_CLOCK,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.config = config
        self.registry = registry if registry is not None else CollectorRegistry()
        self._client = client
        self._clock = clock
        self._gauge = _status_gauge(self.registry).labels(config.name)
        self._gauge.set(0)
        self._lease: dict[str, Any] | None = None
        self._observed = LeaderElectionRecord()
        self._observed_at = -math.inf
        self._renewed_at = -math.inf
        self._leading = False
        self._reported_leader = ""
        self._on_new_leader: Callable[[str], None] | None = None

    @property
    def identity(self) -> str:
        return self.config.identity

    @property
    def is_leader(self) -> bool:
        return self._leading and self._holds_lease()

    @property
    def leader(self) -> str:
        """The holder named by the Lease as last observed ("" if none)."""
        return self._observed.holder_identity

    async def run(
        self,
        on_started_leading: Callable[[], Awaitable[None]],
        on_stopped_leading: Callable[[], None] | None = None,
        on_new_leader: Callable[[str], None] | None = None,
    ) -> None:
        """Wait to acquire the Lease, then run `on_started_leading()` as a task while renewing.

        Ends when the leading work ends (returning its result or raising its exception), or
        when the Lease is lost: the leading task is then cancelled and awaited and
        LeaderElectionLost is raised. Cancelling `run()` cancels the leading work. Unless the
        Lease was lost, a leader with `release_on_cancel` releases the Lease before returning.
        `on_stopped_leading()` is called after the leading task has finished, if it started.
        `on_new_leader(identity)` is called whenever a different holder is observed (this
        candidate included).
        """
        self._on_new_leader = on_new_leader
        await self._acquire()
        leading = asyncio.ensure_future(on_started_leading())
        renewing = asyncio.ensure_future(self._renew_until_lost())
        self._set_leading(True)
        _log.info("started leading", lease=self.config.name, identity=self.identity)
        try:
            await asyncio.wait({leading, renewing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            renewing.cancel()
            leading.cancel()
            try:
                await asyncio.wait({leading, renewing})
            finally:
                self._set_leading(False)
            lost = not self._holds_lease() or (renewing.done() and not renewing.cancelled())
            _log.info("stopped leading", lease=self.config.name, lost=lost)
            if not lost and self.config.release_on_cancel:
                await self._release()
            if on_stopped_leading is not None:
                on_stopped_leading()
        if lost:
            renewing.result()
            raise LeaderElectionLost(
                f"lost the lease {self.config.namespace}/{self.config.name} "
                f"(holder now {self.leader!r})"
            ) from (None if leading.cancelled() else leading.exception())
        leading.result()

    def _set_leading(self, leading: bool) -> None:
        self._leading = leading
        self._gauge.set(1 if leading else 0)

    async def _acquire(self) -> None:
        while not await self._attempt(self.config.renew_deadline):
            retry = self.config.retry_period
            await self._clock.sleep(retry * (1 + JITTER_FACTOR * random.random()))

    async def _renew_until_lost(self) -> None:
        """Return when the renew deadline has passed or another holder is observed."""
        while True:
            deadline = self._renewed_at + self.config.renew_deadline
            await self._clock.sleep(min(self.config.retry_period, deadline - self._clock.now()))
            remaining = deadline - self._clock.now()
            if remaining > 0 and await self._attempt(remaining):
                continue
            if not self._holds_lease() or self._clock.now() >= deadline:
                return

    async def _attempt(self, within: float) -> bool:
        """One try to acquire or renew, bounded by `within` seconds; failures are logged."""
        try:
            acquired = await _within(self._clock, within, self._try_acquire_or_renew())
        except _FAILURES as error:
            _log.warning("leader election attempt failed", lease=self.config.name, error=error)
            acquired = False
        self._report_leader()
        return acquired

    async def _try_acquire_or_renew(self) -> bool:
        started = self._clock.now()
        wall = format_micro_time(self._clock.wall())
        ours = LeaderElectionRecord(
            holder_identity=self.identity,
            lease_duration_seconds=self.config.lease_duration_seconds,
            acquire_time=wall,
            renew_time=wall,
        )
        if self._holds_lease() and self._lease_valid():
            try:
                await self._write(self._continued(ours))
            except _FAILURES as error:
                _log.debug("optimistic renewal failed", lease=self.config.name, error=error)
            else:
                self._renewed_at = started
                return True
        try:
            self._observe(
                await self._client.get(LEASE, self.config.name, namespace=self.config.namespace)
            )
        except NotFound:
            self._observe(await self._client.create(self._lease_object({}, ours)), changed=True)
            self._renewed_at = started
            return True
        if self._observed.holder_identity and not self._holds_lease() and self._lease_valid():
            return False
        if self._holds_lease():
            await self._write(self._continued(ours))
        else:
            await self._write(replace(ours, lease_transitions=self._observed.lease_transitions + 1))
        self._renewed_at = started
        return True

    def _continued(self, ours: LeaderElectionRecord) -> LeaderElectionRecord:
        """`ours` as a renewal: the acquisition time and transitions stay as observed."""
        return replace(
            ours,
            acquire_time=self._observed.acquire_time,
            lease_transitions=self._observed.lease_transitions,
        )

    async def _release(self) -> None:
        """Clear the holder (leaseDurationSeconds 1, as client-go), bounded by renew_deadline."""
        wall = format_micro_time(self._clock.wall())
        record = LeaderElectionRecord(
            lease_duration_seconds=1,
            acquire_time=wall,
            renew_time=wall,
            lease_transitions=self._observed.lease_transitions,
        )
        try:
            await _within(self._clock, self.config.renew_deadline, self._write(record))
        except _FAILURES as error:
            _log.warning("failed to release the lease", lease=self.config.name, error=error)

    async def _write(self, record: LeaderElectionRecord) -> None:
        """Update the cached Lease with `record`; Conflict if it changed since we read it."""
        assert self._lease is not None
        self._observe(await self._client.update(self._lease_object(self._lease, record)), True)

    def _lease_object(self, base: dict[str, Any], record: LeaderElectionRecord) -> dict[str, Any]:
        metadata = dict(base.get("metadata") or {})
        metadata.update(name=self.config.name, namespace=self.config.namespace)
        return {
            **base,
            "apiVersion": LEASE.api_version,
            "kind": LEASE.kind,
            "metadata": metadata,
            "spec": record.to_spec(),
        }

    def _observe(self, lease: dict[str, Any], changed: bool = False) -> None:
        """Cache `lease`; restart the expiry clock if its record differs from the last seen."""
        self._lease = lease
        record = LeaderElectionRecord.from_spec(lease.get("spec"))
        if changed or record != self._observed:
            self._observed = record
            self._observed_at = self._clock.now()

    def _lease_valid(self) -> bool:
        expiry = self._observed_at + self._observed.lease_duration_seconds
        return self._clock.now() < expiry

    def _holds_lease(self) -> bool:
        return self._observed.holder_identity == self.identity

    def _report_leader(self) -> None:
        leader = self._observed.holder_identity
        if leader and leader != self._reported_leader:
            self._reported_leader = leader
            _log.info("new leader observed", lease=self.config.name, leader=leader)
            if self._on_new_leader is not None:
                self._on_new_leader(leader)
