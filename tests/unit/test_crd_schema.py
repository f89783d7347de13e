"""Structural schemas: pruning, defaulting and validation as kube-apiserver does them."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from framework.envtest.apiserver.schema import Admission, CompiledSchema, FieldCause, SchemaError


def _spec_schema(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": properties, **extra}},
    }


def _admit(schema: dict[str, Any], spec: Any, **root: Any) -> Admission:
    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}}
    obj.update(spec=spec, **root)
    return CompiledSchema.compile(schema).admit(obj)


def _errors(admission: Admission) -> list[str]:
    return [str(cause) for cause in admission.causes]


# --- types ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "good", "bad", "bad_type"),
    [
        ("string", "x", 3, "integer"),
        ("integer", 3, "3", "string"),
        ("integer", 2.0, 1.5, "number"),
        ("number", 1.5, True, "boolean"),
        ("number", 7, [1], "array"),
        ("boolean", False, 0, "integer"),
        ("object", {}, "x", "string"),
        ("array", [], {"a": 1}, "object"),
    ],
)
def test_types_accept_their_values_and_reject_others(
    kind: str, good: Any, bad: Any, bad_type: str
) -> None:
    prop: dict[str, Any] = {"type": kind}
    if kind == "array":
        prop["items"] = {"type": "string"}
    schema = _spec_schema({"v": prop})
    assert _admit(schema, {"v": good}).causes == []
    assert _errors(_admit(schema, {"v": bad})) == [
        f'spec.v: Invalid value: "{bad_type}": spec.v in body must be of type {kind}: "{bad_type}"'
    ]
    assert _admit(schema, {"v": bad}).causes[0].reason == "FieldValueTypeInvalid"


def test_replicas_type_error_message_matches_kube_apiserver() -> None:
    admission = _admit(_spec_schema({"replicas": {"type": "integer"}}), {"replicas": "string"})
    assert admission.causes == [
        FieldCause(
            "FieldValueTypeInvalid",
            'Invalid value: "string": spec.replicas in body must be of type integer: "string"',
            "spec.replicas",
        )
    ]


# --- value validations ----------------------------------------------------------------------


def test_required_reports_each_missing_field_at_its_path() -> None:
    schema = _spec_schema({"a": {"type": "string"}, "b": {"type": "string"}}, required=["a", "b"])
    admission = _admit(schema, {"a": "x"})
    assert _errors(admission) == ["spec.b: Required value"]
    assert admission.causes[0].reason == "FieldValueRequired"


def test_required_at_the_root() -> None:
    schema = _spec_schema({})
    schema["required"] = ["spec"]
    admission = CompiledSchema.compile(schema).admit({"apiVersion": "a/v1", "kind": "K"})
    assert _errors(admission) == ["spec: Required value"]


def test_enum_lists_supported_values() -> None:
    schema = _spec_schema(
        {"mode": {"type": "string", "enum": ["a", "b"]}, "n": {"type": "integer", "enum": [1, 2]}}
    )
    assert _admit(schema, {"mode": "b", "n": 2}).causes == []
    admission = _admit(schema, {"mode": "x", "n": 3})
    assert _errors(admission) == [
        'spec.mode: Unsupported value: "x": supported values: "a", "b"',
        'spec.n: Unsupported value: 3: supported values: "1", "2"',
    ]
    assert {cause.reason for cause in admission.causes} == {"FieldValueNotSupported"}


def test_string_constraints() -> None:
    schema = _spec_schema(
        {"name": {"type": "string", "pattern": "^a", "minLength": 2, "maxLength": 4}}
    )
    assert _admit(schema, {"name": "abc"}).causes == []
    assert _errors(_admit(schema, {"name": "bcdef"})) == [
        "spec.name: Too long: may not be more than 4 bytes",
        "spec.name: Invalid value: \"bcdef\": spec.name in body should match '^a'",
    ]
    short = _admit(schema, {"name": "a"})
    assert _errors(short) == [
        'spec.name: Invalid value: "a": spec.name in body should be at least 2 chars long'
    ]
    assert _admit(schema, {"name": "abcde"}).causes[0].reason == "FieldValueTooLong"


@pytest.mark.parametrize(
    ("bounds", "value", "message"),
    [
        ({"maximum": 10}, 11, "should be less than or equal to 10"),
        ({"maximum": 10, "exclusiveMaximum": True}, 10, "should be less than 10"),
        ({"minimum": 1}, 0, "should be greater than or equal to 1"),
        ({"minimum": 1, "exclusiveMinimum": True}, 1, "should be greater than 1"),
        ({"minimum": 0.5}, 0.25, "should be greater than or equal to 0.5"),
    ],
)
def test_number_bounds(bounds: dict[str, Any], value: float, message: str) -> None:
    schema = _spec_schema({"replicas": {"type": "number", **bounds}})
    assert _errors(_admit(schema, {"replicas": value})) == [
        f"spec.replicas: Invalid value: {value}: spec.replicas in body {message}"
    ]


def test_number_bounds_accept_values_inside() -> None:
    schema = _spec_schema({"r": {"type": "integer", "minimum": 1, "maximum": 10}})
    assert _admit(schema, {"r": 1}).causes == []
    assert _admit(schema, {"r": 10}).causes == []


def test_array_size() -> None:
    schema = _spec_schema(
        {
            "l": {
                "type": "array",
                "items": {"type": "integer"},
                "minItems": 2,
                "maxItems": 3,
            }
        }
    )
    assert _admit(schema, {"l": [1, 2]}).causes == []
    assert _errors(_admit(schema, {"l": [1]})) == [
        "spec.l: Invalid value: 1: spec.l in body should have at least 2 items"
    ]
    too_many = _admit(schema, {"l": [1, 2, 3, 4]})
    assert _errors(too_many) == ["spec.l: Too many: 4: must have at most 3 items"]
    assert too_many.causes[0].reason == "FieldValueTooMany"


def test_object_property_counts() -> None:
    schema = _spec_schema(
        {
            "m": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "minProperties": 1,
                "maxProperties": 2,
            }
        }
    )
    assert _admit(schema, {"m": {"a": "1"}}).causes == []
    assert _errors(_admit(schema, {"m": {}})) == [
        "spec.m: Invalid value: 0: spec.m in body should have at least 1 properties"
    ]
    assert _errors(_admit(schema, {"m": {"a": "1", "b": "2", "c": "3"}})) == [
        "spec.m: Too many: 3: must have at most 2 items"
    ]


def test_date_time_format() -> None:
    schema = _spec_schema({"at": {"type": "string", "format": "date-time"}})
    for good in ("2024-05-01T10:20:30Z", "2024-05-01T10:20:30.123456+02:00"):
        assert _admit(schema, {"at": good}).causes == []
    admission = _admit(schema, {"at": "2024-13-01T00:00:00Z"})
    assert _errors(admission) == [
        'spec.at: Invalid value: "2024-13-01T00:00:00Z": spec.at in body must be of type '
        'date-time: "2024-13-01T00:00:00Z"'
    ]


def test_errors_carry_nested_array_paths() -> None:
    schema = _spec_schema(
        {
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"type": "string", "maxLength": 3}},
                },
            }
        }
    )
    admission = _admit(schema, {"items": [{"name": "ok"}, {}, {"name": "long"}]})
    assert _errors(admission) == [
        "spec.items[1].name: Required value",
        "spec.items[2].name: Too long: may not be more than 3 bytes",
    ]


def test_nullable() -> None:
    schema = _spec_schema(
        {
            "n": {"type": "string", "nullable": True},
            "l": {"type": "array", "items": {"type": "string"}},
        }
    )
    admission = _admit(schema, {"n": None, "l": ["a", None]})
    assert admission.obj["spec"]["n"] is None
    assert _errors(admission) == [
        'spec.l[1]: Invalid value: "null": spec.l[1] in body must be of type string: "null"'
    ]


def test_null_in_non_nullable_field_is_dropped_or_defaulted() -> None:
    schema = _spec_schema(
        {"plain": {"type": "string"}, "withDefault": {"type": "integer", "default": 3}},
        required=["plain"],
    )
    admission = _admit(schema, {"plain": None, "withDefault": None})
    assert admission.obj["spec"] == {"withDefault": 3}
    assert _errors(admission) == ["spec.plain: Required value"]


def test_list_type_set_and_map_report_duplicates() -> None:
    schema = _spec_schema(
        {
            "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "ports": {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "items": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "port": {"type": "integer"}},
                },
            },
        }
    )
    ok = {"tags": ["a", "b"], "ports": [{"name": "a", "port": 1}, {"name": "b", "port": 1}]}
    assert _admit(schema, ok).causes == []
    admission = _admit(
        schema,
        {
            "tags": ["a", "b", "a", "a"],
            "ports": [{"name": "a", "port": 1}, {"name": "a", "port": 2}, {"port": 3}, {}],
        },
    )
    assert _errors(admission) == [
        'spec.tags[2]: Duplicate value: "a"',
        'spec.ports[1]: Duplicate value: map[string]interface {}{"name":"a"}',
        "spec.ports[3]: Duplicate value: map[string]interface {}{}",
    ]
    not_objects = _admit(schema, {"ports": [{"name": "a"}, "b"]})
    assert _errors(not_objects) == [
        'spec.ports[1]: Invalid value: "string": spec.ports[1] in body must be of type object: '
        '"string"',
        'spec.ports[1]: Invalid value: "b": must be an object for an array of list-type map',
    ]
    assert {cause.reason for cause in admission.causes} == {"FieldValueDuplicate"}


def test_int_or_string() -> None:
    schema = _spec_schema(
        {
            "port": {
                "x-kubernetes-int-or-string": True,
                "anyOf": [{"type": "integer"}, {"type": "string"}],
            }
        }
    )
    assert _admit(schema, {"port": 80}).causes == []
    assert _admit(schema, {"port": "http"}).obj["spec"]["port"] == "http"
    assert _admit(schema, {"port": 8.0}).causes == []
    for bad, kind in ((True, "boolean"), (1.5, "number"), ({}, "object")):
        assert _errors(_admit(schema, {"port": bad})) == [
            f'spec.port: Invalid value: "{kind}": spec.port in body must be of type '
            f'integer,string: "{kind}"'
        ]


def test_any_of_required_alternatives() -> None:
    schema = _spec_schema(
        {"a": {"type": "string"}, "b": {"type": "string"}},
        anyOf=[{"required": ["a"]}, {"required": ["b"]}],
    )
    assert _admit(schema, {"b": "x"}).causes == []
    assert _errors(_admit(schema, {})) == [
        'spec: Invalid value: "": "spec" must validate at least one schema (anyOf)',
        "spec.a: Required value",
    ]


def test_embedded_resource_keeps_type_and_metadata_and_requires_them() -> None:
    schema = _spec_schema(
        {
            "template": {
                "type": "object",
                "x-kubernetes-embedded-resource": True,
                "properties": {
                    "metadata": {"type": "object"},
                    "spec": {"type": "object", "properties": {"x": {"type": "string"}}},
                },
            }
        }
    )
    template = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "labels": {"a": "b"}},
        "spec": {"x": "y", "junk": 1},
        "junk": 2,
    }
    admission = _admit(schema, {"template": template})
    assert admission.causes == []
    assert admission.obj["spec"]["template"] == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "labels": {"a": "b"}},
        "spec": {"x": "y"},
    }
    assert admission.unknown_fields == ["spec.template.spec.junk", "spec.template.junk"]
    missing = _admit(schema, {"template": {"metadata": {}}})
    assert _errors(missing) == [
        "spec.template.apiVersion: Required value: must not be empty",
        "spec.template.kind: Required value: must not be empty",
    ]


# --- pruning --------------------------------------------------------------------------------


def test_pruning_drops_undeclared_fields_and_reports_their_paths() -> None:
    schema = _spec_schema(
        {
            "a": {"type": "string"},
            "list": {
                "type": "array",
                "items": {"type": "object", "properties": {"k": {"type": "string"}}},
            },
        }
    )
    admission = _admit(
        schema,
        {"a": "x", "foo": 1, "list": [{"k": "v"}, {"k": "w", "bar": {"deep": 1}}]},
        status={"phase": "Ready"},
    )
    assert admission.obj == {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w1"},
        "spec": {"a": "x", "list": [{"k": "v"}, {"k": "w"}]},
    }
    assert admission.unknown_fields == ["spec.foo", "spec.list[1].bar", "status"]
    assert admission.causes == []


def test_preserve_unknown_fields_keeps_unknown_but_processes_declared() -> None:
    schema = _spec_schema(
        {
            "free": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
                "properties": {
                    "known": {
                        "type": "object",
                        "properties": {"n": {"type": "integer", "default": 1}},
                    }
                },
            },
            "anything": {"x-kubernetes-preserve-unknown-fields": True},
        }
    )
    spec = {
        "free": {"other": {"x": [1, 2]}, "known": {"drop": True}},
        "anything": {"a": {"b": None}},
        "gone": 1,
    }
    admission = _admit(schema, spec)
    assert admission.obj["spec"] == {
        "free": {"other": {"x": [1, 2]}, "known": {"n": 1}},
        "anything": {"a": {"b": None}},
    }
    assert admission.unknown_fields == ["spec.free.known.drop", "spec.gone"]


def test_root_preserve_unknown_fields_keeps_everything() -> None:
    schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    admission = _admit(schema, {"anything": 1}, status={"x": 2})
    assert admission.obj["spec"] == {"anything": 1}
    assert admission.obj["status"] == {"x": 2}
    assert admission.unknown_fields == []
    assert CompiledSchema.compile(schema).has_status


def test_additional_properties_are_maps_and_not_pruned() -> None:
    schema = _spec_schema(
        {
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "any": {"type": "object", "additionalProperties": True},
        }
    )
    admission = _admit(
        schema, {"labels": {"a": "b", "c": 1}, "any": {"n": 1, "x": {"y": 1}, "l": [{"z": 1}]}}
    )
    # additionalProperties: true keeps every key but, as kube's pruning with a nil schema,
    # drops the fields of nested objects
    assert admission.obj["spec"] == {
        "labels": {"a": "b", "c": 1},
        "any": {"n": 1, "x": {}, "l": [{}]},
    }
    assert admission.unknown_fields == ["spec.any.x.y", "spec.any.l[0].z"]
    assert _errors(admission) == [
        'spec.labels.c: Invalid value: "integer": spec.labels.c in body must be of type string: '
        '"integer"'
    ]


def test_root_keeps_api_version_kind_and_metadata() -> None:
    schema = _spec_schema({})
    obj = {"apiVersion": "a/v1", "kind": "K", "metadata": {"name": "n", "x": {"y": 1}}}
    admission = CompiledSchema.compile(schema).admit(obj)
    assert admission.obj == obj
    assert admission.unknown_fields == []
    assert not CompiledSchema.compile(schema).has_status


# --- defaulting -----------------------------------------------------------------------------


def test_defaults_fill_missing_fields_in_nested_objects_and_array_items() -> None:
    schema = _spec_schema(
        {
            "mode": {"type": "string", "default": "fast"},
            "nested": {
                "type": "object",
                "default": {},
                "properties": {
                    "x": {"type": "integer", "default": 5},
                    "y": {
                        "type": "object",
                        "properties": {"z": {"type": "string", "default": "z"}},
                    },
                },
            },
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"w": {"type": "integer", "default": 1}, "n": {"type": "string"}},
                },
            },
        }
    )
    admission = _admit(schema, {"items": [{"n": "a"}, {"n": "b", "w": 7}]})
    assert admission.causes == []
    assert admission.obj["spec"] == {
        "mode": "fast",
        "nested": {"x": 5},
        "items": [{"n": "a", "w": 1}, {"n": "b", "w": 7}],
    }
    explicit = _admit(schema, {"nested": {"y": {}}})
    assert explicit.obj["spec"]["nested"] == {"x": 5, "y": {"z": "z"}}


def test_defaults_are_pruned_and_copied_per_object() -> None:
    schema = _spec_schema(
        {
            "cfg": {
                "type": "object",
                "default": {"a": 1, "unknown": 2},
                "properties": {"a": {"type": "integer"}},
            }
        }
    )
    compiled = CompiledSchema.compile(schema)
    first = compiled.admit({"spec": {}})
    second = compiled.admit({"spec": {}})
    assert first.obj["spec"]["cfg"] == {"a": 1}
    assert first.unknown_fields == []
    first.obj["spec"]["cfg"]["a"] = 99
    assert second.obj["spec"]["cfg"] == {"a": 1}
    assert compiled.admit({"spec": {}}).obj["spec"]["cfg"] == {"a": 1}


def test_defaulted_values_are_validated_with_the_object() -> None:
    schema = _spec_schema({"a": {"type": "string", "default": "x"}}, required=["a"])
    assert _admit(schema, {}).causes == []


# --- input and output isolation ---------------------------------------------------------------


def test_input_is_never_mutated_and_output_shares_no_containers() -> None:
    schema = _spec_schema(
        {
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "d": {"type": "integer", "default": 1},
            "l": {"type": "array", "items": {"type": "object", "properties": {}}},
        }
    )
    obj = {
        "apiVersion": "a/v1",
        "kind": "K",
        "metadata": {"name": "n", "labels": {"a": "b"}},
        "spec": {"free": {"deep": [1, {"x": 1}]}, "l": [{"gone": 1}], "junk": 1},
    }
    before = copy.deepcopy(obj)
    admission = CompiledSchema.compile(schema).admit(obj)
    assert obj == before
    admission.obj["metadata"]["labels"]["a"] = "changed"
    admission.obj["spec"]["free"]["deep"][1]["x"] = 2
    assert obj == before


# --- compile-time rejection -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "string"}, 'openAPIV3Schema.type: Invalid value: "string": must be object'),
        (
            {"type": "object", "properties": {"a": {}}},
            "openAPIV3Schema.properties[a].type: Required value",
        ),
        (
            {"type": "object", "properties": {"a": {"type": "array"}}},
            "openAPIV3Schema.properties[a].items: Required value: must be specified",
        ),
        (
            {"type": "object", "properties": {"a": {"type": "thing"}}},
            'openAPIV3Schema.properties[a].type: Unsupported value: "thing"',
        ),
        (
            {
                "type": "object",
                "properties": {
                    "a": {
                        "type": "object",
                        "properties": {"b": {"type": "string"}},
                        "additionalProperties": {"type": "string"},
                    }
                },
            },
            "additionalProperties and properties are mutual exclusive",
        ),
        (
            {"type": "object", "properties": {"a": {"type": "string", "pattern": "("}}},
            "openAPIV3Schema.properties[a].pattern: Invalid value",
        ),
        (
            {"type": "object", "properties": {"a": {"type": "integer", "default": "x"}}},
            "openAPIV3Schema.properties[a].default: Invalid value",
        ),
        (
            {"type": "object", "properties": {"a": {"$ref": "#/definitions/x"}}},
            "$ref is not supported",
        ),
        (
            {
                "type": "object",
                "properties": {
                    "a": {"type": "array", "items": {"type": "string"}, "uniqueItems": True}
                },
            },
            "openAPIV3Schema.properties[a].uniqueItems: Forbidden: uniqueItems cannot be set to"
            " true",
        ),
        (
            {
                "type": "object",
                "properties": {"a": {"type": "object", "additionalProperties": False}},
            },
            "additionalProperties cannot be set to false",
        ),
        (
            {
                "type": "object",
                "properties": {"a": {"type": "string", "x-kubernetes-int-or-string": True}},
            },
            "must be empty for int-or-string",
        ),
    ],
)
def test_non_structural_schemas_are_rejected(schema: dict[str, Any], message: str) -> None:
    with pytest.raises(SchemaError) as caught:
        CompiledSchema.compile(schema)
    assert message in str(caught.value)
    assert caught.value.causes


def test_schema_error_paths_use_the_given_field_path() -> None:
    prefix = "spec.versions[0].schema.openAPIV3Schema"
    with pytest.raises(SchemaError) as caught:
        CompiledSchema.compile({"type": "object", "properties": {"a": {}}}, field_path=prefix)
    assert caught.value.causes[0].field == f"{prefix}.properties[a].type"


def test_items_of_a_preserve_unknown_fields_array_keep_unknown_fields() -> None:
    schema = _spec_schema(
        {
            "steps": {
                "type": "array",
                "x-kubernetes-preserve-unknown-fields": True,
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "opts": {"type": "object", "properties": {"a": {"type": "string"}}},
                    },
                },
            }
        }
    )
    admission = _admit(schema, {"steps": [{"name": "s", "extra": 1, "opts": {"a": "x", "b": 2}}]})
    assert admission.obj["spec"]["steps"] == [{"name": "s", "extra": 1, "opts": {"a": "x"}}]
    assert admission.unknown_fields == ["spec.steps[0].opts.b"]


def test_patterns_follow_go_regexp_semantics() -> None:
    schema = _spec_schema({"name": {"type": "string", "pattern": "^[a-z]+$"}})
    assert _admit(schema, {"name": "abc"}).causes == []
    assert _errors(_admit(schema, {"name": "abc\n"})) == [
        "spec.name: Invalid value: \"abc\\n\": spec.name in body should match '^[a-z]+$'"
    ]
    for unsupported in ("(a)\\1", "a(?=b)", "(?<!x)y"):
        with pytest.raises(SchemaError, match="must be a valid regular expression"):
            CompiledSchema.compile(_spec_schema({"n": {"type": "string", "pattern": unsupported}}))


@pytest.mark.parametrize(
    ("fmt", "good", "bad"),
    [
        ("date", "2024-02-29", "2023-02-29"),
        ("uuid", "123e4567-e89b-12d3-a456-426614174000", "123e4567"),
        ("byte", "aGVsbG8=", "not base64!"),
        ("hostname", "api.example.com", "-bad-.example"),
        ("ipv4", "10.1.2.3", "10.1.2.300"),
        ("ipv6", "fe80::1", "10.1.2.3"),
        ("cidr", "10.0.0.0/8", "10.0.0.1"),
        ("duration", "1h30m", "soon"),
    ],
)
def test_string_formats(fmt: str, good: str, bad: str) -> None:
    schema = _spec_schema({"v": {"type": "string", "format": fmt}})
    assert _admit(schema, {"v": good}).causes == []
    assert _errors(_admit(schema, {"v": bad})) == [
        f'spec.v: Invalid value: "{bad}": spec.v in body must be of type {fmt}: "{bad}"'
    ]


def test_nulls_in_maps_of_any_value_are_kept() -> None:
    schema = _spec_schema({"any": {"type": "object", "additionalProperties": True}})
    assert _admit(schema, {"any": {"a": None}}).obj["spec"] == {"any": {"a": None}}


def test_null_int_or_string_array_item_is_a_type_error() -> None:
    schema = _spec_schema({"l": {"type": "array", "items": {"x-kubernetes-int-or-string": True}}})
    assert _errors(_admit(schema, {"l": [1, None]})) == [
        'spec.l[1]: Invalid value: "null": spec.l[1] in body must be of type integer,string: "null"'
    ]


@pytest.mark.parametrize(
    ("keyword", "value", "expected"),
    [
        ("maxLength", -1, "must be a non-negative integer"),
        ("minimum", "1", "must be a number"),
        ("required", "a", "must be an array"),
        ("pattern", 5, "must be a string"),
    ],
)
def test_keywords_of_the_wrong_type_are_rejected(keyword: str, value: Any, expected: str) -> None:
    schema = _spec_schema({"a": {"type": "string", keyword: value}})
    with pytest.raises(
        SchemaError, match=f"properties\\[a\\].{keyword}: Invalid value: .*{expected}"
    ):
        CompiledSchema.compile(schema)


def test_controller_gen_style_schema() -> None:
    quantity = (
        r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?"
        r"(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
    )
    schema = {
        "description": "Widget is the Schema for the widgets API",
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion defines..."},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "x-kubernetes-validations": [{"rule": "self.replicas >= 0", "message": "m"}],
                "properties": {
                    "replicas": {"type": "integer", "format": "int32"},
                    "memory": {
                        "anyOf": [{"type": "integer"}, {"type": "string"}],
                        "pattern": quantity,
                        "x-kubernetes-int-or-string": True,
                    },
                    "args": {
                        "type": "array",
                        "items": {"type": "string"},
                        "x-kubernetes-list-type": "atomic",
                    },
                    "selector": {
                        "type": "object",
                        "additionalProperties": {"type": "string"},
                        "x-kubernetes-map-type": "atomic",
                    },
                },
            },
            "status": {
                "type": "object",
                "properties": {
                    "conditions": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["type"],
                        "items": {
                            "type": "object",
                            "required": ["status", "type"],
                            "properties": {
                                "type": {"type": "string", "maxLength": 316},
                                "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
                                "lastTransitionTime": {"type": "string", "format": "date-time"},
                            },
                        },
                    },
                },
            },
        },
    }
    compiled = CompiledSchema.compile(schema)
    assert compiled.has_status
    obj = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "labels": {"a": "b"}},
        "spec": {"replicas": 2, "memory": "512Mi", "args": ["a", "a"], "selector": {"k": "v"}},
        "status": {
            "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}
            ]
        },
    }
    admission = compiled.admit(obj)
    assert admission.causes == []
    assert admission.unknown_fields == []
    assert admission.obj == obj
    bad = compiled.admit({**obj, "spec": {"memory": "lots"}})
    assert _errors(bad) == [
        f"spec.memory: Invalid value: \"lots\": spec.memory in body should match '{quantity}'"
    ]


def test_all_of_one_of_and_not_report_like_kube() -> None:
    properties = {"a": {"type": "string"}, "b": {"type": "integer"}}
    all_of = _spec_schema(
        properties, allOf=[{"required": ["a"]}, {"properties": {"b": {"minimum": 5}}}]
    )
    assert _admit(all_of, {"a": "x", "b": 7}).causes == []
    assert _errors(_admit(all_of, {"b": 3})) == [
        "spec.a: Required value",
        "spec.b: Invalid value: 3: spec.b in body should be greater than or equal to 5",
    ]
    one_of = _spec_schema(properties, oneOf=[{"required": ["a"]}, {"required": ["b"]}])
    one_of_message = 'spec: Invalid value: "": "spec" must validate one and only one schema (oneOf)'
    assert _admit(one_of, {"a": "x"}).causes == []
    assert _errors(_admit(one_of, {"a": "x", "b": 1})) == [one_of_message]
    assert _errors(_admit(one_of, {})) == [one_of_message, "spec.a: Required value"]
    negated = _spec_schema(properties, **{"not": {"required": ["a", "b"]}})
    assert _admit(negated, {"a": "x"}).causes == []
    assert _errors(_admit(negated, {"a": "x", "b": 1})) == [
        'spec: Invalid value: "": "spec" must not validate the schema (not)'
    ]


def test_list_map_keys_compare_as_json() -> None:
    schema = _spec_schema(
        {
            "ports": {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name", "protocol"],
                "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            }
        }
    )
    ports = [
        {"name": "a", "protocol": "TCP"},
        {"name": "a", "protocol": "UDP"},
        {"protocol": "TCP", "name": "a", "port": 2},
        {"name": 1},
        {"name": 1.0},
        {"name": 1},
        {"name": True},
    ]
    assert _errors(_admit(schema, {"ports": ports})) == [
        'spec.ports[2]: Duplicate value: map[string]interface {}{"name":"a", "protocol":"TCP"}',
        'spec.ports[5]: Duplicate value: map[string]interface {}{"name":1}',
    ]
