"""Permissive building blocks of the foreign kinds' models."""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, Field

from framework.models import KubeModel

__all__ = ["OpenCondition", "OpenModel"]


class OpenModel(KubeModel):
    """An object that keeps fields it does not declare (on the wire and in Python)."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})


class OpenCondition(OpenModel):
    """A condition as foreign projects write them (metav1, Crossplane, Knative or Cluster API
    v1beta1 style): only type and status are required."""

    type: str = Field(min_length=1)
    status: str
    reason: str | None = None
    message: str | None = None
    severity: str | None = None
    last_transition_time: datetime | None = None
    observed_generation: int | None = None
