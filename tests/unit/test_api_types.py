"""The example API types (api/): generated CRDs, samples, server-side validation and pruning,
the framework's status fields, names, printer columns, and the committed manifests."""

from __future__ import annotations

import copy
import importlib.util
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pydantic
import pytest
import yaml

from api import all_kinds, external_kinds
from api.common import (
    EXPECTED_PHASE_ANNOTATION,
    FRAMEWORK_STATUS_FIELDS,
    KUBELOOP_CATEGORY,
    KubeloopStatus,
    parse_duration,
)
from api.controlplane.v1beta1 import CAPTControlPlane
from api.external import crossplane
from api.external.clusterapi import Cluster
from api.external.karpenter import NodeClaim
from api.external.openshift import Build
from api.external.tekton import PipelineRun
from api.infrastructure.v1beta1 import CAPTCluster
from api.mlops.v1alpha1 import LEGACY_PHASES, NotebookValidationJob
from api.workspace.v1alpha1 import Workspace
from framework.conditions import Condition
from framework.crdgen import crd_declaration, generate_crd, generate_crds
from framework.envtest.apiserver.crds import validate_crd
from framework.envtest.apiserver.schema import Admission, CompiledSchema
from framework.envtest.apiserver.tables import (
    columns_from_crd_version,
    render_table,
    validate_printer_columns,
)
from framework.models import KubeObject
from framework.resources import GroupVersionKind, ResourceRegistry

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "config" / "samples"
OURS = all_kinds()
EXTERNAL = external_kinds()
EVERY_KIND = OURS + EXTERNAL
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def kind_id(model: type[KubeObject]) -> str:
    return str(model.resource_info().gvk)


@cache
def crd_of(model: type[KubeObject]) -> dict[str, Any]:
    return generate_crd([model])


def openapi(model: type[KubeObject]) -> dict[str, Any]:
    schema: dict[str, Any] = crd_of(model)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


@cache
def compiled(model: type[KubeObject]) -> CompiledSchema:
    return CompiledSchema.compile(openapi(model))


def admit(model: type[KubeObject], obj: dict[str, Any]) -> Admission:
    return compiled(model).admit(obj)


def model_for(obj: dict[str, Any]) -> type[KubeObject]:
    gvk = GroupVersionKind.from_api_version(obj["apiVersion"], obj["kind"])
    return next(model for model in EVERY_KIND if model.resource_info().gvk == gvk)


def sample_paths() -> list[Path]:
    return sorted(path for path in SAMPLES.glob("*.yaml") if path.name != "kustomization.yaml")


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def samples_of(model: type[KubeObject]) -> list[dict[str, Any]]:
    return [obj for obj in map(load, sample_paths()) if model_for(obj) is model]


def first_sample(model: type[KubeObject]) -> dict[str, Any]:
    """The first sample of `model` that is not meant to fail."""
    return next(
        obj
        for obj in samples_of(model)
        if EXPECTED_PHASE_ANNOTATION not in obj["metadata"].get("annotations", {})
    )


# --- CRDs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("model", EVERY_KIND, ids=kind_id)
def test_every_crd_generates_and_compiles(model: type[KubeObject]) -> None:
    crd = crd_of(model)
    assert validate_crd(crd) == []
    (version,) = crd["spec"]["versions"]
    assert validate_printer_columns(version.get("additionalPrinterColumns", [])) == []
    assert compiled(model).has_status
    assert version["subresources"] == {"status": {}}


def test_crd_scopes_are_the_real_ones() -> None:
    scopes = {kind_id(m): crd_of(m)["spec"]["scope"] for m in EVERY_KIND}
    assert scopes == {
        "workspace.kubeloop.dev/v1alpha1, Kind=Workspace": "Namespaced",
        "mlops.kubeloop.dev/v1alpha1, Kind=NotebookValidationJob": "Namespaced",
        "infrastructure.cluster.x-k8s.io/v1beta1, Kind=CAPTCluster": "Namespaced",
        "controlplane.cluster.x-k8s.io/v1beta1, Kind=CAPTControlPlane": "Namespaced",
        "karpenter.sh/v1, Kind=NodeClaim": "Cluster",
        "tf.upbound.io/v1beta1, Kind=Workspace": "Cluster",
        "cluster.x-k8s.io/v1beta1, Kind=Cluster": "Namespaced",
        "tekton.dev/v1, Kind=PipelineRun": "Namespaced",
        "build.openshift.io/v1, Kind=Build": "Namespaced",
    }


def test_capt_crds_carry_the_cluster_api_contract_label() -> None:
    for model in (CAPTCluster, CAPTControlPlane):
        assert crd_of(model)["metadata"]["labels"] == {"cluster.x-k8s.io/v1beta1": "v1beta1"}
    for other in (Workspace, NotebookValidationJob):
        assert "labels" not in crd_of(other)["metadata"]


def test_categories_and_short_names() -> None:
    short_names = {m: m.resource_info().short_names for m in OURS}
    assert short_names == {
        Workspace: ("kws",),
        NotebookValidationJob: ("nvj",),
        CAPTCluster: ("captc",),
        CAPTControlPlane: ("captcp",),
    }
    for model in OURS:
        assert KUBELOOP_CATEGORY in crd_of(model)["spec"]["names"]["categories"]
    for model in EXTERNAL:
        assert KUBELOOP_CATEGORY not in model.resource_info().categories
    for model in (CAPTCluster, CAPTControlPlane, Cluster):
        assert "cluster-api" in model.resource_info().categories


def test_names_do_not_collide_with_each_other_or_builtin_kinds() -> None:
    registry = ResourceRegistry.with_builtins()
    builtin_names = {n for i in registry for n in (i.plural, i.singular, *i.short_names)}
    registry.register_all(m.resource_info() for m in EVERY_KIND)
    short_names = [n for m in EVERY_KIND for n in m.resource_info().short_names]
    assert len(short_names) == len(set(short_names))
    assert not builtin_names & set(short_names)


def test_the_two_workspace_kinds_coexist() -> None:
    ours, theirs = Workspace.resource_info(), crossplane.Workspace.resource_info()
    assert ours.kind == theirs.kind == "Workspace"
    assert ours.gvk != theirs.gvk
    crds = generate_crds([Workspace, crossplane.Workspace])
    assert [crd["metadata"]["name"] for crd in crds] == [
        "workspaces.tf.upbound.io",
        "workspaces.workspace.kubeloop.dev",
    ]
    registry = ResourceRegistry()
    registry.register_all([ours, theirs])
    assert registry.by_resource("workspace.kubeloop.dev", "v1alpha1", "workspaces") is ours
    assert registry.by_resource("tf.upbound.io", "v1beta1", "workspaces") is theirs
    sample = first_sample(Workspace)
    assert model_for(sample) is Workspace
    assert admit(crossplane.Workspace, sample).unknown_fields == []  # open spec keeps it
    assert admit(Workspace, {**sample, "spec": {"forProvider": {}}}).causes != []


# --- printer columns ----------------------------------------------------------------------

PRINTER_COLUMNS = {
    Workspace: [
        ("INSTANCE", ".spec.resource.instanceType", 0),
        ("RESOURCEREADY", '.status.conditions[?(@.type=="ResourceReady")].status', 0),
        ("INFERENCEREADY", '.status.conditions[?(@.type=="InferenceReady")].status', 0),
        ("PHASE", ".status.phase", 0),
        ("AGE", ".metadata.creationTimestamp", 0),
    ],
    NotebookValidationJob: [
        ("PHASE", ".status.phase", 0),
        ("AGE", ".metadata.creationTimestamp", 0),
        ("MESSAGE", ".status.message", 1),
    ],
    CAPTCluster: [
        ("VPC-ID", ".status.vpcId", 0),
        ("READY", ".status.ready", 0),
        ("ENDPOINT", ".spec.controlPlaneEndpoint.host", 0),
        ("PHASE", ".status.phase", 0),
        ("AGE", ".metadata.creationTimestamp", 0),
    ],
    CAPTControlPlane: [
        ("READY", ".status.ready", 0),
        ("PHASE", ".status.phase", 0),
        ("VERSION", ".spec.version", 0),
        ("ENDPOINT", ".spec.controlPlaneEndpoint.host", 0),
        ("AGE", ".metadata.creationTimestamp", 0),
    ],
}


@pytest.mark.parametrize("model", OURS, ids=kind_id)
def test_printer_columns_as_specified(model: type[KubeObject]) -> None:
    columns = crd_of(model)["spec"]["versions"][0]["additionalPrinterColumns"]
    declared = [(c["name"].upper(), c["jsonPath"], c.get("priority", 0)) for c in columns]
    assert declared == PRINTER_COLUMNS[model]
    assert columns[-1 if model is not NotebookValidationJob else 1]["type"] == "date"


def test_workspace_columns_render_from_conditions() -> None:
    obj = first_sample(Workspace)
    obj["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    obj["status"] = {
        "phase": "Creating",
        "conditions": [
            {"type": "InferenceReady", "status": "False", "reason": "Waiting"},
            {"type": "ResourceReady", "status": "True", "reason": "NodesReady"},
        ],
    }
    version = crd_of(Workspace)["spec"]["versions"][0]
    table = render_table([obj], columns_from_crd_version(version), now=NOW + timedelta(hours=5))
    assert table["rows"][0]["cells"] == [
        obj["metadata"]["name"],
        "Standard_NC12s_v3",
        "True",
        "False",
        "Creating",
        "5h",
    ]


def test_capt_ready_column_is_boolean() -> None:
    obj = first_sample(CAPTCluster)
    obj["status"] = {"ready": True, "vpcId": "vpc-0abc", "phase": "Ready"}
    obj["spec"]["controlPlaneEndpoint"] = {"host": "api.demo.example", "port": 443}
    version = crd_of(CAPTCluster)["spec"]["versions"][0]
    table = render_table([obj], columns_from_crd_version(version), now=NOW)
    assert table["rows"][0]["cells"][1:5] == ["vpc-0abc", True, "api.demo.example", "Ready"]


# --- status -------------------------------------------------------------------------------


@pytest.mark.parametrize("model", OURS, ids=kind_id)
def test_status_declares_the_framework_fields(model: type[KubeObject]) -> None:
    status = openapi(model)["properties"]["status"]
    properties = status["properties"]
    assert set(FRAMEWORK_STATUS_FIELDS) <= set(properties)
    assert "required" not in status
    for name in ("phaseTransitionTime", "startTime"):
        assert properties[name] == {**properties[name], "type": "string", "format": "date-time"}
    assert properties["observedGeneration"]["type"] == "integer"
    assert properties["phase"]["type"] == "string"
    assert "Failed" in properties["phase"]["enum"]
    conditions = properties["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert set(conditions["items"]["required"]) == {"type", "status", "reason"}


def status_type(model: type[KubeObject]) -> type[KubeloopStatus]:
    status = model.model_fields["status"].annotation
    assert isinstance(status, type)
    assert issubclass(status, KubeloopStatus)
    return status


@pytest.mark.parametrize("model", OURS, ids=kind_id)
def test_a_fresh_object_has_an_empty_valid_status(model: type[KubeObject]) -> None:
    obj = model.model_validate(first_sample(model))
    assert obj.to_dict()["status"] == {}
    assert status_type(model)().to_dict() == {}
    admission = admit(model, {**first_sample(model), "status": {}})
    assert (admission.causes, admission.unknown_fields) == ([], [])


@pytest.mark.parametrize(
    ("model", "phase"),
    [
        (Workspace, "Running"),
        (NotebookValidationJob, "ValidationRunning"),
        (CAPTCluster, "ProvisioningVPC"),
        (CAPTControlPlane, "Creating"),
    ],
    ids=lambda value: value if isinstance(value, str) else kind_id(value),
)
def test_what_the_framework_writes_survives_admission(model: type[KubeObject], phase: str) -> None:
    status_cls = status_type(model)
    conditions = [
        Condition(
            type=type_,
            status="True",
            reason="Reconciled",
            message=f"{type_} holds",
            observed_generation=3,
            last_transition_time=NOW,
        )
        for type_ in status_cls.CONDITION_TYPES
    ]
    status = status_cls.model_validate(
        {
            "observedGeneration": 3,
            "phase": phase,
            "message": "working on it",
            "phaseTransitionTime": NOW,
            "startTime": NOW,
            "conditions": conditions,
        }
    )
    obj = model.model_validate({**first_sample(model), "status": status.to_dict()})
    wire = obj.to_dict()
    assert wire["status"]["phaseTransitionTime"] == "2026-01-01T00:00:00Z"
    assert wire["status"]["conditions"][0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    admission = admit(model, wire)
    assert (admission.causes, admission.unknown_fields) == ([], [])
    assert admission.obj["status"] == wire["status"]
    assert {"Ready", "Reconciling", "Stalled"} <= set(status_cls.CONDITION_TYPES)


def test_notebook_job_keeps_the_legacy_phases_valid() -> None:
    phases = openapi(NotebookValidationJob)["properties"]["status"]["properties"]["phase"]["enum"]
    current = "Initializing Building BuildComplete ValidationRunning Succeeded Failed"
    assert phases[:6] == current.split()
    assert set(LEGACY_PHASES) == {"Pending", "Running"} <= set(phases)
    assert set(LEGACY_PHASES.values()) <= set(phases)
    old = {**first_sample(NotebookValidationJob), "status": {"phase": "Running"}}
    assert admit(NotebookValidationJob, old).causes == []
    assert NotebookValidationJob.model_validate(old).status.phase == "Running"


# --- samples ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sample_paths(), ids=lambda path: path.name)
def test_sample_is_valid_for_its_generated_schema(path: Path) -> None:
    obj = load(path)
    model = model_for(obj)
    admission = admit(model, obj)
    assert admission.causes == []
    assert admission.unknown_fields == []
    assert model.model_validate(obj).to_dict()["spec"] == admission.obj["spec"]


def test_samples_cover_every_kind_and_the_kustomization_lists_them() -> None:
    kustomization = load(SAMPLES / "kustomization.yaml")
    assert sorted(kustomization["resources"]) == [p.name for p in sample_paths()]
    assert {model_for(load(p)) for p in sample_paths()} == {*OURS, Cluster}


def test_a_workspace_sample_is_meant_to_fail() -> None:
    failing = [
        obj
        for obj in samples_of(Workspace)
        if obj["metadata"].get("annotations", {}).get(EXPECTED_PHASE_ANNOTATION) == "Failed"
    ]
    assert [obj["spec"]["resource"]["instanceType"] for obj in failing] == ["fail.provision"]


def test_cluster_sample_references_the_capt_samples() -> None:
    (cluster,) = samples_of(Cluster)
    for ref, model in (("infrastructureRef", CAPTCluster), ("controlPlaneRef", CAPTControlPlane)):
        target = first_sample(model)
        info = model.resource_info()
        assert cluster["spec"][ref] == {
            "apiVersion": info.gvk.api_version,
            "kind": info.kind,
            "name": target["metadata"]["name"],
        }
        assert (
            target["metadata"]["labels"]["cluster.x-k8s.io/cluster-name"]
            == (cluster["metadata"]["name"])
        )


DELETE = object()

BAD = [
    (Workspace, "spec.resource.count", -1),
    (Workspace, "spec.resource", DELETE),
    (Workspace, "status.phase", "Exploded"),
    (Workspace, "status.conditions", [{"type": "Ready", "status": "Maybe", "reason": "X"}]),
    (NotebookValidationJob, "spec.podConfig.buildConfig.strategy", "docker"),
    (NotebookValidationJob, "spec.timeout", "15 minutes"),
    (NotebookValidationJob, "status.retryCount", -1),
    (CAPTCluster, "spec.controlPlaneEndpoint", {"host": "h", "port": 70000}),
    (CAPTCluster, "status.phase", "Running"),
    (CAPTControlPlane, "spec.version", "latest"),
    (CAPTControlPlane, "spec.workspaceTemplateRef", DELETE),
    (CAPTControlPlane, "status.phase", "Pending"),
]


def put(obj: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    *parents, last = path.split(".")
    node = out
    for key in parents:
        node = node.setdefault(key, {})
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return out


@pytest.mark.parametrize(
    ("model", "path", "value"), BAD, ids=[f"{m.__name__}-{p}" for m, p, _ in BAD]
)
def test_bad_object_is_rejected_with_its_field_path(
    model: type[KubeObject], path: str, value: object
) -> None:
    bad = put(first_sample(model), path, value)
    fields = [cause.field for cause in admit(model, bad).causes]
    assert fields
    assert all(field.startswith(path) for field in fields), fields
    with pytest.raises(pydantic.ValidationError):
        model.model_validate(bad)


# --- provider data and foreign objects ----------------------------------------------------

PROVIDER_DATA = {
    "checksum": "9f2c",
    "outputs": {"vpc_id": "vpc-0abc", "subnets": [{"id": "s-1", "public": True}, {"id": "s-2"}]},
    "nested": {"deep": {"list": [1, 2.5, "three", [4]], "flag": False}},
}


def test_at_provider_survives_admission_and_the_typed_model() -> None:
    status = {
        "phase": "Creating",
        "workspaceStatus": {"ready": False, "state": "Applying", "atProvider": PROVIDER_DATA},
        "workspaceTemplateStatus": {"ready": True, "outputs": PROVIDER_DATA["outputs"]},
    }
    obj = {**first_sample(CAPTControlPlane), "status": status}
    admission = admit(CAPTControlPlane, obj)
    assert (admission.causes, admission.unknown_fields) == ([], [])
    assert admission.obj["status"] == status
    assert CAPTControlPlane.model_validate(obj).to_dict()["status"] == status


def test_crossplane_workspace_keeps_at_provider_and_unknown_fields() -> None:
    obj = {
        "apiVersion": "tf.upbound.io/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": "vpc-demo"},
        "spec": {
            "forProvider": {"source": "Remote", "module": "git::https://x/vpc", "planArgs": []},
            "providerConfigRef": {"name": "default"},
        },
        "status": {
            "atProvider": PROVIDER_DATA,
            "conditions": [
                {"type": "Synced", "status": "True", "reason": "ReconcileSuccess"},
                {"type": "Ready", "status": "True", "reason": "Available"},
            ],
        },
    }
    admission = admit(crossplane.Workspace, obj)
    assert (admission.causes, admission.unknown_fields) == ([], [])
    assert admission.obj == obj
    typed = crossplane.Workspace.model_validate(obj)
    assert typed.status.at_provider is not None
    assert typed.status.at_provider.checksum == "9f2c"
    assert typed.to_dict()["status"] == obj["status"]


REAL_WORLD: list[tuple[type[KubeObject], dict[str, Any], dict[str, Any]]] = [
    (
        NodeClaim,
        {
            "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "x"},
            "requirements": [
                {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["g5"]}
            ],
            "expireAfter": "720h",
            "taints": [{"key": "gpu", "effect": "NoSchedule"}],
        },
        {
            "nodeName": "ip-10-0-0-1",
            "providerID": "aws:///eu-west-1a/i-0abc",
            "capacity": {"cpu": "8", "nvidia.com/gpu": 1},
            "lastPodEventTime": "2026-01-01T00:00:00Z",
            "conditions": [
                {"type": "Launched", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}
            ],
        },
    ),
    (
        Cluster,
        {"topology": {"class": "quick-start", "version": "v1.31.0"}},
        {
            "phase": "Provisioned",
            "failureDomains": {"eu-west-1a": {"controlPlane": True}},
            "conditions": [{"type": "Ready", "status": "True", "severity": ""}],
            "v1beta2": {"conditions": [{"type": "Available", "status": "True"}]},
        },
    ),
    (
        PipelineRun,
        {
            "pipelineRef": {"resolver": "git", "params": [{"name": "url", "value": "u"}]},
            "params": [{"name": "flags", "value": ["-v", "-x"]}, {"name": "o", "value": {}}],
            "taskRunTemplate": {"serviceAccountName": "builder"},
        },
        {
            "conditions": [{"type": "Succeeded", "status": "Unknown", "reason": "Running"}],
            "childReferences": [{"name": "build-task", "kind": "TaskRun"}],
            "results": [{"name": "IMAGE_DIGEST", "value": "sha256:00"}],
        },
    ),
    (
        Build,
        {
            "source": {"type": "Git", "git": {"uri": "https://x/repo.git"}},
            "strategy": {"type": "Source", "sourceStrategy": {"from": {"kind": "ImageStreamTag"}}},
            "triggeredBy": [{"message": "Manually triggered"}],
        },
        {"phase": "Complete", "duration": 61000000000, "stages": [{"name": "FetchInputs"}]},
    ),
]


@pytest.mark.parametrize(
    ("model", "spec", "status"), REAL_WORLD, ids=[kind_id(m) for m, _, _ in REAL_WORLD]
)
def test_foreign_objects_are_accepted_unchanged(
    model: type[KubeObject], spec: dict[str, Any], status: dict[str, Any]
) -> None:
    info = model.resource_info()
    obj = {
        "apiVersion": info.gvk.api_version,
        "kind": info.kind,
        "metadata": {"name": "real"},
        "spec": spec,
        "status": status,
    }
    admission = admit(model, obj)
    assert (admission.causes, admission.unknown_fields) == ([], [])
    assert admission.obj == obj
    wire = model.model_validate(obj).to_dict()
    assert (wire["spec"], wire["status"]) == (spec, status)


# --- durations ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("1h30m", 5400), ("1.5s", 1.5), ("250ms", 0.25), ("2h0m5s", 7205)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "15", "15 m", "m", "-5m", "1d", "PT15M"])
def test_parse_duration_rejects_non_go_durations(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_timeouts_default_in_python_and_on_the_server() -> None:
    obj = first_sample(CAPTControlPlane)
    del obj["spec"]["timeouts"]
    assert CAPTControlPlane.model_validate(obj).spec.timeouts.control_plane_creation == "30m"
    obj["spec"]["timeouts"] = {}
    defaulted = admit(CAPTControlPlane, obj).obj["spec"]["timeouts"]
    assert defaulted == {"controlPlaneCreation": "30m"}


# --- committed manifests ------------------------------------------------------------------


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "generate_manifests", ROOT / "hack" / "generate_manifests.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_manifests_are_up_to_date() -> None:
    stale = generator().stale()
    assert stale == [], f"run `.venv/bin/python hack/generate_manifests.py`: {stale}"


def test_generator_writes_and_prunes_exactly_the_generated_files(tmp_path: Path) -> None:
    module = generator()
    (tmp_path / "config" / "crd" / "bases").mkdir(parents=True)
    (tmp_path / "config" / "crd" / "bases" / "old.kind_olds.yaml").write_text("---\n")
    written = module.write(tmp_path)
    assert "config/crd/bases/old.kind_olds.yaml" in written
    assert module.stale(tmp_path) == []
    names = {p.name for p in (tmp_path / "config" / "crd" / "external").iterdir()}
    assert names == {
        "build.openshift.io_builds.yaml",
        "cluster.x-k8s.io_clusters.yaml",
        "karpenter.sh_nodeclaims.yaml",
        "kustomization.yaml",
        "tekton.dev_pipelineruns.yaml",
        "tf.upbound.io_workspaces.yaml",
    }
    assert crd_declaration(Workspace).resource.plural == "workspaces"
