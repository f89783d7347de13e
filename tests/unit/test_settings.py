"""ManagerSettings: defaults, KUBELOOP_* environment variables, flags over the environment,
repeatable flags, bind addresses, durations and clear errors for bad values."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from framework.settings import (
    BindAddress,
    ManagerSettings,
    SettingsError,
    parse_bind_address,
    parse_duration,
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("KUBELOOP_"):
            monkeypatch.delenv(name)


def test_defaults_match_a_kubebuilder_manager() -> None:
    settings = ManagerSettings.from_args([])
    assert settings.metrics_bind_address == BindAddress("", 8080)
    assert settings.health_probe_bind_address == BindAddress("", 8081)
    assert settings.leader_elect is False
    assert settings.leader_election_id == "kubeloop-manager"
    assert settings.leader_election_namespace is None
    assert (
        settings.leader_election_lease_duration,
        settings.leader_election_renew_deadline,
        settings.leader_election_retry_period,
    ) == (15.0, 10.0, 2.0)
    assert settings.namespace == settings.controllers == settings.module == []
    assert settings.max_concurrent_reconciles == 1
    assert (settings.log_format, settings.log_level) == ("auto", "info")
    assert settings.kubeconfig is None
    assert settings.graceful_shutdown_timeout == 30.0


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    environment = {
        "KUBELOOP_METRICS_BIND_ADDRESS": "0",
        "KUBELOOP_HEALTH_PROBE_BIND_ADDRESS": "127.0.0.1:0",
        "KUBELOOP_LEADER_ELECT": "true",
        "KUBELOOP_LEADER_ELECTION_ID": "my-lock",
        "KUBELOOP_LEADER_ELECTION_NAMESPACE": "system",
        "KUBELOOP_NAMESPACE": "team-a, team-b",
        "KUBELOOP_MAX_CONCURRENT_RECONCILES": "4",
        "KUBELOOP_CONTROLLERS": "workspace",
        "KUBELOOP_MODULE": "my.reconcilers,other.ones",
        "KUBELOOP_LOG_FORMAT": "json",
        "KUBELOOP_LOG_LEVEL": "WARNING",
        "KUBELOOP_KUBECONFIG": "/tmp/kubeconfig",
        "KUBELOOP_GRACEFUL_SHUTDOWN_TIMEOUT": "1m30s",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = ManagerSettings.from_args([])
    assert settings.metrics_bind_address is None
    assert settings.health_probe_bind_address == BindAddress("127.0.0.1", 0)
    assert settings.leader_elect is True
    assert (settings.leader_election_id, settings.leader_election_namespace) == (
        "my-lock",
        "system",
    )
    assert settings.namespace == ["team-a", "team-b"]
    assert settings.max_concurrent_reconciles == 4
    assert settings.controllers == ["workspace"]
    assert settings.module == ["my.reconcilers", "other.ones"]
    assert (settings.log_format, settings.log_level) == ("json", "warning")
    assert settings.kubeconfig == Path("/tmp/kubeconfig")
    assert settings.graceful_shutdown_timeout == 90.0


def test_flags_override_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBELOOP_NAMESPACE", "a,b")
    monkeypatch.setenv("KUBELOOP_METRICS_BIND_ADDRESS", "127.0.0.1:9000")
    monkeypatch.setenv("KUBELOOP_LEADER_ELECT", "true")
    monkeypatch.setenv("KUBELOOP_LOG_LEVEL", "debug")
    settings = ManagerSettings.from_args(
        ["--namespace", "c", "--metrics-bind-address", ":9090", "--leader-elect=false"]
    )
    assert settings.namespace == ["c"]
    assert settings.metrics_bind_address == BindAddress("", 9090)
    assert settings.leader_elect is False
    assert settings.log_level == "debug"  # not given as a flag: from the environment


def test_repeatable_flags() -> None:
    settings = ManagerSettings.from_args(
        [
            "--namespace=a",
            "--namespace",
            "b,c",
            "--controllers",
            "workspace",
            "--controllers",
            "captcluster",
            "--module",
            "extra.reconcilers",
        ]
    )
    assert settings.namespace == ["a", "b", "c"]
    assert settings.controllers == ["workspace", "captcluster"]
    assert settings.module == ["extra.reconcilers"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--leader-elect"], True),
        (["--leader-elect=true"], True),
        (["--leader-elect", "false"], False),
        (["--leader-elect=0"], False),
    ],
)
def test_boolean_flag_forms(argv: list[str], expected: bool) -> None:
    assert ManagerSettings.from_args(argv).leader_elect is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (":8080", BindAddress("", 8080)),
        ("127.0.0.1:0", BindAddress("127.0.0.1", 0)),
        ("localhost:65535", BindAddress("localhost", 65535)),
        ("[::1]:9443", BindAddress("::1", 9443)),
        ("0", None),
    ],
)
def test_bind_addresses(text: str, expected: BindAddress | None) -> None:
    assert parse_bind_address(text) == expected


def test_bind_address_text_round_trips() -> None:
    for text in (":8080", "127.0.0.1:0", "[::1]:9443"):
        assert str(parse_bind_address(text)) == text


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("2", 2.0), ("0.5", 0.5), ("90s", 90.0), ("1m30s", 90.0), ("250ms", 0.25), ("1h", 3600.0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--metrics-bind-address", "8080"], r"--metrics-bind-address .*expected \[host\]:port"),
        (["--health-probe-bind-address", "host:99999"], "--health-probe-bind-address"),
        (["--metrics-bind-address", "::1:80"], "IPv6 host in brackets"),
        (["--max-concurrent-reconciles", "0"], "--max-concurrent-reconciles.*greater than"),
        (["--max-concurrent-reconciles", "many"], "--max-concurrent-reconciles.*integer"),
        (["--log-format", "xml"], "--log-format.*'json', 'console' or 'auto'"),
        (["--log-level", "loud"], "--log-level"),
        (["--leader-elect=maybe"], "--leader-elect.*boolean"),
        (["--graceful-shutdown-timeout", "5parsecs"], "--graceful-shutdown-timeout.*duration"),
        (["--graceful-shutdown-timeout", "-1"], "--graceful-shutdown-timeout.*greater than 0"),
        (["--leader-election-renew-deadline", "20s"], "greater than renew_deadline"),
        (["--leader-election-id", ""], "--leader-election-id"),
        (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    ],
)
def test_bad_values_are_explained(argv: list[str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        ManagerSettings.from_args(argv)


def test_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBELOOP_METRICS_BIND_ADDRESS", "nowhere")
    with pytest.raises(SettingsError, match=r"KUBELOOP_METRICS_BIND_ADDRESS.*'nowhere'"):
        ManagerSettings.from_args([])


def test_flags_join_another_parser() -> None:
    parser = argparse.ArgumentParser(prog="manager run")
    ManagerSettings.add_arguments(parser)
    assert "KUBELOOP_METRICS_BIND_ADDRESS" in parser.format_help()
    settings = ManagerSettings.from_namespace(parser.parse_args(["--max-concurrent-reconciles=3"]))
    assert settings.max_concurrent_reconciles == 3


def test_leader_election_config(tmp_path: Path) -> None:
    settings = ManagerSettings.from_args(
        ["--leader-election-id=lock", "--leader-election-lease-duration=20s"]
    )
    with pytest.raises(SettingsError, match="--leader-election-namespace is required"):
        settings.leader_election_config(namespace_file=tmp_path / "absent")

    namespace_file = tmp_path / "namespace"
    namespace_file.write_text("operators\n")
    config = settings.leader_election_config(namespace_file=namespace_file)
    assert (config.name, config.namespace, config.lease_duration) == ("lock", "operators", 20.0)
    assert (config.renew_deadline, config.retry_period) == (10.0, 2.0)

    explicit = ManagerSettings.from_args(["--leader-election-namespace", "system"])
    assert explicit.leader_election_config(namespace_file=namespace_file).namespace == "system"
