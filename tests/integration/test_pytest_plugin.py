"""The pytest plugin, used as a user would: the out-of-tree package in tests/plugin_project
runs its own checks with the plugin's fixtures (session API server, client, namespace, running
manager, wait_for_phase) and proves that `manager run` finds its controller by `--module` and
by its `kubeloop.controllers` entry point."""

from __future__ import annotations

import asyncio
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "tests" / "plugin_project"
CHECKS = 5


def _plugin_args() -> list[str]:
    """Load the plugin by module unless its pytest11 entry point already does."""
    if entry_points(group="pytest11", name="kubeloop"):
        return []
    return ["-p", "framework.envtest.pytest_plugin"]


async def test_an_out_of_tree_project_tests_its_controller_with_the_plugin() -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("KUBELOOP_", "PYTEST_"))}
    inherited = os.environ.get("PYTHONPATH", "")
    environ["PYTHONPATH"] = os.pathsep.join(p for p in [str(PROJECT), str(ROOT), inherited] if p)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pytest",
        *_plugin_args(),
        "-p",
        "no:cacheprovider",
        "-q",
        "--rootdir",
        str(PROJECT),
        "-c",
        str(PROJECT / "pyproject.toml"),
        str(PROJECT / "checks"),
        cwd=PROJECT,
        env=environ,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(110):
        out, _ = await process.communicate()
    report = out.decode()
    assert process.returncode == 0, report
    assert f"{CHECKS} passed" in report, report
