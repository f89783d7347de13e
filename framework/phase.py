"""Phase machines and phase-from-conditions rule tables (pure: no API calls, no clock reads).

A `PhaseMachine` is an immutable, validated declaration: the phases, the initial one, the
allowed transitions (edges), per-phase timeouts, an optional whole-object deadline, legacy
names and an optional `RuleTable`. Terminal phases are those without an outgoing edge.
Staying in a phase is always legal and is not an edge.

Status fields read here (the reconciler writes them): `status.phase`,
`status.phaseTransitionTime` (when the current phase was entered) and `status.startTime`
(when the object was first reconciled), all RFC 3339 strings, and `status.conditions`.

Timeout failures are recorded by the reconciler as the condition built by
`timeout_condition`: Stalled=True, reason = the timeout's reason, observedGeneration = the
generation that timed out. `PhaseMachine.restart_after_timeout` reads it back: such a failure
stays until `metadata.generation` moves past that observedGeneration, then the object
re-enters the initial phase, if the machine declares the edge failure -> initial.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Protocol

from framework.conditions import STALLED, Condition, is_valid_reason, parse_rfc3339

PHASE_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9]*$"
_PHASE_NAME_RE = re.compile(PHASE_NAME_PATTERN)

Obj = Mapping[str, Any]
Seconds = float | Callable[[Obj], float | None]
"""A limit in seconds: fixed (> 0), or computed from the object (None: no limit for it)."""


class InvalidMachine(ValueError):
    """A PhaseMachine or RuleTable declaration is inconsistent; the message lists every problem."""


class UnknownPhase(ValueError):
    """A phase name that is neither a phase nor a legacy name of the machine."""

    def __init__(self, name: object, phases: Sequence[str]) -> None:
        super().__init__(f"unknown phase {name!r}; phases are {', '.join(phases)}")
        self.name = name


class IllegalTransition(ValueError):
    """A transition the machine does not declare; names the allowed targets."""

    def __init__(self, from_phase: str | None, to_phase: str, allowed: frozenset[str]) -> None:
        targets = ", ".join(sorted(allowed)) or "none (terminal phase)"
        super().__init__(
            f"illegal phase transition {from_phase!r} -> {to_phase!r}; allowed: {targets}"
        )
        self.from_phase = from_phase
        self.to_phase = to_phase
        self.allowed = allowed


def _limit_problems(seconds: Seconds, reason: str) -> list[str]:
    problems = []
    if not callable(seconds) and not (math.isfinite(seconds) and seconds > 0):
        problems.append(f"seconds must be a finite number > 0 or a callable, not {seconds!r}")
    if not is_valid_reason(reason):
        problems.append(f"reason {reason!r} is not a CamelCase condition reason")
    return problems


def _evaluate_limit(seconds: Seconds, obj: Obj) -> float | None:
    value = seconds(obj) if callable(seconds) else seconds
    return None if value is None or not math.isfinite(value) else float(value)


@dataclass(frozen=True)
class PhaseTimeout:
    """Holding `phase` for `seconds` moves the object to `failure_phase` with `reason`.

    `reason` defaults to `<phase>Timeout`. The machine requires the edge phase -> failure_phase.
    """

    phase: str
    seconds: Seconds
    reason: str = ""
    failure_phase: str = "Failed"

    def __post_init__(self) -> None:
        if not self.reason:
            object.__setattr__(self, "reason", f"{self.phase}Timeout")
        if problems := _limit_problems(self.seconds, self.reason):
            raise InvalidMachine(f"timeout of {self.phase!r}: " + "; ".join(problems))

    def limit(self, obj: Obj) -> float | None:
        """The limit for `obj`, in seconds; None when it has none."""
        return _evaluate_limit(self.seconds, obj)


@dataclass(frozen=True)
class ObjectDeadline:
    """The whole object must settle within `seconds` of `status.startTime`.

    It applies in every phase that has an edge to `failure_phase` and moves the object there.
    """

    seconds: Seconds
    reason: str = "DeadlineExceeded"
    failure_phase: str = "Failed"

    def __post_init__(self) -> None:
        if problems := _limit_problems(self.seconds, self.reason):
            raise InvalidMachine("object deadline: " + "; ".join(problems))

    def limit(self, obj: Obj) -> float | None:
        """The limit for `obj`, in seconds; None when it has none."""
        return _evaluate_limit(self.seconds, obj)


Limit = PhaseTimeout | ObjectDeadline


@dataclass(frozen=True)
class TimeoutVerdict:
    """`expired`: the limit that has run out (the earliest, if several), else None.

    `requeue_after`: when nothing has expired, seconds until the nearest limit runs out
    (None: no limit applies); requeueing then finds it expired.
    """

    expired: Limit | None = None
    requeue_after: float | None = None


def timeout_condition(limit: Limit, generation: int | None, message: str = "") -> Condition:
    """The Stalled condition recording that `limit` expired at `generation`."""
    return Condition(
        type=STALLED,
        status="True",
        reason=limit.reason,
        message=message,
        observed_generation=generation,
    )


def _status(obj: Obj) -> Mapping[str, Any]:
    status = obj.get("status")
    return status if isinstance(status, Mapping) else {}


def _conditions(obj: Obj) -> list[Mapping[str, Any]]:
    conditions = _status(obj).get("conditions")
    if not isinstance(conditions, list):
        return []
    return [c for c in conditions if isinstance(c, Mapping)]


class _Indexed(dict[str, Any]):
    """A shallow copy of an object under evaluation with its conditions indexed by type: a
    rule table looks conditions up once per matcher, a scan each time otherwise."""

    __slots__ = ("by_type",)

    def __init__(self, obj: Obj) -> None:
        super().__init__(obj)
        self.by_type = {c.get("type"): c for c in reversed(_conditions(obj))}


def _find_condition(obj: Obj, type_: str) -> Mapping[str, Any] | None:
    """The first condition of `type_`."""
    if isinstance(obj, _Indexed):
        return obj.by_type.get(type_)
    return next((c for c in _conditions(obj) if c.get("type") == type_), None)


def _timestamp(obj: Obj, name: str) -> datetime | None:
    """A status timestamp; None when absent or malformed (nothing can be measured from it)."""
    raw = _status(obj).get(name)
    if not isinstance(raw, str):
        return None
    try:
        return parse_rfc3339(raw)
    except ValueError:
        return None


# Rule-table matchers ---------------------------------------------------------------------


class Matcher(Protocol):
    """A condition on an object at a time, with a human-readable rendering for docs."""

    def matches(self, obj: Obj, now: datetime) -> bool: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class Cond:
    """Condition `type` has `status` and, when `reasons` is non-empty, one of those reasons."""

    type: str
    status: str = "True"
    reasons: frozenset[str] = frozenset()

    def matches(self, obj: Obj, now: datetime) -> bool:
        found = _find_condition(obj, self.type)
        if found is None or found.get("status") != self.status:
            return False
        return not self.reasons or found.get("reason") in self.reasons

    def describe(self) -> str:
        text = f"{self.type}={self.status}"
        if self.reasons:
            text += f" (reason {' or '.join(sorted(self.reasons))})"
        return text


def cond(type_: str, status: str = "True", reason: str | Iterable[str] | None = None) -> Cond:
    """`Cond` matcher: `cond("ResourceReady", "False", reason="ProvisionFailed")`."""
    if status not in ("True", "False", "Unknown"):
        raise InvalidMachine(f"condition status must be True, False or Unknown, not {status!r}")
    reasons = frozenset([reason] if isinstance(reason, str) else reason or ())
    return Cond(type_, status, reasons)


@dataclass(frozen=True)
class PhaseHeld:
    """The current phase was entered at least `seconds` ago (`status.phaseTransitionTime`)."""

    seconds: float

    def matches(self, obj: Obj, now: datetime) -> bool:
        since = _timestamp(obj, "phaseTransitionTime")
        return since is not None and now - since >= timedelta(seconds=self.seconds)

    def describe(self) -> str:
        return f"phase held for {self.seconds:g}s"


@dataclass(frozen=True)
class Predicate:
    """Escape hatch: an arbitrary test, rendered by its `description`."""

    test: Callable[[Obj, datetime], bool]
    description: str

    def matches(self, obj: Obj, now: datetime) -> bool:
        return self.test(obj, now)

    def describe(self) -> str:
        return self.description


@dataclass(frozen=True)
class AllOf:
    """Every part matches."""

    parts: tuple[Matcher, ...]

    def matches(self, obj: Obj, now: datetime) -> bool:
        return all(part.matches(obj, now) for part in self.parts)

    def describe(self) -> str:
        return " and ".join(_grouped(part) for part in self.parts)


@dataclass(frozen=True)
class AnyOf:
    """At least one part matches."""

    parts: tuple[Matcher, ...]

    def matches(self, obj: Obj, now: datetime) -> bool:
        return any(part.matches(obj, now) for part in self.parts)

    def describe(self) -> str:
        return " or ".join(_grouped(part) for part in self.parts)


def _grouped(part: Matcher) -> str:
    text = part.describe()
    return f"({text})" if isinstance(part, AllOf | AnyOf) and len(part.parts) > 1 else text


def all_of(*parts: Matcher) -> AllOf:
    """Matches when every part matches."""
    return AllOf(parts)


def any_of(*parts: Matcher) -> AnyOf:
    """Matches when any part matches."""
    return AnyOf(parts)


@dataclass(frozen=True)
class PhaseRule:
    """`phase` applies when `when` matches (None: always) and the deletion state fits.

    `deletion`: True requires `metadata.deletionTimestamp`, False requires its absence,
    None ignores it.
    """

    phase: str
    when: Matcher | None = None
    deletion: bool | None = None

    def matches(self, obj: Obj, now: datetime) -> bool:
        if self.deletion is not None:
            metadata = obj.get("metadata")
            deleting = isinstance(metadata, Mapping) and bool(metadata.get("deletionTimestamp"))
            if deleting != self.deletion:
                return False
        return self.when is None or self.when.matches(obj, now)

    def describe(self) -> str:
        parts = []
        if self.deletion is not None:
            parts.append("deletionTimestamp " + ("set" if self.deletion else "not set"))
        if self.when is not None:
            parts.append(self.when.describe())
        return " and ".join(parts) or "always"


@dataclass(frozen=True)
class RuleTable:
    """Ordered rules; the first that matches gives the phase, else `default`."""

    rules: tuple[PhaseRule, ...]
    default: str

    def evaluate(self, obj: Obj, now: datetime) -> tuple[str, PhaseRule | None]:
        """The phase for `obj` at `now`, and the rule that chose it (None for the default)."""
        indexed = _Indexed(obj)
        for rule in self.rules:
            if rule.matches(indexed, now):
                return rule.phase, rule
        return self.default, None

    @property
    def phases(self) -> frozenset[str]:
        """Every phase the table can produce."""
        return frozenset(rule.phase for rule in self.rules) | {self.default}

    def describe(self) -> list[dict[str, str]]:
        """The table as rows `{"phase", "when"}`, in order, ending with the default."""
        rows = [{"phase": rule.phase, "when": rule.describe()} for rule in self.rules]
        return [*rows, {"phase": self.default, "when": "otherwise"}]


# The machine -----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PhaseMachine:
    """An immutable, validated phase declaration (see the module docstring).

    `transitions` maps a phase to the phases it may move to. Construction raises
    `InvalidMachine` listing every problem: unknown or malformed names, self-loops, phases
    unreachable from `initial`, timeouts without an edge to their failure phase, legacy names
    that shadow phases, rule-table phases the machine does not know.
    """

    phases: tuple[str, ...]
    initial: str
    transitions: Mapping[str, frozenset[str]]
    timeouts: Mapping[str, PhaseTimeout]
    deadline: ObjectDeadline | None
    legacy: Mapping[str, str]
    rules: RuleTable | None
    _deadline_phases: frozenset[str] = field(repr=False, compare=False)

    def __init__(
        self,
        *,
        phases: Iterable[str],
        initial: str,
        transitions: Mapping[str, Iterable[str]],
        timeouts: Iterable[PhaseTimeout] = (),
        deadline: ObjectDeadline | None = None,
        legacy: Mapping[str, str] | None = None,
        rules: RuleTable | None = None,
    ) -> None:
        phases = tuple(phases)
        edges = {source: frozenset(targets) for source, targets in transitions.items()}
        timeout_list = tuple(timeouts)
        legacy = dict(legacy or {})
        problems = _declaration_problems(phases, initial, edges, timeout_list, legacy)
        known = set(phases)
        if deadline is not None and deadline.failure_phase not in known:
            problems.append(f"deadline failure phase {deadline.failure_phase!r} is unknown")
        if rules is not None and (extra := rules.phases - known):
            problems.append(f"rule table produces unknown phases {sorted(extra)}")
        deadline_phases = frozenset(
            p for p in phases if deadline and deadline.failure_phase in edges.get(p, ())
        )
        if deadline is not None and not deadline_phases:
            problems.append(f"no phase has an edge to deadline phase {deadline.failure_phase!r}")
        if problems:
            raise InvalidMachine("invalid phase machine: " + "; ".join(problems))
        set_ = object.__setattr__
        set_(self, "phases", phases)
        set_(self, "initial", initial)
        set_(self, "transitions", MappingProxyType({p: edges.get(p, frozenset()) for p in phases}))
        set_(self, "timeouts", MappingProxyType({t.phase: t for t in timeout_list}))
        set_(self, "deadline", deadline)
        set_(self, "legacy", MappingProxyType(legacy))
        set_(self, "rules", rules)
        set_(self, "_deadline_phases", deadline_phases)

    @property
    def edges(self) -> frozenset[tuple[str, str]]:
        """Every declared (from, to) pair."""
        return frozenset((s, t) for s, targets in self.transitions.items() for t in targets)

    @property
    def terminal(self) -> frozenset[str]:
        """Phases without an outgoing edge."""
        return frozenset(p for p, targets in self.transitions.items() if not targets)

    def allowed(self, phase: str) -> frozenset[str]:
        """The phases `phase` may move to; raises UnknownPhase."""
        self._known(phase)
        return self.transitions[phase]

    def is_terminal(self, phase: str) -> bool:
        """Whether `phase` has no outgoing edge; raises UnknownPhase."""
        return not self.allowed(phase)

    def check(self, from_phase: str | None, to_phase: str) -> None:
        """Raise IllegalTransition unless `from_phase` may become `to_phase`.

        None (no phase yet) may only become the initial phase; staying put is always legal.
        """
        self._known(to_phase)
        if from_phase is None:
            if to_phase != self.initial:
                raise IllegalTransition(None, to_phase, frozenset({self.initial}))
            return
        allowed = self.allowed(from_phase)
        if to_phase != from_phase and to_phase not in allowed:
            raise IllegalTransition(from_phase, to_phase, allowed)

    def resolve(self, name: str) -> tuple[str, bool]:
        """(current phase, migrated): legacy names map to their phase with migrated=True."""
        if name in self.transitions:
            return name, False
        if name in self.legacy:
            return self.legacy[name], True
        raise UnknownPhase(name, self.phases)

    def timeout_for(self, phase: str, obj: Obj) -> float | None:
        """Seconds `obj` may hold `phase` (None: no timeout); raises UnknownPhase."""
        self._known(phase)
        timeout = self.timeouts.get(phase)
        return None if timeout is None else timeout.limit(obj)

    def check_timeouts(self, obj: Obj, now: datetime) -> TimeoutVerdict:
        """Evaluate the phase timeout and the deadline of `obj` at `now` (aware datetime).

        The phase timeout runs from `status.phaseTransitionTime`, the deadline from
        `status.startTime`; a limit whose start time is absent or malformed is skipped. A
        limit expires when `now` reaches start + limit. A legacy phase is resolved; an object
        without a phase has no verdict; an unknown phase raises UnknownPhase.
        """
        raw = _status(obj).get("phase")
        if not isinstance(raw, str):
            return TimeoutVerdict()
        phase, _ = self.resolve(raw)
        candidates: list[tuple[datetime, int, Limit]] = []
        for rank, limit, since_field in (
            (0, self.timeouts.get(phase), "phaseTransitionTime"),
            (1, self.deadline if phase in self._deadline_phases else None, "startTime"),
        ):
            seconds = None if limit is None else limit.limit(obj)
            since = _timestamp(obj, since_field)
            if limit is not None and seconds is not None and since is not None:
                candidates.append((since + timedelta(seconds=seconds), rank, limit))
        if not candidates:
            return TimeoutVerdict()
        due, _, nearest = min(candidates, key=lambda c: (c[0], c[1]))
        remaining = (due - now).total_seconds()
        if remaining <= 0:
            return TimeoutVerdict(expired=nearest)
        return TimeoutVerdict(requeue_after=remaining)

    def restart_after_timeout(self, obj: Obj) -> str | None:
        """The phase to re-enter after a timeout failure whose generation has changed.

        Returns the initial phase when `obj` sits in a failure phase reached by one of this
        machine's limits (per its `timeout_condition`), `metadata.generation` differs from the
        condition's observedGeneration, and the machine has the edge failure -> initial;
        None otherwise (the failure stays). On re-entry the reconciler resets
        `status.startTime`, or the object deadline would fire again at once.
        """
        raw = _status(obj).get("phase")
        if not isinstance(raw, str) or (raw not in self.transitions and raw not in self.legacy):
            return None
        phase, _ = self.resolve(raw)
        limits: list[Limit] = [*self.timeouts.values(), *([self.deadline] if self.deadline else [])]
        reasons = {limit.reason for limit in limits if limit.failure_phase == phase}
        stalled = _find_condition(obj, STALLED)
        if not reasons or self.initial not in self.transitions[phase] or stalled is None:
            return None
        if stalled.get("status") != "True" or stalled.get("reason") not in reasons:
            return None
        metadata = obj.get("metadata")
        generation = metadata.get("generation") if isinstance(metadata, Mapping) else None
        failed_at = stalled.get("observedGeneration")
        if isinstance(generation, int) and isinstance(failed_at, int) and generation != failed_at:
            return self.initial
        return None

    def to_mermaid(self) -> str:
        """A Mermaid `stateDiagram-v2`: entry, edges (timeout edges labelled), terminal exits,
        and legacy names as notes."""
        lines = ["stateDiagram-v2", f"    [*] --> {self.initial}"]
        for source, target in self._ordered_edges():
            timeout = self.timeouts.get(source)
            label = ""
            if timeout is not None and timeout.failure_phase == target:
                label = f" : {timeout.reason}" + _seconds_suffix(timeout.seconds)
            lines.append(f"    {source} --> {target}{label}")
        lines += [f"    {p} --> [*]" for p in self.phases if p in self.terminal]
        lines += [f"    note right of {new} : formerly {old}" for old, new in self.legacy.items()]
        return "\n".join(lines) + "\n"

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary for the status API and docs (computed limits show as null)."""
        return {
            "phases": list(self.phases),
            "initial": self.initial,
            "terminal": [p for p in self.phases if p in self.terminal],
            "edges": [list(edge) for edge in self._ordered_edges()],
            "timeouts": [{"phase": t.phase, **_describe_limit(t)} for t in self.timeouts.values()],
            "deadline": None if self.deadline is None else _describe_limit(self.deadline),
            "legacy": dict(self.legacy),
            "rules": None if self.rules is None else self.rules.describe(),
        }

    def _ordered_edges(self) -> list[tuple[str, str]]:
        order = {p: i for i, p in enumerate(self.phases)}
        return sorted(self.edges, key=lambda e: (order[e[0]], order[e[1]]))

    def _known(self, phase: str) -> None:
        if phase not in self.transitions:
            raise UnknownPhase(phase, self.phases)


def _seconds_suffix(seconds: Seconds) -> str:
    return "" if callable(seconds) else f" after {seconds:g}s"


def _describe_limit(limit: Limit) -> dict[str, Any]:
    return {
        "seconds": None if callable(limit.seconds) else float(limit.seconds),
        "reason": limit.reason,
        "failurePhase": limit.failure_phase,
    }


def _declaration_problems(
    phases: tuple[str, ...],
    initial: str,
    edges: Mapping[str, frozenset[str]],
    timeouts: tuple[PhaseTimeout, ...],
    legacy: Mapping[str, str],
) -> list[str]:
    known = set(phases)
    problems = [f"phase name {p!r} is not alphanumeric CamelCase" for p in phases if not _named(p)]
    if not phases:
        problems.append("no phases")
    if len(known) != len(phases):
        problems.append("duplicate phases")
    if initial not in known:
        problems.append(f"initial phase {initial!r} is unknown")
    for source, targets in edges.items():
        problems += [f"edge from unknown phase {source!r}"] if source not in known else []
        problems += [f"edge {source!r} -> unknown phase {t!r}" for t in targets if t not in known]
        if source in targets:
            problems.append(f"self-loop on {source!r} (staying in a phase is always allowed)")
    seen: set[str] = set()
    for t in timeouts:
        if t.phase not in known or t.failure_phase not in known:
            problems.append(f"timeout {t.phase!r} -> {t.failure_phase!r} names an unknown phase")
        elif t.failure_phase not in edges.get(t.phase, ()):
            problems.append(f"timeout of {t.phase!r} needs the edge to {t.failure_phase!r}")
        if t.phase in seen:
            problems.append(f"two timeouts for {t.phase!r}")
        seen.add(t.phase)
    for old, new in legacy.items():
        if old in known or not _named(old):
            problems.append(f"legacy name {old!r} is a current phase or malformed")
        if new not in known:
            problems.append(f"legacy name {old!r} maps to unknown phase {new!r}")
    if initial in known and (unreachable := known - _reachable(initial, edges)):
        problems.append(f"phases unreachable from {initial!r}: {sorted(unreachable)}")
    return problems


def _named(name: str) -> bool:
    return _PHASE_NAME_RE.fullmatch(name) is not None


def _reachable(initial: str, edges: Mapping[str, frozenset[str]]) -> set[str]:
    reached, frontier = {initial}, [initial]
    while frontier:
        for target in edges.get(frontier.pop(), ()):
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    return reached
