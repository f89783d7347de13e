"""The manager's settings, named like a kubebuilder manager's flags.

Each setting comes from, in order of precedence: a command-line flag (`--metrics-bind-address`),
an environment variable (`KUBELOOP_METRICS_BIND_ADDRESS`), its default. List settings take a
flag repeatedly (`--namespace a --namespace b`) or comma-separated (`KUBELOOP_NAMESPACE=a,b`,
`--namespace a,b`); flags given for a list replace the environment's list. Durations are seconds
or Go durations ("90s", "1m30s", "500ms"). Invalid values raise `SettingsError` naming the flag
and the environment variable; the caller decides the exit code.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, NoReturn, Self, get_args, get_origin

from pydantic import BeforeValidator, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from framework.leaderelection import LeaderElectionConfig, check_timing

__all__ = ["ENV_PREFIX", "BindAddress", "ManagerSettings", "SettingsError", "parse_duration"]

ENV_PREFIX = "KUBELOOP_"
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


class SettingsError(ValueError):
    """A setting had an invalid value, or the command line could not be parsed."""


class BindAddress(NamedTuple):
    """Where a server listens; host "" means every interface (`host or None` for aiohttp)."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_bind_address(value: object) -> BindAddress | None:
    """Parse "[host]:port" into a BindAddress, or "0" into None (server disabled, as in
    controller-runtime). Port 0 asks the system for a free port."""
    if value is None or isinstance(value, BindAddress):
        return value
    if isinstance(value, tuple | list) and len(value) == 2:
        return parse_bind_address(f"{value[0]}:{value[1]}")
    text = str(value).strip()
    if text == "0":
        return None
    host, colon, port = text.rpartition(":")
    if not colon or not port.isdigit() or int(port) > 65535 or any(c.isspace() for c in host):
        raise ValueError(f"{text!r} is not a bind address: expected [host]:port, or 0 to disable")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"{text!r}: write an IPv6 host in brackets, e.g. [::1]:8080")
    return BindAddress(host, int(port))


_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: object) -> float:
    """Seconds from a number or a Go duration string ("1m30s", "250ms")."""
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    parts = _GO_DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"{text!r} is not a duration: expected seconds or e.g. 90s, 1m30s")
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def _split_list(value: object) -> object:
    """Flatten strings and lists of strings on commas, dropping empty items."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        return value
    return [part.strip() for item in items for part in str(item).split(",") if part.strip()]


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


Address = Annotated[BindAddress | None, NoDecode, BeforeValidator(parse_bind_address)]
Names = Annotated[list[str], NoDecode, BeforeValidator(_split_list)]
Seconds = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]


class ManagerSettings(BaseSettings):
    """Settings of the `manager` binary (flags, `KUBELOOP_*` environment variables, defaults)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", validate_default=True, frozen=True
    )

    metrics_bind_address: Address = Field(
        default=BindAddress("", 8080),
        description="[host]:port of the metrics endpoint; 0 disables it",
    )
    health_probe_bind_address: Address = Field(
        default=BindAddress("", 8081),
        description="[host]:port of /healthz and /readyz; 0 disables them",
    )
    leader_elect: bool = Field(
        default=False, description="elect a leader so only one replica runs the controllers"
    )
    leader_election_id: str = Field(
        default="kubeloop-manager", min_length=1, description="name of the leader election Lease"
    )
    leader_election_namespace: str | None = Field(
        default=None,
        description="namespace of the Lease (default: the pod's namespace when in a cluster)",
    )
    leader_election_lease_duration: Seconds = Field(
        default=15.0, description="how long standbys wait before taking an unrenewed lease"
    )
    leader_election_renew_deadline: Seconds = Field(
        default=10.0, description="how long the leader retries renewing before giving up"
    )
    leader_election_retry_period: Seconds = Field(
        default=2.0, description="time between leader election attempts"
    )
    namespace: Names = Field(
        default=[], description="namespace to watch (repeatable; default: all namespaces)"
    )
    max_concurrent_reconciles: int = Field(
        default=1, ge=1, description="reconcile workers per controller"
    )
    controllers: Names = Field(
        default=[], description="controller to run, by name (repeatable; default: all)"
    )
    module: Names = Field(
        default=[], description="extra module to import for its reconcilers (repeatable)"
    )
    log_format: Literal["json", "console", "auto"] = Field(
        default="auto", description="json, console, or auto (console on a terminal)"
    )
    log_level: Annotated[
        Literal["debug", "info", "warning", "error", "critical"], BeforeValidator(_lower)
    ] = Field(default="info", description="lowest level logged")
    kubeconfig: Path | None = Field(
        default=None, description="kubeconfig file (default: in-cluster, else $KUBECONFIG)"
    )
    graceful_shutdown_timeout: Seconds = Field(
        default=30.0, description="how long to wait for controllers to stop on shutdown"
    )

    @model_validator(mode="after")
    def _check_lease_timing(self) -> Self:
        try:
            check_timing(
                self.leader_election_lease_duration,
                self.leader_election_renew_deadline,
                self.leader_election_retry_period,
            )
        except ValueError as error:
            raise ValueError(f"--leader-election-* durations: {error}") from None
        return self

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Add one flag per setting; a flag not given leaves its attribute unset."""
        for name, field in cls.model_fields.items():
            flag = "--" + name.replace("_", "-")
            options: dict[str, Any] = {
                "dest": name,
                "default": argparse.SUPPRESS,
                "help": f"{field.description} (env {ENV_PREFIX}{name.upper()})",
            }
            if field.default not in (None, []):
                options["help"] += f" [default: {field.default}]"
            if field.annotation is bool:
                options.update(nargs="?", const="true", metavar="true|false")
            elif get_origin(field.annotation) is list:
                options.update(action="append", metavar="NAME")
            elif get_origin(field.annotation) is Literal:
                options.update(metavar="|".join(get_args(field.annotation)))
            parser.add_argument(flag, **options)

    @classmethod
    def from_namespace(cls, parsed: argparse.Namespace) -> ManagerSettings:
        """Settings from parsed flags (see `add_arguments`) over the environment."""
        flags = {name: value for name, value in vars(parsed).items() if name in cls.model_fields}
        try:
            return cls(**flags)
        except ValidationError as error:
            raise SettingsError(_describe(error)) from None

    @classmethod
    def from_args(cls, argv: Sequence[str]) -> ManagerSettings:
        """Settings from command-line arguments (no program name) over the environment."""
        parser = _Parser(prog="manager", description="Run the kubeloop controller manager.")
        cls.add_arguments(parser)
        return cls.from_namespace(parser.parse_args(list(argv)))

    def leader_election_config(
        self, namespace_file: Path = SERVICE_ACCOUNT_NAMESPACE
    ) -> LeaderElectionConfig:
        """The elector's config; the Lease lives in `leader_election_namespace` or, if unset,
        the namespace of the pod's service account (SettingsError outside a cluster)."""
        namespace = self.leader_election_namespace
        if namespace is None:
            try:
                namespace = namespace_file.read_text().strip()
            except OSError:
                raise SettingsError(
                    "--leader-election-namespace is required when not running in a cluster"
                ) from None
        return LeaderElectionConfig(
            name=self.leader_election_id,
            namespace=namespace,
            lease_duration=self.leader_election_lease_duration,
            renew_deadline=self.leader_election_renew_deadline,
            retry_period=self.leader_election_retry_period,
        )


class _Parser(argparse.ArgumentParser):
    """Raises SettingsError instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise SettingsError(message)


def _describe(error: ValidationError) -> str:
    lines = []
    for problem in error.errors(include_url=False):
        location = [str(part) for part in problem["loc"] if isinstance(part, str)]
        message = problem["msg"].removeprefix("Value error, ")
        if location:
            name = location[0]
            where = f"--{name.replace('_', '-')} ({ENV_PREFIX}{name.upper()})"
            lines.append(f"{where}: {message} (got {problem.get('input')!r})")
        else:
            lines.append(message)
    return "invalid settings:\n  " + "\n  ".join(lines)
