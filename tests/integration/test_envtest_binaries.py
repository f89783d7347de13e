"""framework.envtest.binaries: binary lookup, flags, keys and process handling of the real
etcd + kube-apiserver mode, with fake binaries (small Python scripts) standing in."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_common_support import crd

from framework.envtest.apiserver import ApiServer
from framework.envtest.binaries import (
    ADMIN_GROUP,
    ADMIN_USER,
    BinariesNotFound,
    BinaryPaths,
    ControlPlaneError,
    RealControlPlane,
    apiserver_args,
    etcd_args,
    find_binaries,
    free_ports,
    install_crds,
    write_service_account_keys,
)
from framework.resources import GroupVersionKind

KUBECTL = Path(sys.executable).parent / "kubectl"


def executable(path: Path, text: str = "#!/bin/sh\nexit 0\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


# --- lookup -------------------------------------------------------------------------------------


def assets(directory: Path) -> Path:
    executable(directory / "etcd")
    executable(directory / "kube-apiserver")
    return directory


def test_kubebuilder_assets_provides_both_binaries(tmp_path: Path) -> None:
    directory = assets(tmp_path / "bin")

    found = find_binaries(environ={"KUBEBUILDER_ASSETS": str(directory)})

    assert found == BinaryPaths(directory / "etcd", directory / "kube-apiserver")


def test_explicit_paths_win_over_every_environment_variable(tmp_path: Path) -> None:
    env_dir, own = assets(tmp_path / "env"), assets(tmp_path / "own")
    environ = {
        "KUBEBUILDER_ASSETS": str(env_dir),
        "TEST_ASSET_ETCD": str(env_dir / "etcd"),
        "TEST_ASSET_KUBE_APISERVER": str(env_dir / "kube-apiserver"),
    }

    found = find_binaries(etcd=own / "etcd", kube_apiserver=own / "kube-apiserver", environ=environ)

    assert found == BinaryPaths(own / "etcd", own / "kube-apiserver")


def test_per_binary_variables_beat_kubebuilder_assets_which_beats_assets_dir(
    tmp_path: Path,
) -> None:
    env_dir, arg_dir = assets(tmp_path / "env"), assets(tmp_path / "arg")
    single = executable(tmp_path / "single" / "my-etcd")

    found = find_binaries(
        arg_dir, environ={"KUBEBUILDER_ASSETS": str(env_dir), "TEST_ASSET_ETCD": str(single)}
    )
    assert found == BinaryPaths(single, env_dir / "kube-apiserver")

    assert find_binaries(arg_dir, environ={}) == BinaryPaths(
        arg_dir / "etcd", arg_dir / "kube-apiserver"
    )


def test_missing_binaries_are_named_with_how_to_get_them(tmp_path: Path) -> None:
    directory = tmp_path / "bin"
    executable(directory / "etcd")

    with pytest.raises(BinariesNotFound) as caught:
        find_binaries(environ={"KUBEBUILDER_ASSETS": str(directory)})

    message = str(caught.value)
    assert f"kube-apiserver: {directory / 'kube-apiserver'} (from KUBEBUILDER_ASSETS)" in message
    assert "does not exist" in message
    assert "etcd:" not in message
    assert "setup-envtest use -p path" in message


def test_a_non_executable_binary_is_reported(tmp_path: Path) -> None:
    directory = assets(tmp_path / "bin")
    (directory / "etcd").chmod(0o644)

    with pytest.raises(BinariesNotFound, match=r"etcd: .* is not executable"):
        find_binaries(directory, environ={})


def test_without_any_setting_the_default_directory_is_named() -> None:
    with pytest.raises(BinariesNotFound) as caught:
        find_binaries(environ={})
    assert "/usr/local/kubebuilder/bin/etcd (the default; KUBEBUILDER_ASSETS is not set)" in str(
        caught.value
    )


# --- flags ---------------------------------------------------------------------------------------


def test_etcd_flags() -> None:
    assert etcd_args("/data", 2379, 2380) == [
        "--advertise-client-urls=http://127.0.0.1:2379",
        "--data-dir=/data",
        "--listen-client-urls=http://127.0.0.1:2379",
        "--listen-peer-urls=http://127.0.0.1:2380",
        "--unsafe-no-fsync=true",
    ]
    assert etcd_args(
        "/d", 1, 2, overrides={"unsafe-no-fsync": "false", "quota-backend-bytes": "1"}
    )[-2:] == ["--quota-backend-bytes=1", "--unsafe-no-fsync=false"]


def test_apiserver_flags() -> None:
    args = apiserver_args(
        cert_dir="/certs",
        etcd_url="http://127.0.0.1:2379",
        secure_port=6443,
        token_auth_file="/tokens.csv",
        service_account_key_file="/certs/sa.pub",
        service_account_signing_key_file="/certs/sa.key",
    )

    assert args == [
        "--advertise-address=127.0.0.1",
        "--allow-privileged=true",
        "--authorization-mode=RBAC",
        "--bind-address=127.0.0.1",
        "--cert-dir=/certs",
        "--disable-admission-plugins=ServiceAccount",
        "--etcd-servers=http://127.0.0.1:2379",
        "--secure-port=6443",
        "--service-account-issuer=https://127.0.0.1:6443/",
        "--service-account-key-file=/certs/sa.pub",
        "--service-account-signing-key-file=/certs/sa.key",
        "--service-cluster-ip-range=10.0.0.0/24",
        "--token-auth-file=/tokens.csv",
    ]


def test_apiserver_flags_take_authorization_mode_and_overrides() -> None:
    args = apiserver_args(
        cert_dir="c",
        etcd_url="e",
        secure_port=1,
        token_auth_file="t",
        service_account_key_file="p",
        service_account_signing_key_file="k",
        authorization_mode="AlwaysAllow",
        overrides={"service-cluster-ip-range": "10.96.0.0/12", "v": "4"},
    )

    assert "--authorization-mode=AlwaysAllow" in args
    assert "--service-cluster-ip-range=10.96.0.0/12" in args
    assert "--service-cluster-ip-range=10.0.0.0/24" not in args
    assert args[-1] == "--v=4"


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(3)
    assert len(set(ports)) == 3
    assert all(0 < port < 65536 for port in ports)


# --- keys ----------------------------------------------------------------------------------------


def test_service_account_keys_are_a_parseable_pair(tmp_path: Path) -> None:
    public, private = asyncio.run(write_service_account_keys(tmp_path))

    assert private.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert private.stat().st_mode & 0o077 == 0
    derived = subprocess.run(
        ["openssl", "pkey", "-in", str(private), "-pubout"], check=True, capture_output=True
    ).stdout
    assert derived == public.read_bytes()


# --- processes, with fake binaries ------------------------------------------------------------

FAKE = """#!{python}
import http.server, json, os, signal, ssl, sys, time

ROLE, BEHAVIOUR, RECORD = {role!r}, {behaviour!r}, {record!r}
flags = dict(arg[2:].split("=", 1) for arg in sys.argv[1:])
with open(RECORD, "w") as out:
    json.dump({{"pid": os.getpid(), "args": sys.argv[1:]}}, out)
print(ROLE, "starting", flush=True)
print(ROLE, "said something on stderr", file=sys.stderr, flush=True)
if BEHAVIOUR == "exit":
    print("Error: unknown flag: --bogus", file=sys.stderr, flush=True)
    sys.exit(1)
if BEHAVIOUR == "hang":
    print("still booting", file=sys.stderr, flush=True)
    time.sleep(600)
if BEHAVIOUR == "stubborn":
    def note(signum, frame):
        with open(RECORD + ".signals", "a") as out:
            out.write("TERM\\n")
    signal.signal(signal.SIGTERM, note)

if ROLE == "etcd":
    host_port = flags["listen-client-urls"].rsplit("/", 1)[1]
    host, port = host_port.rsplit(":", 1)
    path, expected = "/health", None
else:
    host, port = flags["bind-address"], flags["secure-port"]
    path = "/readyz"
    with open(flags["token-auth-file"]) as tokens:
        expected = "Bearer " + tokens.read().split(",", 1)[0]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path == path and (expected is None or self.headers["Authorization"] == expected)
        self.send_response(200 if ok else 401)
        self.end_headers()
        self.wfile.write(b"ok" if ok else b"no")

    def log_message(self, *args):
        pass


server = http.server.HTTPServer((host, int(port)), Handler)
if ROLE == "kube-apiserver":
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert_dir = flags["cert-dir"]
    context.load_cert_chain(cert_dir + "/apiserver.crt", cert_dir + "/apiserver.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
"""


def fake_binaries(tmp_path: Path, etcd: str = "serve", apiserver: str = "serve") -> BinaryPaths:
    paths = {}
    for role, behaviour in (("etcd", etcd), ("kube-apiserver", apiserver)):
        text = FAKE.format(
            python=sys.executable,
            role=role,
            behaviour=behaviour,
            record=str(tmp_path / f"{role}.json"),
        )
        paths[role] = executable(tmp_path / "bin" / role, text)
    return BinaryPaths(paths["etcd"], paths["kube-apiserver"])


def recorded(tmp_path: Path, role: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((tmp_path / f"{role}.json").read_text())
    return data


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def check_running(plane: RealControlPlane, tmp_path: Path) -> Path:
    """Assert what a started plane set up; returns its working directory."""
    assert plane.running
    config = yaml.safe_load(Path(plane.kubeconfig).read_text())
    cluster = config["clusters"][0]["cluster"]
    assert cluster["server"] == plane.server_url
    assert plane.server_url.startswith("https://127.0.0.1:")
    assert config["users"][0]["user"]["token"] == plane.token
    assert cluster["certificate-authority-data"]
    etcd, apiserver = recorded(tmp_path, "etcd"), recorded(tmp_path, "kube-apiserver")
    flags = dict(arg[2:].split("=", 1) for arg in apiserver["args"])
    assert f"--etcd-servers={plane.etcd_url}" in apiserver["args"]
    assert f"--listen-client-urls={plane.etcd_url}" in etcd["args"]
    assert plane.server_url.endswith(":" + flags["secure-port"])
    token_line = Path(flags["token-auth-file"]).read_text()
    assert token_line == f'{plane.token},{ADMIN_USER},{ADMIN_USER},"{ADMIN_GROUP}"\n'
    cert_dir = Path(flags["cert-dir"])
    ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
        cert_dir / "apiserver.crt", cert_dir / "apiserver.key"
    )
    assert "said something on stderr" in plane.log_tail("kube-apiserver")
    return cert_dir.parent


async def test_start_runs_both_processes_and_writes_a_kubeconfig(tmp_path: Path) -> None:
    plane = RealControlPlane(fake_binaries(tmp_path), start_timeout=30)

    await plane.start()
    try:
        workdir = check_running(plane, tmp_path)
    finally:
        await plane.stop()

    assert not plane.running
    assert not alive(recorded(tmp_path, "etcd")["pid"])
    assert not alive(recorded(tmp_path, "kube-apiserver")["pid"])
    assert not workdir.exists()
    with pytest.raises(RuntimeError, match="not started"):
        _ = plane.kubeconfig


async def test_kubeconfig_path_and_context_manager(tmp_path: Path) -> None:
    target = tmp_path / "out" / "kubeconfig"

    async with RealControlPlane(fake_binaries(tmp_path), kubeconfig_path=target) as plane:
        assert plane.kubeconfig == str(target)
        assert target.stat().st_mode & 0o077 == 0

    assert target.exists()  # a path the caller chose is left for the caller
    assert not alive(recorded(tmp_path, "kube-apiserver")["pid"])


async def test_a_crash_on_start_fails_with_its_output_and_stops_etcd(tmp_path: Path) -> None:
    plane = RealControlPlane(fake_binaries(tmp_path, apiserver="exit"), start_timeout=30)

    with pytest.raises(ControlPlaneError) as caught:
        await plane.start()

    message = str(caught.value)
    assert "kube-apiserver exited with code 1 while starting" in message
    assert "Error: unknown flag: --bogus" in message
    assert not alive(recorded(tmp_path, "etcd")["pid"])
    assert not plane.running


async def test_not_ready_in_time_fails_with_its_output(tmp_path: Path) -> None:
    plane = RealControlPlane(fake_binaries(tmp_path, etcd="hang"), start_timeout=1)

    with pytest.raises(ControlPlaneError) as caught:
        await plane.start()

    message = str(caught.value)
    assert f"etcd was not ready at {plane.etcd_url}/health within 1s" in message
    assert "still booting" in message
    assert not alive(recorded(tmp_path, "etcd")["pid"])
    assert not (tmp_path / "kube-apiserver.json").exists()


async def test_stop_kills_a_process_that_ignores_sigterm(tmp_path: Path) -> None:
    plane = RealControlPlane(fake_binaries(tmp_path, apiserver="stubborn"), stop_timeout=0.5)
    await plane.start()
    pid = recorded(tmp_path, "kube-apiserver")["pid"]

    await plane.stop()

    assert (tmp_path / "kube-apiserver.json.signals").read_text() == "TERM\n"
    assert not alive(pid)


async def test_missing_binaries_fail_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(tmp_path / "nothing-here"))
    monkeypatch.delenv("TEST_ASSET_ETCD", raising=False)
    monkeypatch.delenv("TEST_ASSET_KUBE_APISERVER", raising=False)
    plane = RealControlPlane()

    with pytest.raises(BinariesNotFound, match="setup-envtest"):
        await plane.start()
    await plane.stop()


# --- CRD installation over HTTP (against the embedded API server) ----------------------------

WIDGET_CRD = crd(GroupVersionKind("example.com", "v1", "Widget"), "widgets")


def renamed(crd: dict[str, Any], name: str, plural: str) -> dict[str, Any]:
    names = {**crd["spec"]["names"], "plural": plural, "singular": plural[:-1]}
    return {**crd, "metadata": {"name": name}, "spec": {**crd["spec"], "names": names}}


async def test_install_crds_creates_then_updates_and_waits_for_established() -> None:
    server = ApiServer()
    await server.start()
    try:
        assert server.cert is not None
        context = server.cert.client_context()
        installed = await install_crds(server.url, server.token, [WIDGET_CRD], ssl_context=context)
        names = {**WIDGET_CRD["spec"]["names"], "shortNames": ["wd"]}
        updated = {**WIDGET_CRD, "spec": {**WIDGET_CRD["spec"], "names": names}}
        again = await install_crds(server.url, server.token, [updated], ssl_context=context)
        served = server.catalog.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        assert served is not None
        stored = server.storage.get(served.key, "", "widgets.example.com")
    finally:
        await server.stop()

    assert installed == again == ["widgets.example.com"]
    assert stored is not None
    assert stored.obj["spec"]["names"]["shortNames"] == ["wd"]


async def test_install_crds_reports_refusals_and_crds_never_established() -> None:
    server = ApiServer()
    await server.start()
    try:
        assert server.cert is not None
        context = server.cert.client_context()
        bad_name = renamed(WIDGET_CRD, "wrong.example.com", "widgets")
        with pytest.raises(ControlPlaneError, match=r"wrong\.example\.com: 422 .*must be spec"):
            await install_crds(server.url, server.token, [bad_name], ssl_context=context)
        await install_crds(server.url, server.token, [WIDGET_CRD], ssl_context=context)
        same_kind = renamed(WIDGET_CRD, "gadgets.example.com", "gadgets")
        with pytest.raises(ControlPlaneError, match=r"gadgets\.example\.com is not Established"):
            await install_crds(
                server.url, server.token, [same_kind], ssl_context=context, within=0.3
            )
    finally:
        await server.stop()


# --- end to end ------------------------------------------------------------------------------


async def test_real_etcd_and_kube_apiserver_serve_kubectl(tmp_path: Path) -> None:
    try:
        binaries = find_binaries()
    except BinariesNotFound:
        pytest.skip(
            "no etcd/kube-apiserver binaries: set KUBEBUILDER_ASSETS to a directory with etcd "
            "and kube-apiserver (KUBEBUILDER_ASSETS=$(setup-envtest use -p path)) to run"
        )
    assert KUBECTL.exists(), "kubectl is expected in the virtualenv"

    crd_file = tmp_path / "crds" / "widget.yaml"
    crd_file.parent.mkdir()
    crd_file.write_text(yaml.safe_dump(WIDGET_CRD))

    async with RealControlPlane(binaries, crd_paths=[crd_file.parent]) as plane:

        async def kubectl(*args: str) -> str:
            process = await asyncio.create_subprocess_exec(
                str(KUBECTL),
                f"--kubeconfig={plane.kubeconfig}",
                f"--cache-dir={tmp_path / 'kubectl-cache'}",
                *args,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await process.communicate()
            assert process.returncode == 0, err.decode()
            return out.decode()

        await kubectl("create", "configmap", "probe", "--from-literal=k=v")
        configmap = json.loads(await kubectl("get", "configmap", "probe", "-o", "json"))
        assert configmap["data"] == {"k": "v"}
        assert "system:masters" in await kubectl("auth", "whoami", "-o", "json")
        await kubectl("get", "widgets.example.com", "--all-namespaces")
