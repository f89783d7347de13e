"""Real mode of the local control plane: etcd and kube-apiserver binaries, started the way
controller-runtime's envtest starts them.

    binaries = find_binaries()          # KUBEBUILDER_ASSETS, as envtest
    async with RealControlPlane(binaries) as plane:
        await config.load_kube_config(config_file=plane.kubeconfig)

The binaries come from `setup-envtest use -p path` (sigs.k8s.io/controller-runtime/tools/
setup-envtest), which prints a directory holding etcd (3.5 or later) and kube-apiserver (1.24 or
later). kube-apiserver serves HTTPS on loopback with a self-signed certificate (the kubeconfig
trusts it) and authenticates one bearer token, of user `envtest-admin` in group
`system:masters` (cluster-admin under RBAC). Certificates and keys are made with the `openssl`
command (the `cryptography` package is not a dependency).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import ssl
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from framework.clock import REAL_CLOCK, Clock
from framework.envtest.apiserver.tls import serving_cert
from framework.envtest.files import crd_documents, write_kubeconfig
from framework.envtest.lifecycle import Service

__all__ = [
    "ADMIN_GROUP",
    "ADMIN_USER",
    "ASSETS_ENV",
    "DEFAULT_ASSETS_DIR",
    "BinariesNotFound",
    "BinaryPaths",
    "ControlPlaneError",
    "RealControlPlane",
    "apiserver_args",
    "etcd_args",
    "find_binaries",
    "free_ports",
    "install_crds",
    "write_service_account_keys",
]

ASSETS_ENV = "KUBEBUILDER_ASSETS"
ASSET_OVERRIDE_ENV = {"etcd": "TEST_ASSET_ETCD", "kube-apiserver": "TEST_ASSET_KUBE_APISERVER"}
DEFAULT_ASSETS_DIR = "/usr/local/kubebuilder/bin"
ADMIN_USER = "envtest-admin"
ADMIN_GROUP = "system:masters"
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
HOW_TO_GET_BINARIES = (
    "install them with setup-envtest (go install "
    "sigs.k8s.io/controller-runtime/tools/setup-envtest@latest) and point KUBEBUILDER_ASSETS at "
    'them: export KUBEBUILDER_ASSETS="$(setup-envtest use -p path)"'
)


class BinariesNotFound(FileNotFoundError):
    """etcd or kube-apiserver is missing or not executable; the message says where each was
    looked for and how to get them."""


class ControlPlaneError(RuntimeError):
    """A control-plane process exited or did not become ready; the message carries the last
    lines of its output."""


@dataclass(frozen=True, slots=True)
class BinaryPaths:
    etcd: Path
    kube_apiserver: Path


def find_binaries(
    assets_dir: str | Path | None = None,
    *,
    etcd: str | Path | None = None,
    kube_apiserver: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> BinaryPaths:
    """Locate etcd and kube-apiserver, each by the first of (controller-runtime's order, after
    explicit paths): the `etcd`/`kube_apiserver` argument, `TEST_ASSET_ETCD` /
    `TEST_ASSET_KUBE_APISERVER`, `$KUBEBUILDER_ASSETS/<name>`, `<assets_dir>/<name>`,
    `/usr/local/kubebuilder/bin/<name>`.

    `environ` defaults to os.environ. Raises BinariesNotFound naming every binary that is missing
    or not executable.
    """
    env = os.environ if environ is None else environ
    explicit = {"etcd": etcd, "kube-apiserver": kube_apiserver}
    found: dict[str, Path] = {}
    problems = []
    for name, given in explicit.items():
        path, source = _locate(name, given, assets_dir, env)
        if path.is_file() and os.access(path, os.X_OK):
            found[name] = path
        else:
            state = "is not executable" if path.exists() else "does not exist"
            problems.append(f"{name}: {path} ({source}) {state}")
    if problems:
        raise BinariesNotFound(
            "the real control plane needs etcd and kube-apiserver binaries: "
            + "; ".join(problems)
            + f". {HOW_TO_GET_BINARIES}"
        )
    return BinaryPaths(etcd=found["etcd"], kube_apiserver=found["kube-apiserver"])


def _locate(
    name: str, given: str | Path | None, assets_dir: str | Path | None, env: Mapping[str, str]
) -> tuple[Path, str]:
    override = ASSET_OVERRIDE_ENV[name]
    if given is not None:
        return Path(given), "given explicitly"
    if env.get(override):
        return Path(env[override]), f"from {override}"
    if env.get(ASSETS_ENV):
        return Path(env[ASSETS_ENV]) / name, f"from {ASSETS_ENV}"
    if assets_dir is not None:
        return Path(assets_dir) / name, "from the assets directory argument"
    return Path(DEFAULT_ASSETS_DIR) / name, f"the default; {ASSETS_ENV} is not set"


def _render(flags: Mapping[str, str], overrides: Mapping[str, str] | None) -> list[str]:
    merged = {**flags, **(overrides or {})}
    return [f"--{name}={value}" for name, value in sorted(merged.items())]


def etcd_args(
    data_dir: str | Path,
    client_port: int,
    peer_port: int,
    *,
    host: str = "127.0.0.1",
    overrides: Mapping[str, str] | None = None,
) -> list[str]:
    """etcd's flags as envtest sets them (sorted by name): client and peer URLs on loopback,
    the data directory, and `--unsafe-no-fsync` (etcd 3.5+; test data need not survive a crash).
    `overrides` (flag name without dashes -> value) replace or add flags."""
    client = f"http://{host}:{client_port}"
    flags = {
        "advertise-client-urls": client,
        "data-dir": str(data_dir),
        "listen-client-urls": client,
        "listen-peer-urls": f"http://{host}:{peer_port}",
        "unsafe-no-fsync": "true",
    }
    return _render(flags, overrides)


def apiserver_args(
    *,
    cert_dir: str | Path,
    etcd_url: str,
    secure_port: int,
    token_auth_file: str | Path,
    service_account_key_file: str | Path,
    service_account_signing_key_file: str | Path,
    host: str = "127.0.0.1",
    authorization_mode: str = "RBAC",
    overrides: Mapping[str, str] | None = None,
) -> list[str]:
    """kube-apiserver's flags as envtest sets them (sorted by name), with bearer-token
    authentication (`--token-auth-file`) in place of envtest's client certificates.

    The ServiceAccount admission plugin stays disabled, as in envtest: no controller creates
    the default ServiceAccount there. `overrides` (flag name without dashes -> value) replace or
    add flags."""
    flags = {
        "advertise-address": host,
        "allow-privileged": "true",
        "authorization-mode": authorization_mode,
        "bind-address": host,
        "cert-dir": str(cert_dir),
        "disable-admission-plugins": "ServiceAccount",
        "etcd-servers": etcd_url,
        "secure-port": str(secure_port),
        "service-account-issuer": f"https://{host}:{secure_port}/",
        "service-account-key-file": str(service_account_key_file),
        "service-account-signing-key-file": str(service_account_signing_key_file),
        "service-cluster-ip-range": SERVICE_CLUSTER_IP_RANGE,
        "token-auth-file": str(token_auth_file),
    }
    return _render(flags, overrides)


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct ports free on `host` now (bound to port 0, then released)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((host, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


async def _openssl(*args: str) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ControlPlaneError("the real control plane needs the `openssl` command for its keys")
    process = await asyncio.create_subprocess_exec(
        openssl, *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await process.communicate()
    if process.returncode != 0:
        raise ControlPlaneError(f"openssl {args[0]} failed: {stderr.decode(errors='replace')}")


async def write_service_account_keys(directory: Path) -> tuple[Path, Path]:
    """An ECDSA P-256 key pair for signing ServiceAccount tokens: (public key, private key)."""
    private, public = directory / "sa-signer.key", directory / "sa-signer.pub"
    await _openssl(
        "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(private)
    )
    await _openssl("pkey", "-in", str(private), "-pubout", "-out", str(public))
    private.chmod(0o600)
    return public, private


CRDS_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


async def install_crds(
    server_url: str,
    token: str,
    crds: Iterable[Mapping[str, Any]],
    *,
    ssl_context: ssl.SSLContext | None = None,
    within: float = 30.0,
    clock: Clock = REAL_CLOCK,
) -> list[str]:
    """Create (or update, keeping the stored resourceVersion) each CustomResourceDefinition
    through the API at `server_url`, then wait until all are Established and their served
    versions list them in discovery (as envtest's WaitForCRDs). Returns their names.

    Raises ControlPlaneError with the server's message when a write is refused, or when a CRD is
    not ready within `within` seconds (its names may conflict with another CRD's).
    """
    headers = {"Authorization": f"Bearer {token}"}
    root = server_url.rstrip("/")
    base = root + CRDS_PATH
    installed = []
    async with aiohttp.ClientSession(headers=headers) as session:

        async def call(method: str, url: str, body: Any = None) -> tuple[int, Any]:
            ssl_arg: ssl.SSLContext | bool = ssl_context or True
            async with session.request(method, url, json=body, ssl=ssl_arg) as response:
                return response.status, await response.json(content_type=None)

        async def ready(crd: Mapping[str, Any]) -> bool:
            _, current = await call("GET", f"{base}/{crd['metadata']['name']}")
            if not _established(current):
                return False
            spec = crd["spec"]
            for version in (v["name"] for v in spec["versions"] if v.get("served", True)):
                status, listing = await call("GET", f"{root}/apis/{spec['group']}/{version}")
                resources = listing.get("resources", []) if status == 200 else []
                if spec["names"]["plural"] not in {r.get("name") for r in resources}:
                    return False
            return True

        for crd in crds:
            name = crd["metadata"]["name"]
            body = {
                **crd,
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
            }
            status, answer = await call("POST", base, body)
            if status == 409:
                _, current = await call("GET", f"{base}/{name}")
                version = current["metadata"]["resourceVersion"]
                body["metadata"] = {**body["metadata"], "resourceVersion": version}
                status, answer = await call("PUT", f"{base}/{name}", body)
            if status >= 300:
                message = answer.get("message") if isinstance(answer, dict) else answer
                raise ControlPlaneError(f"CustomResourceDefinition {name}: {status} {message}")
            installed.append(crd)
        deadline = clock.now() + within
        for crd in installed:
            while not await ready(crd):
                if clock.now() >= deadline:
                    raise ControlPlaneError(
                        f"CustomResourceDefinition {crd['metadata']['name']} is not "
                        f"Established and discoverable after {within:g}s"
                    )
                await clock.sleep(0.1)
    return [crd["metadata"]["name"] for crd in installed]


def _established(crd: Any) -> bool:
    conditions = ((crd or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no output)"
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"


class _Process:
    """One child process with its output in a log file."""

    def __init__(self, name: str, process: asyncio.subprocess.Process, log: Path) -> None:
        self.name = name
        self.process = process
        self.log = log

    @classmethod
    async def spawn(cls, name: str, binary: Path, args: Sequence[str], log: Path) -> _Process:
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                str(binary), *args, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out
            )
        return cls(name, process, log)

    def failure(self, what: str) -> ControlPlaneError:
        return ControlPlaneError(
            f"{self.name} {what}; last lines of its output:\n{_tail(self.log)}"
        )

    async def wait_ready(
        self,
        url: str,
        *,
        within: float,
        clock: Clock,
        ssl_context: ssl.SSLContext | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Poll `url` until it answers 200; ControlPlaneError if the process exits first or
        `within` seconds pass."""
        deadline = clock.now() + within
        probe_timeout = aiohttp.ClientTimeout(total=2)
        async with aiohttp.ClientSession(timeout=probe_timeout) as session:
            while True:
                if self.process.returncode is not None:
                    raise self.failure(f"exited with code {self.process.returncode} while starting")
                try:
                    async with session.get(
                        url, ssl=ssl_context or True, headers=headers
                    ) as response:
                        if response.status == 200:
                            return
                except (aiohttp.ClientError, OSError, TimeoutError):
                    pass
                if clock.now() >= deadline:
                    raise self.failure(f"was not ready at {url} within {within:g}s")
                await clock.sleep(0.1)

    async def stop(self, grace: float) -> None:
        """SIGTERM, then SIGKILL if still running after `grace` seconds."""
        if self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), grace)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


class RealControlPlane(Service):
    """etcd and kube-apiserver as child processes, with a kubeconfig for an admin bearer token.

    `start` picks free loopback ports, writes keys, a token file and certificates to a temporary
    directory, starts etcd and waits for its /health, starts kube-apiserver and waits for its
    /readyz, writes the kubeconfig (to `kubeconfig_path`, or into the temporary directory) and
    installs the CRDs of `crd_paths` (Established before `start` returns).
    A process that exits or is not ready within `start_timeout` seconds fails `start` with
    ControlPlaneError (carrying its last output lines) after everything started is stopped.
    `stop` sends SIGTERM (kube-apiserver first), SIGKILL after `stop_timeout` seconds, and removes
    the temporary directory. `*_flags` override or add flags (name without dashes -> value).
    """

    def __init__(
        self,
        binaries: BinaryPaths | None = None,
        *,
        host: str = "127.0.0.1",
        authorization_mode: str = "RBAC",
        start_timeout: float = 60.0,
        stop_timeout: float = 10.0,
        kubeconfig_path: str | Path | None = None,
        crd_paths: Iterable[str | Path] = (),
        etcd_flags: Mapping[str, str] | None = None,
        apiserver_flags: Mapping[str, str] | None = None,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self._binaries = binaries
        self.host = host
        self.authorization_mode = authorization_mode
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.etcd_flags = dict(etcd_flags or {})
        self.apiserver_flags = dict(apiserver_flags or {})
        self._clock = clock
        self._kubeconfig_arg = Path(kubeconfig_path) if kubeconfig_path else None
        self.crd_paths = list(crd_paths)
        self._kubeconfig: Path | None = None
        self._workdir: Path | None = None
        self._processes: list[_Process] = []
        self.token = secrets.token_urlsafe(32)
        self.server_url = ""
        self.etcd_url = ""
        self.ca_pem = b""
        self._client_ssl: ssl.SSLContext | None = None

    @property
    def kubeconfig(self) -> str:
        if self._kubeconfig is None:
            raise RuntimeError("the control plane is not started")
        return str(self._kubeconfig)

    @property
    def running(self) -> bool:
        return bool(self._processes) and all(p.process.returncode is None for p in self._processes)

    async def start(self) -> None:
        if self._workdir is not None:
            raise RuntimeError("the control plane is already started")
        binaries = self._binaries or find_binaries()
        self._workdir = Path(tempfile.mkdtemp(prefix="kubeloop-envtest-real-"))
        try:
            await self._start(binaries, self._workdir)
        except BaseException:
            await self.stop()
            raise

    async def _start(self, binaries: BinaryPaths, workdir: Path) -> None:
        cert_dir, data_dir = workdir / "certs", workdir / "etcd-data"
        cert_dir.mkdir()
        data_dir.mkdir(mode=0o700)
        cert = serving_cert(self.host)
        # kube-apiserver serves <cert-dir>/apiserver.{crt,key} when no --tls-cert-file is given.
        shutil.copyfile(cert.cert_file, cert_dir / "apiserver.crt")
        shutil.copyfile(cert.key_file, cert_dir / "apiserver.key")
        self.ca_pem = cert.cert_pem
        self._client_ssl = cert.client_context()
        sa_public, sa_private = await write_service_account_keys(cert_dir)
        token_file = workdir / "tokens.csv"
        token_file.write_text(f'{self.token},{ADMIN_USER},{ADMIN_USER},"{ADMIN_GROUP}"\n')
        token_file.chmod(0o600)
        client_port, peer_port, secure_port = free_ports(3, self.host)
        self.etcd_url = f"http://{self.host}:{client_port}"
        self.server_url = f"https://{self.host}:{secure_port}"

        etcd = await self._spawn(
            "etcd",
            binaries.etcd,
            etcd_args(data_dir, client_port, peer_port, host=self.host, overrides=self.etcd_flags),
        )
        await etcd.wait_ready(
            f"{self.etcd_url}/health", within=self.start_timeout, clock=self._clock
        )
        args = apiserver_args(
            cert_dir=cert_dir,
            etcd_url=self.etcd_url,
            secure_port=secure_port,
            token_auth_file=token_file,
            service_account_key_file=sa_public,
            service_account_signing_key_file=sa_private,
            host=self.host,
            authorization_mode=self.authorization_mode,
            overrides=self.apiserver_flags,
        )
        apiserver = await self._spawn("kube-apiserver", binaries.kube_apiserver, args)
        await apiserver.wait_ready(
            f"{self.server_url}/readyz",
            within=self.start_timeout,
            clock=self._clock,
            ssl_context=self._client_ssl,
            headers={"Authorization": f"Bearer {self.token}"},
        )
        self._write_kubeconfig(workdir)
        if self.crd_paths:
            await self.install_crds(self.crd_paths)

    async def _spawn(self, name: str, binary: Path, args: Sequence[str]) -> _Process:
        assert self._workdir is not None
        process = await _Process.spawn(name, binary, args, self._workdir / f"{name}.log")
        self._processes.append(process)
        return process

    async def install_crds(self, crds: Iterable[str | Path | Mapping[str, Any]]) -> list[str]:
        """Create or update the CRDs (YAML files or directories, or dicts); each is Established
        when this returns. Returns their names."""
        return await install_crds(
            self.server_url,
            self.token,
            crd_documents(crds),
            ssl_context=self._client_ssl,
            within=self.start_timeout,
            clock=self._clock,
        )

    def _write_kubeconfig(self, workdir: Path) -> None:
        path = self._kubeconfig_arg or workdir / "kubeconfig"
        write_kubeconfig(path, self.server_url, self.token, self.ca_pem)
        self._kubeconfig = path

    def log_tail(self, name: str, lines: int = 20) -> str:
        """The last lines of a process's output ("etcd" or "kube-apiserver")."""
        for process in self._processes:
            if process.name == name:
                return _tail(process.log, lines)
        return "(not started)"

    async def stop(self) -> None:
        """Stop the processes (newest first) and remove the temporary directory. Idempotent."""
        processes, self._processes = self._processes, []
        for process in reversed(processes):
            await process.stop(self.stop_timeout)
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        self._kubeconfig = None
