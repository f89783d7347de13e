"""Types shared by kubeloop's own kinds: the status every PhaseReconciler writes, durations,
and the workspace-template reference of the CAPT kinds.

`KubeloopStatus` declares the fields the framework writes on every object it reconciles
(observedGeneration, phase, message, phaseTransitionTime, startTime, conditions). A kind's
status subclasses it and narrows `phase` to its own `Literal`; every field defaults to None so
a freshly created object (no status yet) is valid. The CRD schema therefore declares them all,
and the API server never prunes what the framework writes.

Timeouts and durations are Go duration strings (metav1.Duration's wire form: "90s", "15m",
"1h30m", "1.5s"), validated by `DURATION_PATTERN` on the client and in the CRD schema;
`parse_duration` turns one into a `timedelta`.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, ClassVar, Final

from pydantic import ConfigDict, Field, StringConstraints
from pydantic.config import JsonDict

from framework.conditions import READY, RECONCILING, STALLED, Condition
from framework.models import KubeModel

__all__ = [
    "CONDITIONS_FIELD",
    "DURATION_PATTERN",
    "EXPECTED_PHASE_ANNOTATION",
    "FRAMEWORK_STATUS_FIELDS",
    "KUBELOOP_CATEGORY",
    "Duration",
    "KubeloopStatus",
    "WorkspaceTemplateReference",
    "exactly_one_of",
    "parse_duration",
]

KUBELOOP_CATEGORY: Final = "kubeloop"
"""The category of every kubeloop kind: `kubectl get kubeloop` lists them all."""

EXPECTED_PHASE_ANNOTATION: Final = "kubeloop.dev/expected-phase"
"""On a sample: the phase it is meant to end in (e.g. Failed). Samples without it are meant
to reach their kind's success phase."""

FRAMEWORK_STATUS_FIELDS: Final = (
    "observedGeneration",
    "phase",
    "message",
    "phaseTransitionTime",
    "startTime",
    "conditions",
)
"""Wire names of the status fields the framework writes on every kubeloop kind."""

DURATION_PATTERN: Final = r"^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$"
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|ms|s|m|h)")
_UNIT_SECONDS: Final = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}

Duration = Annotated[str, StringConstraints(pattern=DURATION_PATTERN)]
"""A Go duration string ("15m", "1h30m", "90s", "1.5s"); see `parse_duration`."""


def exactly_one_of(first: str, second: str) -> ConfigDict:
    """A model config whose CRD schema requires exactly one of the fields `first` and
    `second` (wire names), as a CEL rule."""
    return ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": f"has(self.{first}) != has(self.{second})",
                    "message": f"exactly one of {first} or {second} is required",
                }
            ]
        }
    )


def parse_duration(text: str) -> timedelta:
    """The `timedelta` of a Go duration string; ValueError if it does not match the pattern."""
    if re.fullmatch(DURATION_PATTERN, text) is None:
        raise ValueError(f"invalid duration {text!r}: expected e.g. 90s, 15m or 1h30m")
    seconds = sum(
        float(amount) * _UNIT_SECONDS[unit] for amount, unit in _DURATION_PART.findall(text)
    )
    return timedelta(seconds=seconds)


CONDITIONS_FIELD: Final[JsonDict] = {
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["type"],
}
"""Schema markers of a `conditions` list: one entry per type, merged by type."""


class KubeloopStatus(KubeModel):
    """Observed state written by the framework's PhaseReconciler (kstatus-compatible)."""

    CONDITION_TYPES: ClassVar[tuple[str, ...]] = (READY, RECONCILING, STALLED)
    """Condition types this kind's reconciler maintains; subclasses append their own."""

    observed_generation: int | None = Field(
        default=None, ge=0, description="The metadata.generation the status was computed for."
    )
    phase: str | None = Field(default=None, description="The lifecycle phase.")
    message: str | None = Field(
        default=None, description="Human-readable detail of the current phase."
    )
    phase_transition_time: datetime | None = Field(
        default=None, description="When the object entered its current phase."
    )
    start_time: datetime | None = Field(
        default=None, description="When the reconciler first acted on the object."
    )
    conditions: list[Condition] | None = Field(
        default=None,
        description="Ready, Reconciling (True until settled), Stalled (True when Failed) "
        "and the kind's own condition types.",
        json_schema_extra=CONDITIONS_FIELD,
    )


class WorkspaceTemplateReference(KubeModel):
    """Names the Terraform workspace template (module source and variables) a CAPT object
    renders into a Crossplane Terraform Workspace; in the object's namespace unless given."""

    name: str = Field(min_length=1)
    namespace: str | None = None
