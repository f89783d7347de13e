"""framework.envtest.apiserver.strategic: strategic merge patch for built-in kinds."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from framework.envtest.apiserver.strategic import (
    StrategicMergeError,
    is_builtin_kind,
    strategic_merge_apply,
)
from framework.patch import merge_apply


def deployment(*containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": list(containers), **spec},
            },
        },
    }


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


def template_patch(**spec: Any) -> dict[str, Any]:
    return {"spec": {"template": {"spec": spec}}}


def names(items: list[dict[str, Any]], key: str = "name") -> list[Any]:
    return [item[key] for item in items]


NGINX = {"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}


# --- lists merged by key ----------------------------------------------------------------------


def test_adding_a_container_by_name_keeps_the_existing_one() -> None:
    # The `kubectl patch deployment --patch '{"spec":{"template":{"spec":{"containers":[...]}}}}'`
    # scenario: apimachinery places the new element before the existing ones.
    target = deployment(NGINX)
    patch = template_patch(containers=[{"name": "redis", "image": "redis:7"}])

    result = strategic_merge_apply(target, patch, ("apps", "Deployment"))

    containers = pod_spec(result)["containers"]
    assert names(containers) == ["redis", "nginx"]
    assert containers[1] == NGINX
    assert containers[0] == {"name": "redis", "image": "redis:7"}


def test_patching_a_container_by_name_merges_its_fields() -> None:
    target = deployment(NGINX, {"name": "log", "image": "busybox"})
    patch = template_patch(containers=[{"name": "nginx", "image": "nginx:1.27"}])

    containers = pod_spec(strategic_merge_apply(target, patch, "Deployment"))["containers"]

    assert containers == [{**NGINX, "image": "nginx:1.27"}, {"name": "log", "image": "busybox"}]


def test_env_var_updated_by_name() -> None:
    app = {"name": "app", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}
    patch = template_patch(containers=[{"name": "app", "env": [{"name": "B", "value": "20"}]}])

    result = strategic_merge_apply(deployment(app), patch, "Deployment")

    assert pod_spec(result)["containers"][0]["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "20"},
    ]


def test_delete_directive_removes_the_element_with_that_key() -> None:
    target = deployment(NGINX, {"name": "log", "image": "busybox"})
    patch = template_patch(containers=[{"name": "log", "$patch": "delete"}])

    containers = pod_spec(strategic_merge_apply(target, patch, "Deployment"))["containers"]

    assert containers == [NGINX]


def test_replace_directive_in_a_list_makes_it_exactly_the_patch_elements() -> None:
    target = deployment(NGINX, {"name": "log", "image": "busybox"})
    patch = template_patch(containers=[{"$patch": "replace"}, {"name": "solo", "image": "x"}])

    containers = pod_spec(strategic_merge_apply(target, patch, "Deployment"))["containers"]

    assert containers == [{"name": "solo", "image": "x"}]


def test_replace_directive_in_a_map_replaces_the_map() -> None:
    target = deployment(NGINX)
    target["spec"]["template"]["metadata"]["labels"] = {"app": "web", "tier": "fe"}
    patch = {"spec": {"template": {"metadata": {"labels": {"$patch": "replace", "team": "a"}}}}}

    result = strategic_merge_apply(target, patch, "Deployment")

    assert result["spec"]["template"]["metadata"]["labels"] == {"team": "a"}


def test_delete_directive_in_a_map_removes_it() -> None:
    target = deployment(NGINX, affinity={"nodeAffinity": {"x": 1}})
    patch = template_patch(affinity={"$patch": "delete"})

    assert "affinity" not in pod_spec(strategic_merge_apply(target, patch, "Deployment"))


def test_container_ports_merge_by_container_port_and_service_ports_by_port() -> None:
    target = deployment({"name": "app", "ports": [{"containerPort": 80, "name": "http"}]})
    patch = template_patch(
        containers=[{"name": "app", "ports": [{"containerPort": 80, "protocol": "TCP"}]}]
    )
    ports = pod_spec(strategic_merge_apply(target, patch, "Deployment"))["containers"][0]["ports"]
    assert ports == [{"containerPort": 80, "name": "http", "protocol": "TCP"}]

    service = {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}}
    patched = strategic_merge_apply(
        service, {"spec": {"ports": [{"port": 443, "name": "s"}]}}, "Service"
    )
    assert patched["spec"]["ports"] == [
        {"port": 80, "targetPort": 8080},
        {"port": 443, "name": "s"},
    ]


def test_volume_mounts_merge_by_mount_path_not_name() -> None:
    mounts = [{"name": "data", "mountPath": "/a"}, {"name": "data", "mountPath": "/b"}]
    target = deployment({"name": "app", "volumeMounts": mounts})
    patch = template_patch(
        containers=[{"name": "app", "volumeMounts": [{"mountPath": "/b", "readOnly": True}]}]
    )

    result = strategic_merge_apply(target, patch, "Deployment")

    assert pod_spec(result)["containers"][0]["volumeMounts"] == [
        {"name": "data", "mountPath": "/a"},
        {"name": "data", "mountPath": "/b", "readOnly": True},
    ]


def test_volumes_and_init_containers_merge_by_name_in_a_job_template() -> None:
    job = {
        "spec": {
            "template": {
                "spec": {
                    "volumes": [{"name": "v1", "emptyDir": {}}],
                    "initContainers": [{"name": "init", "image": "a"}],
                }
            }
        }
    }
    patch = template_patch(
        volumes=[{"name": "v2", "configMap": {"name": "cm"}}],
        initContainers=[{"name": "init", "image": "b"}],
    )

    spec = pod_spec(strategic_merge_apply(job, patch, ("batch", "Job")))

    assert names(spec["volumes"]) == ["v2", "v1"]
    assert spec["initContainers"] == [{"name": "init", "image": "b"}]


def test_conditions_merge_by_type() -> None:
    pod = {
        "status": {
            "phase": "Pending",
            "conditions": [
                {"type": "Ready", "status": "False"},
                {"type": "PodScheduled", "status": "True"},
            ],
        }
    }
    patch = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}

    result = strategic_merge_apply(pod, patch, ("", "Pod"))

    assert result["status"]["conditions"] == [
        {"type": "Ready", "status": "True"},
        {"type": "PodScheduled", "status": "True"},
    ]
    node = {"status": {"conditions": [{"type": "Ready", "status": "False"}]}}
    node_patch = {"status": {"conditions": [{"type": "MemoryPressure", "status": "False"}]}}
    node_result = strategic_merge_apply(node, node_patch, "Node")
    assert names(node_result["status"]["conditions"], "type") == ["MemoryPressure", "Ready"]


def test_owner_references_merge_by_uid() -> None:
    target = {"metadata": {"ownerReferences": [{"uid": "u1", "name": "a"}]}}
    patch = {"metadata": {"ownerReferences": [{"uid": "u1", "controller": True}]}}

    result = strategic_merge_apply(target, patch, ("", "ConfigMap"))

    assert result["metadata"]["ownerReferences"] == [{"uid": "u1", "name": "a", "controller": True}]


# --- lists replaced whole and primitive lists ----------------------------------------------------


def test_list_without_merge_key_is_replaced_whole() -> None:
    tolerations = [{"key": "a", "effect": "NoSchedule"}, {"key": "b", "effect": "NoSchedule"}]
    target = deployment(NGINX, tolerations=tolerations)
    patch = template_patch(tolerations=[{"key": "c", "effect": "NoExecute"}])

    spec = pod_spec(strategic_merge_apply(target, patch, "Deployment"))

    assert spec["tolerations"] == [{"key": "c", "effect": "NoExecute"}]
    app = {"name": "app", "args": ["a", "b"], "envFrom": [{"configMapRef": {"name": "x"}}]}
    container_patch = {"name": "app", "args": ["c"], "envFrom": [{"secretRef": {"name": "y"}}]}
    result = strategic_merge_apply(
        deployment(app), template_patch(containers=[container_patch]), "Deployment"
    )
    assert pod_spec(result)["containers"][0] == container_patch


def test_finalizers_merge_as_a_union() -> None:
    target = {"metadata": {"finalizers": ["a", "b"]}}

    result = strategic_merge_apply(target, {"metadata": {"finalizers": ["b", "c"]}}, "Secret")

    assert result["metadata"]["finalizers"] == ["a", "b", "c"]


def test_delete_from_primitive_list_removes_values() -> None:
    target = {"metadata": {"finalizers": ["a", "b", "c", "b", "d"]}}
    patch = {
        "metadata": {
            "$setElementOrder/finalizers": ["a", "c"],
            "$deleteFromPrimitiveList/finalizers": ["b", "zz"],
        }
    }

    result = strategic_merge_apply(target, patch, "ConfigMap")

    assert result["metadata"]["finalizers"] == ["a", "c", "d"]


def test_null_deletes_a_key_and_unmatched_nulls_are_dropped() -> None:
    target = {"metadata": {"labels": {"a": "1", "b": "2"}}, "data": {"k": "v"}}
    patch = {"metadata": {"labels": {"a": None, "new": {"x": None, "y": 1}}}, "data": None}

    result = strategic_merge_apply(target, patch, "ConfigMap")

    assert result == {"metadata": {"labels": {"b": "2", "new": {"y": 1}}}}


def test_retain_keys_drops_target_keys_not_listed() -> None:
    target = deployment(NGINX)
    target["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}

    result = strategic_merge_apply(target, patch, "Deployment")

    assert result["spec"]["strategy"] == {"type": "Recreate"}


# --- ordering ---------------------------------------------------------------------------------


def test_set_element_order_orders_the_merged_list() -> None:
    target = deployment({"name": "a"}, {"name": "b"}, {"name": "c"})
    patch = template_patch(
        **{
            "$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}],
            "containers": [{"name": "c", "image": "new"}],
        }
    )

    containers = pod_spec(strategic_merge_apply(target, patch, "Deployment"))["containers"]

    assert containers == [{"name": "c", "image": "new"}, {"name": "a"}, {"name": "b"}]


def test_set_element_order_interleaves_server_only_elements_by_target_order() -> None:
    target = deployment({"name": "a"}, {"name": "injected"}, {"name": "b"})
    patch = template_patch(**{"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]})

    containers = pod_spec(strategic_merge_apply(target, patch, "Deployment"))["containers"]

    # "injected" precedes "b" in the target, so it stays in front of it (apimachinery's
    # mergeSortedSlice); the listed elements take the directive's order.
    assert names(containers) == ["injected", "b", "a"]


def test_set_element_order_on_a_list_without_merge_key_is_accepted_and_stripped() -> None:
    target = deployment(NGINX, tolerations=[{"key": "a"}])
    patch = template_patch(
        **{"$setElementOrder/tolerations": [{"key": "b"}], "tolerations": [{"key": "b"}]}
    )

    spec = pod_spec(strategic_merge_apply(target, patch, "Deployment"))

    assert spec["tolerations"] == [{"key": "b"}]
    assert not any(key.startswith("$") for key in spec)


def test_set_element_order_for_primitive_lists() -> None:
    target = {"metadata": {"finalizers": ["a", "b"]}}
    patch = {"metadata": {"$setElementOrder/finalizers": ["b", "c", "a"], "finalizers": ["c"]}}

    result = strategic_merge_apply(target, patch, "ConfigMap")

    assert result["metadata"]["finalizers"] == ["b", "c", "a"]


def test_kubectl_apply_three_way_patch() -> None:
    # last-applied: app (image v1, env A and B, port 80) and a log sidecar, labels app+tier.
    # new manifest: app at v2 with env A and C, no sidecar, no tier label, 3 replicas.
    # Live adds server-side state (env D from a webhook, defaults, status) that must survive.
    live = deployment(
        {
            "name": "app",
            "image": "app:v1",
            "imagePullPolicy": "IfNotPresent",
            "env": [
                {"name": "A", "value": "1"},
                {"name": "B", "value": "2"},
                {"name": "D", "value": "webhook"},
            ],
            "ports": [{"containerPort": 80, "protocol": "TCP"}],
        },
        {"name": "log", "image": "busybox"},
    )
    live["metadata"]["labels"]["tier"] = "fe"
    live["status"] = {"replicas": 1, "conditions": [{"type": "Available", "status": "True"}]}
    # What kubectl 1.37 sends for that change (CreateThreeWayMergePatch, written out by hand).
    patch = {
        "metadata": {
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}\n"},
            "labels": {"tier": None},
        },
        "spec": {
            "replicas": 3,
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "app"}],
                    "containers": [
                        {
                            "$setElementOrder/env": [{"name": "A"}, {"name": "C"}],
                            "env": [{"name": "C", "value": "3"}, {"$patch": "delete", "name": "B"}],
                            "image": "app:v2",
                            "name": "app",
                        },
                        {"$patch": "delete", "name": "log"},
                    ],
                }
            },
        },
    }

    result = strategic_merge_apply(live, patch, ("apps", "Deployment"))

    assert result["metadata"]["labels"] == {"app": "web"}
    assert result["metadata"]["annotations"] == {
        "kubectl.kubernetes.io/last-applied-configuration": "{...}\n"
    }
    assert result["spec"]["replicas"] == 3
    assert result["status"] == live["status"]
    assert pod_spec(result)["containers"] == [
        {
            "name": "app",
            "image": "app:v2",
            "imagePullPolicy": "IfNotPresent",
            # D stays before C: apimachinery orders by the target list as its in-place edits
            # left it ([A, D, C] once B is shifted out and C written into the freed slot).
            "env": [
                {"name": "A", "value": "1"},
                {"name": "D", "value": "webhook"},
                {"name": "C", "value": "3"},
            ],
            "ports": [{"containerPort": 80, "protocol": "TCP"}],
        }
    ]


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [
        pytest.param(
            [{"name": 1, "other": "a"}, {"name": 4, "other": "c"}],
            {
                "$setElementOrder/containers": [{"name": 2}, {"name": 3}],
                "containers": [{"name": 2}, {"name": 3}, {"name": 1, "$patch": "delete"}],
            },
            [{"name": 4, "other": "c"}, {"name": 2}, {"name": 3}],
            id="add map and delete map from merging list with conflict",
        ),
        pytest.param(
            [{"name": 1}, {"name": 2, "other": "b"}, {"name": 4, "other": "c"}],
            {
                "$setElementOrder/containers": [{"name": 2}, {"name": 3}],
                "containers": [{"name": 3}, {"name": 1, "$patch": "delete"}],
            },
            [{"name": 2, "other": "b"}, {"name": 4, "other": "c"}, {"name": 3}],
            id="add map and delete map from merging list",
        ),
        pytest.param(
            [{"name": 3, "other": "a"}],
            {
                "$setElementOrder/containers": [{"name": 2}],
                "containers": [{"name": 2}, {"name": 1, "$patch": "delete"}],
            },
            [{"name": 2}, {"name": 3, "other": "a"}],
            id="delete missing map from merging list with conflict",
        ),
        pytest.param(
            [{"name": 1, "other": "a"}, {"name": 2, "value": 3, "other": "b"}],
            {
                "$setElementOrder/containers": [{"name": 1}, {"name": 2}, {"name": 3}],
                "containers": [{"name": 2, "value": 2}, {"name": 3, "value": 3}],
            },
            [
                {"name": 1, "other": "a"},
                {"name": 2, "value": 2, "other": "b"},
                {"name": 3, "value": 3},
            ],
            id="merge lists of maps with conflict",
        ),
        pytest.param(
            [{"name": "hello2"}],
            {
                "$setElementOrder/containers": [{"name": "hello"}, {"name": "doesntexist"}],
                "containers": [{"name": "hello"}],
            },
            [{"name": "hello"}, {"name": "hello2"}],
            id="nested patch merge with empty list",
        ),
        pytest.param(
            [{"name": 1}, {"name": 3}],
            {
                "$setElementOrder/containers": [{"name": 1}, {"name": 2}],
                "containers": [{"name": 2}],
            },
            [{"name": 1}, {"name": 2}, {"name": 3}],
            id="extension field and merge list",
        ),
        pytest.param(
            [
                {"name": 1},
                {"name": 2, "v": "dup1"},
                {"name": 3},
                {"name": 2, "v": "dup2"},
                {"name": 4},
            ],
            {"$setElementOrder/containers": [{"name": n} for n in (2, 1, 4, 3, 2)]},
            [
                {"name": 2, "v": "dup1"},
                {"name": 2, "v": "dup2"},
                {"name": 1},
                {"name": 4},
                {"name": 3},
            ],
            id="set element order for a merging list with duplicate",
        ),
    ],
)
def test_apimachinery_three_way_fixtures(
    target: list[dict[str, Any]], patch: dict[str, Any], expected: list[dict[str, Any]]
) -> None:
    # Cases from apimachinery's strategicpatch tests (ThreeWay applied to Current gives Result),
    # with its test struct's mergingList played by a Pod's containers.
    result = strategic_merge_apply({"spec": {"containers": target}}, {"spec": patch}, "Pod")

    assert result["spec"]["containers"] == expected


# --- purity, kinds and errors -------------------------------------------------------------------


def test_inputs_are_not_mutated_and_result_shares_nothing() -> None:
    target = deployment(NGINX, {"name": "log", "image": "busybox"})
    patch = template_patch(
        **{
            "$setElementOrder/containers": [{"name": "nginx"}],
            "containers": [{"name": "nginx", "image": "x"}, {"name": "log", "$patch": "delete"}],
        }
    )
    target_before, patch_before = copy.deepcopy(target), copy.deepcopy(patch)

    result = strategic_merge_apply(target, patch, "Deployment")
    result["metadata"]["labels"]["mutated"] = "yes"
    pod_spec(result)["containers"][0]["ports"].append({"containerPort": 1})

    assert target == target_before
    assert patch == patch_before


def test_builtin_kinds_are_known_and_custom_resources_are_not() -> None:
    assert is_builtin_kind(("apps", "Deployment"))
    assert is_builtin_kind("ConfigMap")
    assert not is_builtin_kind(("example.com", "Widget"))
    assert not is_builtin_kind(("example.com", "Deployment"))


def test_unknown_kind_still_merges_metadata_lists() -> None:
    target = {"metadata": {"finalizers": ["a"]}, "spec": {"items": [{"name": "x"}]}}
    patch = {"metadata": {"finalizers": ["b"]}, "spec": {"items": [{"name": "y"}]}}

    result = strategic_merge_apply(target, patch, ("example.com", "Widget"))

    assert sorted(result["metadata"]["finalizers"]) == ["a", "b"]
    assert result["spec"]["items"] == [{"name": "y"}]


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (template_patch(affinity={"$patch": "bogus"}), "unknown $patch directive"),
        (template_patch(containers=[{"$patch": "merge"}]), "cannot yet be specified"),
        (template_patch(containers=[{"$patch": "delete", "image": "x"}]), "needs the merge key"),
        (template_patch(containers=[{"image": "x"}]), "no merge key 'name'"),
        (template_patch(containers=[["nested"]]), "lists of lists"),
        (template_patch(containers=["nginx"]), "elements have no merge key"),
        (template_patch(tolerations=[{"key": "a", "$patch": "delete"}]), "replaced whole"),
        (template_patch(**{"$setElementOrder/containers": "nginx"}), "hold a list"),
        (template_patch(**{"$setElementOrder/": []}), "must name a field"),
        (template_patch(**{"$setElementOrder/containers": [{"image": "x"}]}), "no merge key"),
        (
            template_patch(
                **{
                    "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                    "containers": [{"name": "b"}, {"name": "a"}],
                }
            ),
            "does not match",
        ),
        ({"metadata": {"$retainKeys": "name"}}, "list of field names"),
        ({"metadata": {"$retainKeys": ["name"], "labels": {}}}, "'labels' is not in the list"),
        ({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}, "list of primitives"),
        ({"metadata": {"$deleteFromPrimitiveList/name": ["a"]}}, "is not a list"),
        ({"metadata": {"$unknown": 1}}, "unknown strategic merge directive"),
        ({"$patch": "delete"}, "whole object"),
    ],
)
def test_malformed_directives_raise(patch: dict[str, Any], message: str) -> None:
    with pytest.raises(StrategicMergeError) as caught:
        strategic_merge_apply(deployment(NGINX), patch, "Deployment")
    assert message in str(caught.value)


def test_error_names_the_field_path() -> None:
    patch = template_patch(containers=[{"name": "nginx", "env": [{"value": "x"}]}])

    with pytest.raises(StrategicMergeError) as caught:
        strategic_merge_apply(deployment(NGINX), patch, "Deployment")

    assert str(caught.value).startswith("spec.template.spec.containers[0].env[0]:")


def test_a_patch_that_is_not_an_object_is_rejected() -> None:
    with pytest.raises(StrategicMergeError, match="JSON object"):
        strategic_merge_apply({}, [], "ConfigMap")  # type: ignore[arg-type]


# --- property: without lists or directives it is a JSON merge patch ---------------------------

_keys = st.text(alphabet="abcxyz", max_size=3)
_leaves = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=3))
_maps = st.recursive(
    st.dictionaries(_keys, _leaves, max_size=3),
    lambda inner: st.dictionaries(_keys, _leaves | inner, max_size=3),
    max_leaves=12,
)


@given(target=_maps, patch=_maps)
def test_without_lists_it_equals_json_merge_patch(
    target: dict[str, Any], patch: dict[str, Any]
) -> None:
    assert strategic_merge_apply(target, patch, "ConfigMap") == merge_apply(target, patch)
