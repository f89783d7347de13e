"""A self-signed serving certificate for the local API server.

client-go (kubectl) sends a kubeconfig's bearer token only over TLS, so the server speaks
HTTPS with a certificate made here (by the `openssl` command: the standard library cannot
create certificates) and the kubeconfig carries it as its certificate authority. One key pair
is made per process and host, then reused.
"""

from __future__ import annotations

import functools
import ipaddress
import shutil
import ssl
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ServingCert:
    """PEM files of a certificate (which is its own CA) and its private key."""

    cert_file: Path
    key_file: Path

    @property
    def cert_pem(self) -> bytes:
        return self.cert_file.read_bytes()

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert_file))


def _subject_alt_names(host: str) -> str:
    names = {"IP:127.0.0.1", "IP:::1", "DNS:localhost"}
    try:
        ipaddress.ip_address(host)
        names.add(f"IP:{host}")
    except ValueError:
        names.add(f"DNS:{host}")
    return ",".join(sorted(names))


@functools.cache
def serving_cert(host: str = "127.0.0.1") -> ServingCert:
    """A certificate valid for loopback and `host` (made once per process and host).

    Raises RuntimeError when the `openssl` command is not available.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError(
            "the local API server needs the `openssl` command to make its certificate"
        )
    directory = Path(tempfile.mkdtemp(prefix="kubeloop-envtest-tls-"))
    cert, key = directory / "tls.crt", directory / "tls.key"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "3650",
            "-subj",
            "/CN=kubeloop-envtest",
            "-addext",
            f"subjectAltName={_subject_alt_names(host)}",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,digitalSignature,keyCertSign",
            "-addext",
            "extendedKeyUsage=serverAuth",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    key.chmod(0o600)
    return ServingCert(cert, key)
