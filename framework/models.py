"""Pydantic base classes for Kubernetes objects, and their binding to the resource registry.

A model class binds to a kind by setting `__resource__` to that kind's `ResourceInfo`; the
client then accepts the class wherever it takes a kind and returns instances of it. Fields use
snake_case names with camelCase aliases (`resource_version` <-> `resourceVersion`); both
spellings are accepted on input, and `to_dict` writes the camelCase wire form. Unknown fields
are kept (extra="allow"), so a model round-trips what the server sent even when it declares
less.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from framework.resources import GroupVersionKind, ResourceInfo


class KubeModel(BaseModel):
    """Base of every Kubernetes API structure: camelCase aliases, extra fields kept."""

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
        alias_generator=to_camel,
        serialize_by_alias=True,
    )

    def to_dict(self) -> dict[str, Any]:
        """The JSON wire form: camelCase keys, fields left at None omitted."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class OwnerReference(KubeModel):
    """metav1.OwnerReference."""

    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ObjectMeta(KubeModel):
    """metav1.ObjectMeta: the fields the framework reads; anything else is kept as extra."""

    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    finalizers: list[str] = Field(default_factory=list)
    owner_references: list[OwnerReference] = Field(default_factory=list)


class KubeObject(KubeModel):
    """A top-level object: apiVersion, kind, metadata, and whatever the kind adds.

    Subclasses bind to their kind with `__resource__`; `apiVersion` and `kind` then default to
    the bound kind's.
    """

    __resource__: ClassVar[ResourceInfo | None] = None

    api_version: str = ""
    kind: str = ""
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)

    @model_validator(mode="after")
    def _default_type_meta(self) -> Self:
        info = type(self).__resource__
        if info is not None:
            self.api_version = self.api_version or info.gvk.api_version
            self.kind = self.kind or info.gvk.kind
        return self

    @classmethod
    def resource_info(cls) -> ResourceInfo:
        """The kind this class is bound to; TypeError when it is not bound."""
        if cls.__resource__ is None:
            raise TypeError(f"{cls.__name__} is not bound to a kind (set __resource__)")
        return cls.__resource__

    @property
    def gvk(self) -> GroupVersionKind:
        """The kind named by this object's own apiVersion and kind fields."""
        return GroupVersionKind.from_api_version(self.api_version, self.kind)
