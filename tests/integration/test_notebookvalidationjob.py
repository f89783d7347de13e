"""The NotebookValidationJob controller against the local control plane, with the simulated
kubelet and build systems: every phase path, each build strategy, failures, both timeouts,
legacy phase migration, and coverage of every declared edge."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import pytest
from test_capt_support import Running, managed, phase_log, running
from test_common_support import condition, phase_of

from api.mlops.v1alpha1 import NotebookValidationJob
from controllers import notebookvalidationjob as nvj
from controllers.builds import (
    BUILD_JOB,
    OPENSHIFT_BUILD,
    PIPELINE_RUN,
    BuildObservation,
    BuildStrategy,
    JobBuild,
    OpenShiftBuild,
    TektonBuild,
    build_name,
)
from controllers.simulation.builds import OpenShiftBuildActor, TektonActor
from framework.envtest.simulator import FailureInjection, Kubelet, StageTiming
from framework.manager import Setup

JSON = dict[str, Any]
NVJ = NotebookValidationJob.resource_info().gvk
CONTROLLER = nvj.NotebookValidationJobReconciler.controller_name
IMAGE = "quay.io/jupyter/minimal-notebook:latest"
ACTORS = (Kubelet(), TektonActor(), OpenShiftBuildActor())
BUILD_KINDS = {"job": BUILD_JOB, "tekton": PIPELINE_RUN, "s2i": OPENSHIFT_BUILD}


def job(
    name: str,
    *,
    image: str = IMAGE,
    url: str = "https://github.com/kubeloop/example-notebooks.git",
    build: str | None = None,
    build_timeout: str | None = None,
    timeout: str | None = None,
) -> JSON:
    spec: JSON = {
        "notebook": {"git": {"url": url, "ref": "main"}, "path": "notebooks/quickstart.ipynb"},
        "podConfig": {"containerImage": image},
    }
    if build is not None:
        config: JSON = {"enabled": True, "strategy": build}
        if build_timeout is not None:
            config["timeout"] = build_timeout
        spec["podConfig"]["buildConfig"] = config
    if timeout is not None:
        spec["timeout"] = timeout
    return {
        "apiVersion": NVJ.api_version,
        "kind": NVJ.kind,
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


def setup_with(**options: Any) -> Setup:
    return functools.partial(nvj.setup, **options)


async def finished(cluster: Running, name: str) -> JSON:
    return await cluster.wait_for(NVJ, name, lambda o: phase_of(o) in ("Succeeded", "Failed"))


async def validation_pod(cluster: Running, name: str) -> JSON:
    return await cluster.get(nvj.POD, f"{name}-validation")


def build_count(cluster: Running, strategy: str) -> float:
    value = cluster.registry.get_sample_value(
        "notebook_build_duration_seconds_count", {"strategy": strategy, "result": "complete"}
    )
    return value or 0.0


async def test_without_build_the_notebook_runs_in_the_spec_image() -> None:
    async with running([nvj.setup], ACTORS) as cluster:
        created = await cluster.client.create(job("plain"))
        done = await finished(cluster, "plain")
        assert phase_of(done) == "Succeeded"
        status = done["status"]
        assert status["message"] == "notebook validation passed"
        assert status["completionTime"]
        assert status["results"] == [
            {"cellIndex": 0, "status": "Succeeded", "message": "exit code 0"}
        ]
        assert condition(done, "BuildReady")["reason"] == "NoBuildNeeded"
        assert condition(done, "Ready")["status"] == "True"
        pod = await validation_pod(cluster, "plain")
        assert pod["spec"]["containers"][0]["image"] == IMAGE
        owner = pod["metadata"]["ownerReferences"][0]
        assert (owner["uid"], owner["controller"]) == (created["metadata"]["uid"], True)
        assert "buildStatus" not in status


@pytest.mark.parametrize("strategy", ["job", "tekton", "s2i"])
async def test_each_build_strategy_builds_then_validates_in_the_built_image(
    strategy: str,
) -> None:
    async with running([nvj.setup], ACTORS) as cluster:
        await cluster.client.create(job("built", build=strategy))
        done = await finished(cluster, "built")
        assert phase_of(done) == "Succeeded", done["status"]
        build = done["status"]["buildStatus"]
        expected = "image-registry.kubeloop.local/default/built:main"
        assert build["phase"] == "Complete"
        assert build["imageReference"] == expected
        assert build["duration"].endswith("s")
        assert build["startTime"]
        assert build["completionTime"]
        assert condition(done, "BuildReady")["status"] == "True"
        pod = await validation_pod(cluster, "built")
        assert pod["spec"]["containers"][0]["image"] == expected
        built = await cluster.get(BUILD_KINDS[strategy], "built-build")
        assert built["metadata"]["ownerReferences"][0]["kind"] == "NotebookValidationJob"
        assert build_count(cluster, strategy) == 1


@pytest.mark.parametrize(
    ("strategy", "options"),
    [
        ("job", {"strategies": {"job": JobBuild(builder_image="example.com/fail-builder:1")}}),
        ("tekton", {}),
        ("s2i", {}),
    ],
)
async def test_a_failed_build_fails_the_job(strategy: str, options: Mapping[str, Any]) -> None:
    async with running([setup_with(**options)], ACTORS) as cluster:
        await cluster.client.create(job("broken", build=strategy, url="https://git/fail.git"))
        done = await finished(cluster, "broken")
        assert phase_of(done) == "Failed"
        assert done["status"]["buildStatus"]["phase"] == "Failed"
        assert done["status"]["message"].startswith("build failed")
        assert condition(done, "BuildReady")["reason"] == "BuildFailed"
        assert condition(done, "Stalled")["status"] == "True"
        assert await cluster.find(nvj.POD, "broken-validation") is None


async def test_an_injected_build_failure_fails_the_job() -> None:
    always = FailureInjection({"tekton": 1.0})
    async with running([nvj.setup], ACTORS, failures=always) as cluster:
        await cluster.client.create(job("unlucky", build="tekton"))
        done = await finished(cluster, "unlucky")
        assert phase_of(done) == "Failed"
        assert done["status"]["buildStatus"]["phase"] == "Failed"


async def test_a_failing_notebook_fails_the_job() -> None:
    async with running([nvj.setup], ACTORS) as cluster:
        await cluster.client.create(job("red", image="quay.io/x/fail-notebook:1"))
        done = await finished(cluster, "red")
        assert phase_of(done) == "Failed"
        assert done["status"]["message"].startswith("notebook validation failed")
        assert done["status"]["results"][0]["status"] == "Failed"
        assert condition(done, "ValidationComplete")["reason"] == "ValidationFailed"


async def test_a_build_that_outlives_its_timeout_fails_with_build_timeout() -> None:
    slow = StageTiming(scale=0.05, delays={"tekton.run": 600.0})
    async with running([nvj.setup], ACTORS, timing=slow) as cluster:
        await cluster.client.create(job("slow", build="tekton", build_timeout="1s"))
        done = await finished(cluster, "slow")
        assert phase_of(done) == "Failed"
        assert condition(done, "Stalled")["reason"] == "BuildTimeout"
        assert "BuildTimeout" in done["status"]["message"]


async def test_a_job_that_outlives_its_deadline_fails_with_timeout() -> None:
    slow = StageTiming(scale=0.05, delays={"kubelet.run": 600.0})
    async with running([nvj.setup], ACTORS, timing=slow) as cluster:
        await cluster.client.create(job("long", timeout="1s"))
        done = await finished(cluster, "long")
        assert phase_of(done) == "Failed"
        assert condition(done, "Stalled")["reason"] == "Timeout"
        pod = await validation_pod(cluster, "long")
        assert pod["status"]["phase"] == "Running"


async def test_legacy_phases_are_migrated_once_and_never_written() -> None:
    async with running([], ACTORS) as cluster:
        client = cluster.client
        for name, phase in (("old-pending", "Pending"), ("old-running", "Running")):
            created = await client.create(job(name))
            started = created["metadata"]["creationTimestamp"]
            patch = {"status": {"phase": phase, "startTime": started}}
            await client.patch(NVJ, name, patch, namespace="default", subresource="status")
        async with phase_log(client, NVJ) as log, managed(client, [nvj.setup]):
            for name in ("old-pending", "old-running"):
                assert phase_of(await finished(cluster, name)) == "Succeeded"
    assert log["old-pending"] == ["Pending", "Initializing", "ValidationRunning", "Succeeded"]
    assert log["old-running"] == ["Running", "ValidationRunning", "Succeeded"]


class NoImageBuild(JobBuild):
    """A Job build that reports no image."""

    def observe(self, build: Mapping[str, Any]) -> BuildObservation:
        seen = super().observe(build)
        return BuildObservation(seen.phase, seen.message, None, seen.started, seen.completed)


async def test_every_declared_edge_is_taken() -> None:
    strategies: dict[str, BuildStrategy] = {
        "job": NoImageBuild(),
        "tekton": TektonBuild(),
        "s2i": OpenShiftBuild(),
    }
    async with running([setup_with(strategies=strategies)], ACTORS) as cluster:
        for obj in (
            job("plain"),
            job("fail-in-validation", build="tekton"),
            job("build-fails", build="s2i", url="https://git/fail.git"),
            job("no-image", build="job"),
        ):
            await cluster.client.create(obj)
        for name in ("plain", "fail-in-validation", "build-fails", "no-image"):
            await finished(cluster, name)
        assert phase_of(await cluster.get(NVJ, "plain")) == "Succeeded"
        no_image = await cluster.get(NVJ, "no-image")
        assert no_image["status"]["message"] == "the build completed without an image reference"
        assert cluster.transitions(CONTROLLER) == set(nvj.MACHINE.edges)


def test_build_names_follow_the_job() -> None:
    model = NotebookValidationJob.model_validate(job("x", build="job"))
    assert build_name(model) == "x-build"


async def test_a_cancelled_build_fails_the_job() -> None:
    slow = StageTiming(scale=0.05, delays={"tekton.run": 600.0})
    async with running([nvj.setup], ACTORS, timing=slow) as cluster:
        await cluster.client.create(job("stopped", build="tekton"))
        await cluster.wait_for(PIPELINE_RUN, "stopped-build", lambda run: "status" in run)
        cancel = {"spec": {"status": "Cancelled"}}
        await cluster.client.patch(PIPELINE_RUN, "stopped-build", cancel, namespace="default")
        done = await finished(cluster, "stopped")
        assert phase_of(done) == "Failed"
        assert done["status"]["buildStatus"]["phase"] == "Cancelled"
        assert condition(done, "BuildReady")["reason"] == "BuildCancelled"


async def test_a_strategy_the_controller_lacks_fails_the_job() -> None:
    only_tekton = setup_with(strategies={"tekton": TektonBuild()})
    async with running([only_tekton], ACTORS) as cluster:
        await cluster.client.create(job("odd", build="s2i"))
        done = await finished(cluster, "odd")
        assert phase_of(done) == "Failed"
        assert condition(done, "BuildReady")["reason"] == "UnknownStrategy"
