"""CRD generation from pydantic models: type mappings, constraints, CRD layout, YAML, and
structural validity checked by the local API server's schema compiler."""

import enum
import json
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
import yaml
from pydantic import Field, StringConstraints

from framework.conditions import Condition
from framework.crdgen import (
    GENERATED_BY_ANNOTATION,
    CrdGenError,
    IntOrString,
    PreserveUnknownFields,
    PrinterColumn,
    RawExtension,
    ScaleSubresource,
    crd_declaration,
    crd_to_yaml,
    custom_resource,
    generate_crd,
    generate_crds,
    model_schema,
    pluralize,
    write_crds,
)
from framework.envtest.apiserver.crds import validate_crd
from framework.envtest.apiserver.schema import CompiledSchema
from framework.models import KubeModel, KubeObject

GROUP = "test.kubeloop.dev"


def prop(model: type[KubeModel], name: str) -> Any:
    return model_schema(model)["properties"][name]


# --- models shared by several tests -------------------------------------------------------


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Limits(KubeModel):
    """Resource limits of a widget."""

    max_cpu: int = Field(default=1, ge=1)


class Provider(KubeModel):
    """What the provider reported."""

    ready: bool = False


class WidgetSpec(KubeModel):
    """Desired state of a Widget."""

    replicas: int = Field(default=1, ge=0, le=10, description="How many widgets to run.")
    mode: Literal["fast", "slow"] = "fast"
    color: Color = Color.RED
    port: IntOrString = 8080
    image: str = Field(min_length=1, pattern=r"^[a-z]+$")
    limits: Limits = Field(default_factory=Limits)
    args: list[str] = Field(default_factory=list, max_length=4)
    env: dict[str, str] = Field(default_factory=dict)
    parameters: dict[str, Any] = Field(default_factory=dict)
    template: RawExtension | None = None


class WidgetStatus(KubeModel):
    """Observed state of a Widget."""

    observed_generation: int | None = None
    phase: str | None = None
    phase_transition_time: datetime | None = None
    conditions: list[Condition] = Field(default_factory=list)
    at_provider: Annotated[Provider, PreserveUnknownFields] | None = None


@custom_resource(
    group=GROUP,
    version="v1",
    short_names=("wd", "wdg"),
    categories=("kubeloop", "all"),
    printer_columns=(
        PrinterColumn("Phase", "string", ".status.phase"),
        PrinterColumn("Replicas", "integer", ".spec.replicas", priority=1, description="Wanted"),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
    labels={"app.kubernetes.io/part-of": "kubeloop"},
)
class Widget(KubeObject):
    """A Widget is a test kind."""

    spec: WidgetSpec
    status: WidgetStatus = Field(default_factory=WidgetStatus)


@custom_resource(
    group=GROUP,
    version="v1beta1",
    kind="Widget",
    storage=False,
    short_names=("wd", "wdg"),
    categories=("kubeloop", "all"),
    labels={"app.kubernetes.io/part-of": "kubeloop"},
    deprecated=True,
    deprecation_warning="use v1",
)
class WidgetV1beta1(KubeObject):
    """A Widget, older version."""

    spec: dict[str, Any] = Field(default_factory=dict)
    status: dict[str, Any] = Field(default_factory=dict)


@custom_resource(group=GROUP, version="v1", scope="Cluster", status_subresource=False)
class Gadget(KubeObject):
    spec: dict[str, Any] = Field(default_factory=dict)


def openapi(crd: dict[str, Any], index: int = 0) -> dict[str, Any]:
    schema: dict[str, Any] = crd["spec"]["versions"][index]["schema"]["openAPIV3Schema"]
    return schema


def widget_spec_schema() -> dict[str, Any]:
    spec: dict[str, Any] = openapi(generate_crd([Widget]))["properties"]["spec"]
    return spec


# --- type mappings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (str, {"type": "string"}),
        (int, {"type": "integer"}),
        (float, {"type": "number"}),
        (bool, {"type": "boolean"}),
        (bytes, {"type": "string"}),
        (datetime, {"type": "string", "format": "date-time"}),
        (date, {"type": "string", "format": "date"}),
        (Any, {"x-kubernetes-preserve-unknown-fields": True}),
        (dict[str, Any], {"type": "object", "x-kubernetes-preserve-unknown-fields": True}),
        (RawExtension, {"type": "object", "x-kubernetes-preserve-unknown-fields": True}),
        (dict[str, str], {"type": "object", "additionalProperties": {"type": "string"}}),
        (
            dict[str, list[int]],
            {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "integer"}},
            },
        ),
        (list[str], {"type": "array", "items": {"type": "string"}}),
        (tuple[int, ...], {"type": "array", "items": {"type": "integer"}}),
        (
            frozenset[str],
            {
                "type": "array",
                "items": {"type": "string"},
                "x-kubernetes-list-type": "set",
            },
        ),
        (Literal["a", "b"], {"type": "string", "enum": ["a", "b"]}),
        (Literal[1, 2], {"type": "integer", "enum": [1, 2]}),
        (Color, {"type": "string", "enum": ["red", "blue"]}),
        (Level, {"type": "integer", "enum": [1, 2]}),
        (
            IntOrString,
            {
                "anyOf": [{"type": "integer"}, {"type": "string"}],
                "x-kubernetes-int-or-string": True,
            },
        ),
        (str | None, {"type": "string"}),
        (
            IntOrString | None,
            {
                "anyOf": [{"type": "integer"}, {"type": "string"}],
                "x-kubernetes-int-or-string": True,
            },
        ),
    ],
)
def test_type_mapping(annotation: Any, expected: dict[str, Any]) -> None:
    class Holder(KubeModel):
        value: annotation

    assert prop(Holder, "value") == expected


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        (int | str, "union"),
        (int | str | None, "union"),
        (Literal["a", 1], "one scalar type"),
        (dict[int, str], "map keys must be str"),
        (tuple[int, str], "homogeneous"),
        (complex, "no CRD schema mapping"),
    ],
)
def test_unsupported_types_are_clear_errors(annotation: Any, message: str) -> None:
    class Holder(KubeModel):
        value: annotation

    with pytest.raises(CrdGenError, match=message) as caught:
        model_schema(Holder)
    assert "value" in str(caught.value)


def test_bytes_follow_the_models_serialization() -> None:
    class Holder(KubeModel):
        model_config = {"ser_json_bytes": "base64", "val_json_bytes": "base64"}

        data: bytes = b"hi"

    schema = prop(Holder, "data")
    assert schema == {"type": "string", "format": "byte", "default": "aGk="}
    assert schema["default"] == Holder().to_dict()["data"]
    CompiledSchema.compile(model_schema(Holder))


def test_nested_models_are_inlined_with_their_docstrings() -> None:
    spec = widget_spec_schema()
    assert spec["description"] == "Desired state of a Widget."
    assert spec["properties"]["limits"] == {
        "type": "object",
        "description": "Resource limits of a widget.",
        "properties": {"maxCpu": {"type": "integer", "minimum": 1, "default": 1}},
    }
    assert "$ref" not in json.dumps(generate_crd([Widget]))


def test_list_of_models_and_map_of_models() -> None:
    class Holder(KubeModel):
        many: list[Limits]
        named: dict[str, Limits]

    limits = model_schema(Limits)
    assert prop(Holder, "many") == {"type": "array", "items": limits}
    assert prop(Holder, "named") == {"type": "object", "additionalProperties": limits}


def test_recursive_models_are_rejected() -> None:
    class Node(KubeModel):
        children: list["Node"] = Field(default_factory=list)

    Node.model_rebuild()
    with pytest.raises(CrdGenError, match="recursive model Node -> Node"):
        model_schema(Node)


def test_mutually_recursive_models_are_rejected() -> None:
    class Outer(KubeModel):
        inner: "Inner | None" = None

    class Inner(KubeModel):
        outer: Outer | None = None

    Outer.model_rebuild(_types_namespace={"Inner": Inner})
    with pytest.raises(CrdGenError, match="Outer -> Inner -> Outer"):
        model_schema(Outer)


def test_the_same_model_twice_is_not_recursion() -> None:
    class Pair(KubeModel):
        left: Limits
        right: Limits

    assert prop(Pair, "left") == prop(Pair, "right")


# --- names, required, defaults, descriptions ---------------------------------------------


def test_properties_use_camel_case_aliases() -> None:
    status = openapi(generate_crd([Widget]))["properties"]["status"]["properties"]
    assert {"observedGeneration", "phaseTransitionTime", "atProvider"} <= set(status)
    assert not any("_" in name for name in status)


def test_explicit_serialization_alias_wins() -> None:
    class Holder(KubeModel):
        value: int = Field(default=0, serialization_alias="VALUE")

    assert set(model_schema(Holder)["properties"]) == {"VALUE"}


def test_required_lists_only_fields_without_default_or_none() -> None:
    class Holder(KubeModel):
        b_needed: int
        a_needed: str
        defaulted: int = 3
        factory: list[int] = Field(default_factory=list)
        optional: int | None
        optional_defaulted: int | None = None

    assert model_schema(Holder)["required"] == ["aNeeded", "bNeeded"]


def test_no_required_key_when_nothing_is_required() -> None:
    assert "required" not in model_schema(Limits)


def test_defaults_are_emitted_in_wire_form_and_none_omitted() -> None:
    spec = widget_spec_schema()["properties"]
    assert spec["replicas"]["default"] == 1
    assert spec["mode"]["default"] == "fast"
    assert spec["color"]["default"] == "red"
    assert spec["port"]["default"] == 8080
    assert "default" not in spec["template"]
    assert "default" not in spec["args"], "a default_factory runs client-side only"

    class Holder(KubeModel):
        limits: Limits = Limits(max_cpu=4)

    assert prop(Holder, "limits")["default"] == {"maxCpu": 4}


def test_field_description_overrides_type_docstring() -> None:
    class Holder(KubeModel):
        plain: Limits
        described: Limits = Field(description="Per-holder limits.")

    assert prop(Holder, "plain")["description"] == "Resource limits of a widget."
    assert prop(Holder, "described")["description"] == "Per-holder limits."


def test_attribute_docstrings_describe_fields() -> None:
    class Holder(KubeModel):
        model_config = {"use_attribute_docstrings": True}

        size: int = 0
        """How big it is."""

    assert prop(Holder, "size")["description"] == "How big it is."


def test_docstrings_are_not_inherited() -> None:
    class Child(Limits):
        pass

    assert "description" not in model_schema(Child)


def test_multiline_docstrings_are_dedented() -> None:
    class Holder(KubeModel):
        """First line.

        Second paragraph,
            indented.
        """

    assert model_schema(Holder)["description"] == "First line.\n\nSecond paragraph,\n    indented."


# --- constraints --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (Annotated[int, Field(ge=1, le=5)], {"type": "integer", "minimum": 1, "maximum": 5}),
        (
            Annotated[float, Field(gt=0, lt=1)],
            {
                "type": "number",
                "minimum": 0,
                "exclusiveMinimum": True,
                "maximum": 1,
                "exclusiveMaximum": True,
            },
        ),
        (Annotated[int, Field(multiple_of=5)], {"type": "integer", "multipleOf": 5}),
        (
            Annotated[str, Field(min_length=2, max_length=8, pattern="^x")],
            {
                "type": "string",
                "minLength": 2,
                "maxLength": 8,
                "pattern": "^x",
            },
        ),
        (
            Annotated[str, StringConstraints(max_length=3, pattern="^y")],
            {
                "type": "string",
                "maxLength": 3,
                "pattern": "^y",
            },
        ),
        (
            Annotated[list[int], Field(min_length=1, max_length=3)],
            {
                "type": "array",
                "items": {"type": "integer"},
                "minItems": 1,
                "maxItems": 3,
            },
        ),
        (
            Annotated[dict[str, str], Field(max_length=2)],
            {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "maxProperties": 2,
            },
        ),
        (
            list[Annotated[int, Field(ge=0)]],
            {
                "type": "array",
                "items": {"type": "integer", "minimum": 0},
            },
        ),
        (Annotated[int | None, Field(ge=3)], {"type": "integer", "minimum": 3}),
    ],
)
def test_constraints(annotation: Any, expected: dict[str, Any]) -> None:
    class Holder(KubeModel):
        value: annotation

    assert prop(Holder, "value") == expected


@pytest.mark.parametrize(
    "annotation",
    [
        Annotated[str, Field(ge=1)],
        Annotated[bool, Field(max_length=2)],
        Annotated[Any, Field(pattern="x")],
    ],
)
def test_constraint_on_the_wrong_type_is_an_error(annotation: Any) -> None:
    class Holder(KubeModel):
        value: annotation

    with pytest.raises(CrdGenError, match="value"):
        model_schema(Holder)


def test_unknown_annotated_metadata_is_ignored() -> None:
    class Holder(KubeModel):
        value: Annotated[int, "a note for humans"]

    assert prop(Holder, "value") == {"type": "integer"}


def test_json_schema_extra_is_merged_on_fields_and_models() -> None:
    class Holder(KubeModel):
        model_config = {"json_schema_extra": {"x-kubernetes-validations": [{"rule": "true"}]}}

        conditions: list[Condition] = Field(
            default_factory=list,
            json_schema_extra={
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
            },
        )

    schema = model_schema(Holder)
    assert schema["x-kubernetes-validations"] == [{"rule": "true"}]
    assert schema["properties"]["conditions"]["x-kubernetes-list-type"] == "map"
    assert schema["properties"]["conditions"]["x-kubernetes-list-map-keys"] == ["type"]


def test_callable_json_schema_extra_is_an_error() -> None:
    class Holder(KubeModel):
        value: int = Field(default=0, json_schema_extra=lambda schema: None)

    with pytest.raises(CrdGenError, match="json_schema_extra"):
        model_schema(Holder)


def test_preserve_unknown_fields_marker_keeps_declared_properties() -> None:
    at_provider = openapi(generate_crd([Widget]))["properties"]["status"]["properties"][
        "atProvider"
    ]
    assert at_provider["x-kubernetes-preserve-unknown-fields"] is True
    assert at_provider["properties"] == {"ready": {"type": "boolean", "default": False}}


def test_condition_schema() -> None:
    schema = model_schema(Condition)
    assert schema["required"] == ["reason", "status", "type"]
    props = schema["properties"]
    assert props["status"] == {"type": "string", "enum": ["True", "False", "Unknown"]}
    assert props["lastTransitionTime"] == {"type": "string", "format": "date-time"}
    assert props["observedGeneration"] == {"type": "integer", "minimum": 0}


# --- declaration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "plural"),
    [
        ("Widget", "widgets"),
        ("Policy", "policies"),
        ("Gateway", "gateways"),
        ("Ingress", "ingresses"),
        ("Box", "boxes"),
        ("Batch", "batches"),
        ("Mesh", "meshes"),
    ],
)
def test_pluralize(kind: str, plural: str) -> None:
    assert pluralize(kind) == plural


def test_decorator_binds_resource_info() -> None:
    info = Widget.resource_info()
    assert (info.group, info.version, info.kind) == (GROUP, "v1", "Widget")
    assert (info.plural, info.singular, info.list_kind) == ("widgets", "widget", "WidgetList")
    assert info.namespaced
    assert info.subresources == frozenset({"status"})
    assert info.short_names == ("wd", "wdg")
    assert info.categories == ("kubeloop", "all")
    assert Widget(spec=WidgetSpec(image="x")).api_version == f"{GROUP}/v1"
    assert crd_declaration(Widget).resource is info


def test_decorator_overrides_and_cluster_scope() -> None:
    @custom_resource(
        group=GROUP,
        version="v2",
        kind="Thing",
        plural="thingies",
        singular="thingy",
        scope="Cluster",
        scale=ScaleSubresource(label_selector_path=".status.selector"),
    )
    class WhateverName(KubeObject):
        spec: dict[str, Any] = Field(default_factory=dict)
        status: dict[str, Any] = Field(default_factory=dict)

    info = WhateverName.resource_info()
    assert (info.kind, info.plural, info.singular) == ("Thing", "thingies", "thingy")
    assert not info.namespaced
    assert info.subresources == frozenset({"status", "scale"})
    crd = generate_crd([WhateverName])
    assert crd["metadata"]["name"] == f"thingies.{GROUP}"
    assert crd["spec"]["scope"] == "Cluster"
    assert crd["spec"]["versions"][0]["subresources"] == {
        "status": {},
        "scale": {
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.selector",
        },
    }


def test_status_subresource_requires_a_status_field() -> None:
    with pytest.raises(CrdGenError, match="status field"):

        @custom_resource(group=GROUP, version="v1")
        class NoStatus(KubeObject):
            spec: dict[str, Any] = Field(default_factory=dict)


def test_group_must_be_a_domain() -> None:
    with pytest.raises(ValueError, match="at least one dot"):
        custom_resource(group="local", version="v1")


def test_undeclared_model_is_rejected() -> None:
    class Plain(KubeObject):
        pass

    with pytest.raises(TypeError, match="@custom_resource"):
        generate_crd([Plain])


def test_declaration_is_not_inherited() -> None:
    class Sub(Widget):
        pass

    with pytest.raises(TypeError, match="not declared"):
        crd_declaration(Sub)


@pytest.mark.parametrize(
    "kwargs",
    [{"type": "int"}, {"json_path": "status.phase"}, {"priority": -1}],
)
def test_printer_column_validation(kwargs: dict[str, Any]) -> None:
    args: dict[str, Any] = {"name": "X", "type": "string", "json_path": ".a", **kwargs}
    with pytest.raises(ValueError, match="printer column"):
        PrinterColumn(**args)


# --- CRD layout ---------------------------------------------------------------------------


def test_crd_layout() -> None:
    crd = generate_crd([Widget])
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["kind"] == "CustomResourceDefinition"
    assert crd["metadata"] == {
        "name": f"widgets.{GROUP}",
        "annotations": {GENERATED_BY_ANNOTATION: "crdgen"},
        "labels": {"app.kubernetes.io/part-of": "kubeloop"},
    }
    assert crd["spec"]["group"] == GROUP
    assert crd["spec"]["scope"] == "Namespaced"
    assert crd["spec"]["names"] == {
        "kind": "Widget",
        "listKind": "WidgetList",
        "plural": "widgets",
        "singular": "widget",
        "shortNames": ["wd", "wdg"],
        "categories": ["kubeloop", "all"],
    }
    (version,) = crd["spec"]["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1", True, True)
    assert version["subresources"] == {"status": {}}
    assert version["additionalPrinterColumns"] == [
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {
            "name": "Replicas",
            "type": "integer",
            "jsonPath": ".spec.replicas",
            "priority": 1,
            "description": "Wanted",
        },
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    assert "deprecated" not in version


def test_root_schema() -> None:
    root = openapi(generate_crd([Widget]))
    assert root["type"] == "object"
    assert root["description"] == "A Widget is a test kind."
    assert root["properties"]["metadata"] == {"type": "object"}
    assert root["properties"]["apiVersion"]["type"] == "string"
    assert root["properties"]["kind"]["type"] == "string"
    assert set(root["properties"]) == {"apiVersion", "kind", "metadata", "spec", "status"}
    assert root["required"] == ["spec"]


def test_cluster_scoped_kind_without_status() -> None:
    crd = generate_crd([Gadget])
    assert crd["spec"]["scope"] == "Cluster"
    assert "subresources" not in crd["spec"]["versions"][0]
    assert "labels" not in crd["metadata"]
    assert "shortNames" not in crd["spec"]["names"]
    assert "additionalPrinterColumns" not in crd["spec"]["versions"][0]


def test_multiple_versions_with_one_storage_version() -> None:
    crd = generate_crd([Widget, WidgetV1beta1])
    versions = crd["spec"]["versions"]
    assert [v["name"] for v in versions] == ["v1", "v1beta1"]
    assert [v["storage"] for v in versions] == [True, False]
    assert versions[1]["deprecated"] is True
    assert versions[1]["deprecationWarning"] == "use v1"
    assert generate_crd([WidgetV1beta1, Widget]) == crd


def test_storage_version_must_be_unique() -> None:
    @custom_resource(
        group=GROUP,
        version="v2",
        kind="Widget",
        short_names=("wd", "wdg"),
        categories=("kubeloop", "all"),
        labels={"app.kubernetes.io/part-of": "kubeloop"},
    )
    class WidgetV2(KubeObject):
        status: dict[str, Any] = Field(default_factory=dict)

    with pytest.raises(CrdGenError, match=r"exactly one storage version.*\['v1', 'v2'\]"):
        generate_crd([Widget, WidgetV2])
    with pytest.raises(CrdGenError, match=r"exactly one storage version.*none"):
        generate_crd([WidgetV1beta1])


def test_versions_must_agree_on_crd_wide_settings() -> None:
    @custom_resource(group=GROUP, version="v2", kind="Widget", storage=False)
    class WidgetV2(KubeObject):
        status: dict[str, Any] = Field(default_factory=dict)

    with pytest.raises(
        CrdGenError, match="WidgetV2: short_names, categories, labels must match the other versions"
    ):
        generate_crd([Widget, WidgetV2])


def test_repeated_version_is_an_error() -> None:
    with pytest.raises(CrdGenError, match="repeated version"):
        generate_crd([Widget, Widget])


def test_no_models_is_an_error() -> None:
    with pytest.raises(CrdGenError):
        generate_crd([])


def test_generate_crds_groups_by_kind_and_sorts_by_name() -> None:
    crds = generate_crds([Widget, Gadget, WidgetV1beta1])
    assert [crd["metadata"]["name"] for crd in crds] == [f"gadgets.{GROUP}", f"widgets.{GROUP}"]
    assert len(crds[1]["spec"]["versions"]) == 2


def test_generate_crds_rejects_two_kinds_with_one_plural() -> None:
    @custom_resource(group=GROUP, version="v1", kind="Widgetish", plural="widgets")
    class Clash(KubeObject):
        status: dict[str, Any] = Field(default_factory=dict)

    with pytest.raises(CrdGenError, match="same CRD"):
        generate_crds([Widget, Clash])


# --- YAML ---------------------------------------------------------------------------------


def test_yaml_round_trips_with_sorted_keys() -> None:
    crd = generate_crd([Widget, WidgetV1beta1])
    text = crd_to_yaml(crd)
    assert text.startswith("---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDef")
    assert yaml.safe_load(text) == crd
    top = [line.split(":")[0] for line in text.splitlines()[1:] if line[:1].isalpha()]
    assert top == sorted(top) == ["apiVersion", "kind", "metadata", "spec"]
    assert "&" not in text, "no YAML anchors or aliases"


def test_yaml_is_independent_of_dict_insertion_order() -> None:
    crd = generate_crd([Widget])
    shuffled = json.loads(json.dumps(crd), object_pairs_hook=lambda pairs: dict(pairs[::-1]))
    assert crd_to_yaml(shuffled) == crd_to_yaml(crd)


def test_yaml_writes_multiline_descriptions_as_literal_blocks() -> None:
    text = crd_to_yaml(generate_crd([Widget]))
    assert "description: |-\n" in text
    assert "\\n" not in text


def test_write_crds(tmp_path: Path) -> None:
    paths = write_crds([Widget, Gadget, WidgetV1beta1], tmp_path / "crd")
    assert [path.name for path in paths] == [f"{GROUP}_gadgets.yaml", f"{GROUP}_widgets.yaml"]
    assert yaml.safe_load(paths[1].read_text()) == generate_crd([Widget, WidgetV1beta1])


# --- structural validity, through the local API server's schema compiler -----------------

SAMPLE: dict[str, Any] = {
    "apiVersion": f"{GROUP}/v1",
    "kind": "Widget",
    "metadata": {"name": "w", "namespace": "default", "labels": {"a": "b"}},
    "spec": {
        "replicas": 3,
        "mode": "slow",
        "color": "blue",
        "port": "http",
        "image": "nginx",
        "limits": {"maxCpu": 2},
        "args": ["--x"],
        "env": {"A": "1"},
        "parameters": {"deep": {"list": [1, {"x": None}]}},
        "template": {"kind": "Pod", "spec": {"containers": [{"name": "c"}]}},
    },
    "status": {
        "observedGeneration": 1,
        "phase": "Running",
        "phaseTransitionTime": "2026-01-01T00:00:00Z",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Ok",
                "message": "",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
                "observedGeneration": 1,
            },
        ],
        "atProvider": {"ready": True, "arn": "aws:x", "nested": {"k": [1, 2]}},
    },
}


@pytest.mark.parametrize("models", [[Widget, WidgetV1beta1], [Gadget]])
def test_generated_crds_are_accepted_by_the_api_server(models: list[type[KubeObject]]) -> None:
    crd = generate_crd(models)
    assert validate_crd(crd) == []
    for version in crd["spec"]["versions"]:
        CompiledSchema.compile(version["schema"]["openAPIV3Schema"])


def test_condition_and_every_type_mapping_compile() -> None:
    class Everything(KubeModel):
        a: str
        b: int = 1
        c: float = 0.5
        d: bool = True
        e: bytes = b"x"
        f: datetime | None = None
        g: date | None = None
        h: Any = None
        i: frozenset[str] = frozenset()
        j: Level = Level.LOW
        k: IntOrString = "25%"
        conditions: list[Condition] = Field(default_factory=list)

    CompiledSchema.compile(model_schema(Everything))


def test_sample_object_is_admitted_unpruned() -> None:
    compiled = CompiledSchema.compile(openapi(generate_crd([Widget])))
    admission = compiled.admit(SAMPLE)
    assert admission.causes == []
    assert admission.unknown_fields == []
    assert admission.obj == SAMPLE


def test_undeclared_fields_are_pruned_and_defaults_applied() -> None:
    compiled = CompiledSchema.compile(openapi(generate_crd([Widget])))
    admission = compiled.admit(
        {
            "apiVersion": f"{GROUP}/v1",
            "kind": "Widget",
            "metadata": {"name": "w"},
            "spec": {"image": "nginx", "bogus": 1},
        }
    )
    assert admission.causes == []
    assert admission.unknown_fields == ["spec.bogus"]
    spec = admission.obj["spec"]
    assert (spec["replicas"], spec["mode"], spec["color"], spec["port"]) == (1, "fast", "red", 8080)


def test_declared_constraints_are_enforced_by_the_server() -> None:
    compiled = CompiledSchema.compile(openapi(generate_crd([Widget])))
    bad = {**SAMPLE, "spec": {**SAMPLE["spec"], "replicas": 11, "mode": "x", "image": "UP"}}
    fields = sorted(cause.field for cause in compiled.admit(bad).causes)
    assert fields == ["spec.image", "spec.mode", "spec.replicas"]


def test_model_instance_wire_form_is_admitted_unchanged() -> None:
    widget = Widget.model_validate(SAMPLE)
    wire = widget.to_dict()
    admission = CompiledSchema.compile(openapi(generate_crd([Widget]))).admit(wire)
    assert admission.unknown_fields == []
    assert admission.causes == []
