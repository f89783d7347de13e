"""CustomResourceDefinitions (apiextensions.k8s.io/v1) generated from pydantic models.

A kind is declared on its model class with `@custom_resource(...)`, never in YAML by hand: the
decorator binds the class to its `ResourceInfo` (so the client accepts it) and records the CRD
settings in `__crd__`. `generate_crd` turns one or more versions of a kind into one CRD, as
controller-gen does from Go types:

- each field becomes a property named by its serialization alias (camelCase on KubeModel);
  a field is required unless it has a default or is `X | None`; a default other than None is
  emitted as the schema default; descriptions come from `Field(description=...)` (or an
  attribute docstring under `use_attribute_docstrings`), else from the field type's docstring
  (a model's docstring describes its object);
- str/int/float/bool -> string/integer/number/boolean; datetime/date -> string (date-time/
  date); bytes -> string, with format byte when the model's `ser_json_bytes` is base64;
  Literal and Enum -> enum over one base type; list/tuple[X, ...] -> array, set/frozenset ->
  array with `x-kubernetes-list-type: set`; `dict[str, X]` -> object with
  additionalProperties; nested models are inlined (structural schemas allow no $ref);
- `dict[str, Any]`, `Any`, `RawExtension` and anything annotated with `PreserveUnknownFields`
  keep unknown content (`x-kubernetes-preserve-unknown-fields: true`), so the API server never
  prunes provider data; `IntOrString` -> `x-kubernetes-int-or-string: true`;
- constraints: ge/gt/le/lt -> minimum/maximum (+exclusive), multiple_of, min/max_length ->
  minLength/maxLength, minItems/maxItems or minProperties/maxProperties by type, pattern;
- a dict `json_schema_extra` on a field or a model config is merged into its schema (the
  escape hatch for CEL rules, list types and other markers).

Other unions, recursive models, non-str map keys and unknown types raise `CrdGenError` naming
the field. `crd_to_yaml` renders a CRD with sorted keys (controller-gen's order) and literal
blocks for multi-line text; `write_crds` writes one `<group>_<plural>.yaml` per CRD.
"""

from __future__ import annotations

import enum
import inspect
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, TypeAlias, TypeVar, Union, get_args, get_origin

import annotated_types
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined, to_jsonable_python

from framework.models import KubeObject
from framework.resources import GroupVersionKind, ResourceInfo

__all__ = [
    "GENERATED_BY_ANNOTATION",
    "CrdGenError",
    "CustomResource",
    "IntOrString",
    "PreserveUnknownFields",
    "PrinterColumn",
    "RawExtension",
    "ScaleSubresource",
    "crd_declaration",
    "crd_to_yaml",
    "custom_resource",
    "generate_crd",
    "generate_crds",
    "model_schema",
    "pluralize",
    "write_crds",
]

GENERATED_BY_ANNOTATION = "kubeloop.dev/generated-by"
PRINTER_COLUMN_TYPES = frozenset({"integer", "number", "string", "boolean", "date"})

_API_VERSION_DOC = (
    "APIVersion defines the versioned schema of this representation of an object.\n"
    "Servers should convert recognized schemas to the latest internal value, and\n"
    "may reject unrecognized values.\n"
    "More info: https://git.k8s.io/community/contributors/devel/sig-architecture/"
    "api-conventions.md#resources"
)
_KIND_DOC = (
    "Kind is a string value representing the REST resource this object represents.\n"
    "Servers may infer this from the endpoint the client submits requests to.\n"
    "Cannot be updated.\n"
    "In CamelCase.\n"
    "More info: https://git.k8s.io/community/contributors/devel/sig-architecture/"
    "api-conventions.md#types-kinds"
)
_ROOT_FIELDS = ("apiVersion", "kind", "metadata")


class CrdGenError(TypeError):
    """A model cannot be expressed as a structural schema, or CRD declarations disagree."""


class _Marker:
    """An `Annotated` marker that only the generator reads (pydantic ignores it)."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


PreserveUnknownFields = _Marker("PreserveUnknownFields")
"""`Annotated[T, PreserveUnknownFields]`: keep fields the schema of T does not declare."""

_INT_OR_STRING = _Marker("IntOrString")

IntOrString: TypeAlias = Annotated[int | str, _INT_OR_STRING]
"""intstr.IntOrString: an integer or a string (`8080` or `"http"`, `1` or `"25%"`)."""

RawExtension: TypeAlias = Annotated[dict[str, Any], PreserveUnknownFields]
"""runtime.RawExtension: an arbitrary JSON object stored verbatim."""


@dataclass(frozen=True, slots=True)
class PrinterColumn:
    """One additionalPrinterColumn: `type` is integer, number, string, boolean or date;
    `json_path` is a simple JSONPath into the object (`.status.phase`); priority 0 columns
    show in the default view, higher ones only with `-o wide`."""

    name: str
    type: str
    json_path: str
    priority: int = 0
    description: str = ""
    format: str = ""

    def __post_init__(self) -> None:
        if self.type not in PRINTER_COLUMN_TYPES:
            raise ValueError(
                f"printer column {self.name!r}: type {self.type!r} is not one of "
                f"{sorted(PRINTER_COLUMN_TYPES)}"
            )
        if not self.json_path.startswith("."):
            raise ValueError(f"printer column {self.name!r}: json_path must start with '.'")
        if self.priority < 0:
            raise ValueError(f"printer column {self.name!r}: priority must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.priority:
            out["priority"] = self.priority
        if self.description:
            out["description"] = self.description
        if self.format:
            out["format"] = self.format
        return out


@dataclass(frozen=True, slots=True)
class ScaleSubresource:
    """The scale subresource: JSON paths of the desired and observed replica counts, and
    optionally of the serialized label selector (for the HorizontalPodAutoscaler)."""

    spec_replicas_path: str = ".spec.replicas"
    status_replicas_path: str = ".status.replicas"
    label_selector_path: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = {
            "specReplicasPath": self.spec_replicas_path,
            "statusReplicasPath": self.status_replicas_path,
        }
        if self.label_selector_path:
            out["labelSelectorPath"] = self.label_selector_path
        return out


@dataclass(frozen=True, slots=True)
class CustomResource:
    """What `@custom_resource` records on a model class beyond its `ResourceInfo`.

    CRD-wide settings (`resource` names and scope, `labels`) must agree between the versions
    of one kind; `served`, `storage`, `deprecated`, the subresources and the printer columns
    belong to this version.
    """

    resource: ResourceInfo
    printer_columns: tuple[PrinterColumn, ...] = ()
    status_subresource: bool = True
    scale: ScaleSubresource | None = None
    served: bool = True
    storage: bool = True
    deprecated: bool = False
    deprecation_warning: str = ""
    labels: tuple[tuple[str, str], ...] = ()


_K = TypeVar("_K", bound=KubeObject)


def pluralize(kind: str) -> str:
    """The lowercase plural of a kind, by the usual English rules (Policy -> policies)."""
    word = kind.lower()
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def custom_resource(
    *,
    group: str,
    version: str,
    kind: str | None = None,
    plural: str | None = None,
    singular: str | None = None,
    scope: Literal["Namespaced", "Cluster"] = "Namespaced",
    short_names: Sequence[str] = (),
    categories: Sequence[str] = (),
    printer_columns: Sequence[PrinterColumn] = (),
    status_subresource: bool = True,
    scale: ScaleSubresource | None = None,
    served: bool = True,
    storage: bool = True,
    deprecated: bool = False,
    deprecation_warning: str = "",
    labels: Mapping[str, str] | None = None,
) -> Callable[[type[_K]], type[_K]]:
    """Class decorator declaring a KubeObject subclass as one version of a custom resource.

    Sets `__resource__` (kind defaults to the class name, plural to `pluralize(kind)`,
    singular to the lowercase kind) and `__crd__` (a `CustomResource`). A status subresource
    requires a `status` field.
    """
    if scope not in ("Namespaced", "Cluster"):
        raise ValueError(f"scope must be Namespaced or Cluster, not {scope!r}")
    if "." not in group:
        raise ValueError(f"group {group!r} must be a domain with at least one dot")

    def bind(cls: type[_K]) -> type[_K]:
        name = kind or cls.__name__
        wire_names = {_wire_name(key, info) for key, info in cls.model_fields.items()}
        if status_subresource and "status" not in wire_names:
            raise CrdGenError(f"{cls.__name__}: a status subresource needs a status field")
        subresources = {"status"} if status_subresource else set()
        if scale is not None:
            subresources.add("scale")
        resource = ResourceInfo(
            gvk=GroupVersionKind(group, version, name),
            plural=plural or pluralize(name),
            singular=singular or name.lower(),
            namespaced=scope == "Namespaced",
            subresources=frozenset(subresources),
            short_names=tuple(short_names),
            categories=tuple(categories),
        )
        cls.__resource__ = resource
        cls.__crd__ = CustomResource(  # type: ignore[attr-defined]
            resource=resource,
            printer_columns=tuple(printer_columns),
            status_subresource=status_subresource,
            scale=scale,
            served=served,
            storage=storage,
            deprecated=deprecated,
            deprecation_warning=deprecation_warning,
            labels=tuple(sorted((labels or {}).items())),
        )
        return cls

    return bind


def crd_declaration(model: type[KubeObject]) -> CustomResource:
    """The `CustomResource` declared on `model` itself (not inherited); TypeError if none."""
    declared = model.__dict__.get("__crd__")
    if not isinstance(declared, CustomResource):
        raise TypeError(f"{model.__name__} is not declared with @custom_resource")
    return declared


# --- schemas ------------------------------------------------------------------------------


def _wire_name(name: str, info: FieldInfo) -> str:
    return info.serialization_alias or info.alias or name


def _doc(obj: object) -> str:
    text = obj.__dict__.get("__doc__") if isinstance(obj, type) else None
    return inspect.cleandoc(text) if isinstance(text, str) else ""


def _flatten(metadata: Iterable[Any]) -> list[Any]:
    """Constraint objects, with FieldInfo and grouped metadata (StringConstraints) expanded."""
    out: list[Any] = []
    for item in metadata:
        if isinstance(item, FieldInfo):
            out += _flatten(item.metadata)
        elif isinstance(item, annotated_types.GroupedMetadata):
            out += _flatten(item)
        else:
            out.append(item)
    return out


_NUMBER_BOUNDS: dict[type, tuple[str, str, bool]] = {
    annotated_types.Ge: ("ge", "minimum", False),
    annotated_types.Gt: ("gt", "minimum", True),
    annotated_types.Le: ("le", "maximum", False),
    annotated_types.Lt: ("lt", "maximum", True),
}
_LENGTH_KEYS = {
    "string": ("minLength", "maxLength"),
    "array": ("minItems", "maxItems"),
    "object": ("minProperties", "maxProperties"),
}


def _schema_type(schema: dict[str, Any]) -> str:
    if schema.get("x-kubernetes-int-or-string"):
        return "int-or-string"
    return str(schema.get("type", "any"))


def _constrain(schema: dict[str, Any], constraint: Any, where: str) -> None:
    kind = _schema_type(schema)
    bound = _NUMBER_BOUNDS.get(type(constraint))
    if bound is not None or isinstance(constraint, annotated_types.MultipleOf):
        if kind not in ("integer", "number"):
            raise CrdGenError(f"{where}: numeric constraint {constraint!r} on a {kind}")
        if bound is None:
            schema["multipleOf"] = constraint.multiple_of
            return
        attribute, key, exclusive = bound
        schema[key] = getattr(constraint, attribute)
        if exclusive:
            schema["exclusive" + key.capitalize()] = True
        return
    if isinstance(constraint, annotated_types.MinLen | annotated_types.MaxLen):
        keys = _LENGTH_KEYS.get(kind)
        if keys is None:
            raise CrdGenError(f"{where}: length constraint {constraint!r} on a {kind}")
        if isinstance(constraint, annotated_types.MinLen):
            schema[keys[0]] = constraint.min_length
        else:
            schema[keys[1]] = constraint.max_length
        return
    pattern = getattr(constraint, "pattern", None)
    if pattern is not None:
        if kind != "string":
            raise CrdGenError(f"{where}: pattern on a {kind}")
        schema["pattern"] = pattern if isinstance(pattern, str) else pattern.pattern


def _extra(schema: dict[str, Any], extra: Any, where: str) -> None:
    if extra is None:
        return
    if not isinstance(extra, dict):
        raise CrdGenError(f"{where}: json_schema_extra must be a dict to appear in a CRD")
    schema.update(extra)


def _enum_schema(values: Sequence[Any], where: str) -> dict[str, Any]:
    kinds = {type(value) for value in values}
    base = _SCALARS.get(kinds.pop()) if len(kinds) == 1 else None
    if base is None:
        raise CrdGenError(f"{where}: enum values {list(values)!r} must share one scalar type")
    return {**base, "enum": list(values)}


_SCALARS: dict[type, dict[str, str]] = {
    bool: {"type": "boolean"},
    int: {"type": "integer"},
    float: {"type": "number"},
    str: {"type": "string"},
    datetime: {"type": "string", "format": "date-time"},
    date: {"type": "string", "format": "date"},
}
_ARRAYS = (list, tuple, Sequence, set, frozenset)
_NONE = type(None)


def _is_optional(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType) and _NONE in get_args(annotation)


class _SchemaBuilder:
    """One walk over a model tree; `stack` holds the models being expanded (recursion check)."""

    def __init__(self) -> None:
        self.stack: list[type[BaseModel]] = []

    def type_schema(self, annotation: Any, metadata: list[Any], where: str) -> dict[str, Any]:
        """The schema of `annotation` with the constraints in `metadata` applied."""
        while get_origin(annotation) is Annotated:
            annotation, *more = get_args(annotation)
            metadata = [*metadata, *more]
        constraints = _flatten(metadata)
        if _INT_OR_STRING in constraints:
            schema: dict[str, Any] = {
                "anyOf": [{"type": "integer"}, {"type": "string"}],
                "x-kubernetes-int-or-string": True,
            }
        else:
            schema = self._bare(annotation, where)
        if PreserveUnknownFields in constraints:
            schema["x-kubernetes-preserve-unknown-fields"] = True
        for constraint in constraints:
            _constrain(schema, constraint, where)
        return schema

    def _bare(self, annotation: Any, where: str) -> dict[str, Any]:
        origin = get_origin(annotation)
        args = get_args(annotation)
        if annotation is Any:
            return {"x-kubernetes-preserve-unknown-fields": True}
        if origin in (Union, types.UnionType):
            members = [arg for arg in args if arg is not _NONE]
            if len(members) != 1:
                raise CrdGenError(
                    f"{where}: union {annotation!r} is not allowed "
                    "(only `X | None` and IntOrString)"
                )
            return self.type_schema(members[0], [], where)
        if origin is Literal:
            return _enum_schema([arg for arg in args if arg is not None], where)
        if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            return _enum_schema([member.value for member in annotation], where)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return self.model(annotation, where)
        if annotation is bytes:
            base64 = self._bytes_mode() == "base64"
            return {"type": "string", "format": "byte"} if base64 else {"type": "string"}
        if annotation in _SCALARS:
            return dict(_SCALARS[annotation])
        if annotation is dict or origin in (dict, Mapping):
            return self._map(args, where)
        if annotation in _ARRAYS or origin in _ARRAYS:
            return self._array(annotation, origin, args, where)
        raise CrdGenError(f"{where}: type {annotation!r} has no CRD schema mapping")

    def _map(self, args: tuple[Any, ...], where: str) -> dict[str, Any]:
        key, value = args or (str, Any)
        if key is not str:
            raise CrdGenError(f"{where}: map keys must be str, not {key!r}")
        if value is Any:
            return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        return {"type": "object", "additionalProperties": self.type_schema(value, [], where)}

    def _array(
        self, annotation: Any, origin: Any, args: tuple[Any, ...], where: str
    ) -> dict[str, Any]:
        if (origin or annotation) is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            raise CrdGenError(f"{where}: only homogeneous tuple[X, ...] is allowed")
        item = args[0] if args else Any
        schema = {"type": "array", "items": self.type_schema(item, [], f"{where}[]")}
        if (origin or annotation) in (set, frozenset):
            schema["x-kubernetes-list-type"] = "set"
        return schema

    def model(self, model: type[BaseModel], where: str, skip: Iterable[str] = ()) -> dict[str, Any]:
        """An inlined object schema of `model`'s fields, leaving out the wire names in `skip`."""
        if model in self.stack:
            chain = " -> ".join(m.__name__ for m in [*self.stack, model])
            raise CrdGenError(f"{where}: recursive model {chain} cannot be inlined")
        if not model.__pydantic_complete__:
            raise CrdGenError(f"{where}: {model.__name__} is not fully defined (model_rebuild)")
        self.stack.append(model)
        try:
            properties: dict[str, Any] = {}
            required: list[str] = []
            for name, info in model.model_fields.items():
                wire = _wire_name(name, info)
                if info.exclude or wire in skip:
                    continue
                properties[wire] = self.field(info, f"{where}.{wire}" if where else wire)
                if info.is_required() and not _is_optional(info.annotation):
                    required.append(wire)
        finally:
            self.stack.pop()
        schema: dict[str, Any] = {"type": "object"}
        if description := _doc(model):
            schema["description"] = description
        if properties:
            schema["properties"] = properties
        if required:
            schema["required"] = sorted(required)
        _extra(schema, model.model_config.get("json_schema_extra"), where or model.__name__)
        return schema

    def _bytes_mode(self) -> Literal["utf8", "base64", "hex"]:
        """How the model being walked serializes bytes (pydantic's `ser_json_bytes`)."""
        return self.stack[-1].model_config.get("ser_json_bytes", "utf8") if self.stack else "utf8"

    def field(self, info: FieldInfo, where: str) -> dict[str, Any]:
        """The property schema of one field: its type, description, default and extras."""
        schema = self.type_schema(info.annotation, list(info.metadata), where)
        if info.description:
            schema["description"] = info.description
        if info.default is not PydanticUndefined and info.default is not None:
            schema["default"] = to_jsonable_python(
                info.default, by_alias=True, exclude_none=True, bytes_mode=self._bytes_mode()
            )
        _extra(schema, info.json_schema_extra, where)
        return schema


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The inlined structural object schema of any pydantic model (no root handling)."""
    return _SchemaBuilder().model(model, "")


def _root_schema(model: type[KubeObject]) -> dict[str, Any]:
    schema = _SchemaBuilder().model(model, "", skip=_ROOT_FIELDS)
    schema["properties"] = {
        "apiVersion": {"type": "string", "description": _API_VERSION_DOC},
        "kind": {"type": "string", "description": _KIND_DOC},
        "metadata": {"type": "object"},
        **schema.get("properties", {}),
    }
    return schema


# --- CRDs ---------------------------------------------------------------------------------


def _version(model: type[KubeObject], declared: CustomResource) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": declared.resource.version,
        "served": declared.served,
        "storage": declared.storage,
        "schema": {"openAPIV3Schema": _root_schema(model)},
    }
    subresources: dict[str, Any] = {}
    if declared.status_subresource:
        subresources["status"] = {}
    if declared.scale is not None:
        subresources["scale"] = declared.scale.to_dict()
    if subresources:
        out["subresources"] = subresources
    if declared.printer_columns:
        out["additionalPrinterColumns"] = [c.to_dict() for c in declared.printer_columns]
    if declared.deprecated:
        out["deprecated"] = True
        if declared.deprecation_warning:
            out["deprecationWarning"] = declared.deprecation_warning
    return out


def _crd_wide(declared: CustomResource) -> dict[str, Any]:
    info = declared.resource
    return {
        "group": info.group,
        "kind": info.kind,
        "plural": info.plural,
        "singular": info.singular,
        "scope": info.namespaced,
        "short_names": info.short_names,
        "categories": info.categories,
        "labels": declared.labels,
    }


def generate_crd(models: Sequence[type[KubeObject]]) -> dict[str, Any]:
    """One CRD from the versions of one kind (one model per version, exactly one storage).

    CrdGenError when the versions disagree on names, scope or labels, repeat a version name,
    or do not have exactly one storage version.
    """
    if not models:
        raise CrdGenError("generate_crd needs at least one model")
    declared = [crd_declaration(model) for model in models]
    first = declared[0]
    expected = _crd_wide(first)
    for model, other in zip(models, declared, strict=True):
        differ = [key for key, value in _crd_wide(other).items() if value != expected[key]]
        if differ:
            raise CrdGenError(
                f"{model.__name__}: {', '.join(differ)} must match the other versions "
                f"of {first.resource.group_resource}"
            )
    names = [d.resource.version for d in declared]
    if len(set(names)) != len(names):
        raise CrdGenError(f"{first.resource.group_resource}: repeated version in {names}")
    storage = [d.resource.version for d in declared if d.storage]
    if len(storage) != 1:
        raise CrdGenError(
            f"{first.resource.group_resource}: exactly one storage version is required, "
            f"found {storage or 'none'}"
        )
    info = first.resource
    metadata: dict[str, Any] = {
        "name": f"{info.plural}.{info.group}",
        "annotations": {GENERATED_BY_ANNOTATION: "crdgen"},
    }
    if first.labels:
        metadata["labels"] = dict(first.labels)
    crd_names: dict[str, Any] = {
        "kind": info.kind,
        "listKind": info.list_kind,
        "plural": info.plural,
        "singular": info.singular,
    }
    if info.short_names:
        crd_names["shortNames"] = list(info.short_names)
    if info.categories:
        crd_names["categories"] = list(info.categories)
    versions = sorted(
        (_version(model, d) for model, d in zip(models, declared, strict=True)),
        key=lambda version: str(version["name"]),
    )
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": metadata,
        "spec": {
            "group": info.group,
            "names": crd_names,
            "scope": "Namespaced" if info.namespaced else "Cluster",
            "versions": versions,
        },
    }


def generate_crds(models: Iterable[type[KubeObject]]) -> list[dict[str, Any]]:
    """One CRD per (group, kind) among `models`, ordered by CRD name."""
    by_kind: dict[tuple[str, str], list[type[KubeObject]]] = {}
    for model in models:
        info = crd_declaration(model).resource
        by_kind.setdefault((info.group, info.kind), []).append(model)
    crds = sorted((generate_crd(group) for group in by_kind.values()), key=_crd_name)
    names = [_crd_name(crd) for crd in crds]
    if len(set(names)) != len(names):
        raise CrdGenError(f"two kinds would define the same CRD among {names}")
    return crds


def _crd_name(crd: dict[str, Any]) -> str:
    return str(crd["metadata"]["name"])


class _CrdDumper(yaml.SafeDumper):
    """SafeDumper writing multi-line strings as literal blocks and never using aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_CrdDumper.add_representer(str, _represent_str)


def crd_to_yaml(crd: Mapping[str, Any]) -> str:
    """A YAML document (`---` first) with keys sorted, as controller-gen writes CRDs."""
    body = yaml.dump(
        dict(crd),
        Dumper=_CrdDumper,
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        width=1_000_000,
    )
    return "---\n" + body


def write_crds(models: Iterable[type[KubeObject]], directory: Path | str) -> list[Path]:
    """Write each CRD of `models` to `directory/<group>_<plural>.yaml`; return the paths."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for crd in generate_crds(models):
        spec = crd["spec"]
        path = target / f"{spec['group']}_{spec['names']['plural']}.yaml"
        path.write_text(crd_to_yaml(crd), encoding="utf-8")
        paths.append(path)
    return paths
