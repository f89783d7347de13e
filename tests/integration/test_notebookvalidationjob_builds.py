"""The build strategies of the NotebookValidationJob controller, without a server: what each
renders and how each reads its build object's status (pure; sits with the controller's
integration tests)."""

from __future__ import annotations

from typing import Any

import pytest

from api.mlops.v1alpha1 import NotebookValidationJob
from controllers.builds import (
    OUTPUT_IMAGE,
    JobBuild,
    OpenShiftBuild,
    TektonBuild,
    default_strategies,
    output_image,
)

JSON = dict[str, Any]
IMAGE = "registry.example/ns/nb:main"


def model(ref: str = "main", base: str | None = None) -> NotebookValidationJob:
    build: JSON = {"enabled": True}
    if base is not None:
        build["baseImage"] = base
    return NotebookValidationJob.model_validate(
        {
            "metadata": {"name": "nb", "namespace": "ns", "uid": "u-1"},
            "spec": {
                "notebook": {"git": {"url": "https://git.example/r.git", "ref": ref}, "path": "a"},
                "podConfig": {"containerImage": "quay.io/x/base:1", "buildConfig": build},
            },
        }
    )


def test_the_output_image_is_tagged_with_the_git_ref() -> None:
    assert output_image(model(), "reg") == "reg/ns/nb:main"
    assert output_image(model(ref="feature/x+y"), "reg") == "reg/ns/nb:feature-x-y"


def test_strategies_are_named_as_the_spec_names_them() -> None:
    assert sorted(default_strategies()) == ["job", "s2i", "tekton"]


@pytest.mark.parametrize("strategy", [JobBuild(), TektonBuild(), OpenShiftBuild()])
def test_every_build_object_records_its_output_image(strategy: Any) -> None:
    desired = strategy.desired(model(base="quay.io/x/other:2"), IMAGE)
    assert desired["metadata"]["name"] == "nb-build"
    assert desired["metadata"]["namespace"] == "ns"
    assert desired["metadata"]["annotations"][OUTPUT_IMAGE] == IMAGE
    assert "quay.io/x/other:2" in str(desired["spec"])
    assert strategy.observe(desired).phase == "Pending"
    assert strategy.observe(desired).image == IMAGE


def with_status(obj: JSON, status: JSON) -> JSON:
    return {**obj, "status": status}


def test_job_conditions_give_the_outcome() -> None:
    desired = JobBuild().desired(model(), IMAGE)
    running = with_status(desired, {"startTime": "2026-01-01T00:00:00Z", "active": 1})
    assert JobBuild().observe(running).phase == "Running"
    complete = with_status(
        desired,
        {
            "startTime": "2026-01-01T00:00:00Z",
            "completionTime": "2026-01-01T00:01:30Z",
            "conditions": [{"type": "Complete", "status": "True"}],
        },
    )
    seen = JobBuild().observe(complete)
    assert seen.phase == "Complete"
    assert seen.completed is not None
    assert seen.started is not None
    assert (seen.completed - seen.started).total_seconds() == 90
    failed = with_status(
        desired,
        {"conditions": [{"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}]},
    )
    assert (JobBuild().observe(failed).phase, JobBuild().observe(failed).message) == (
        "Failed",
        "BackoffLimitExceeded",
    )


@pytest.mark.parametrize(
    ("status", "reason", "phase"),
    [
        ("Unknown", "Running", "Running"),
        ("Unknown", "PipelineRunPending", "Pending"),
        ("True", "Succeeded", "Complete"),
        ("False", "Failed", "Failed"),
        ("False", "Cancelled", "Cancelled"),
        ("False", "StoppedRunFinally", "Cancelled"),
    ],
)
def test_tekton_succeeded_condition_gives_the_outcome(status: str, reason: str, phase: str) -> None:
    desired = TektonBuild().desired(model(), IMAGE)
    condition = {"type": "Succeeded", "status": status, "reason": reason}
    assert TektonBuild().observe(with_status(desired, {"conditions": [condition]})).phase == phase


def test_tekton_reports_the_image_url_result() -> None:
    desired = TektonBuild().desired(model(), IMAGE)
    results = [{"name": "IMAGE_URL", "value": "other/image:1"}]
    assert (
        TektonBuild().observe(with_status(desired, {"results": results})).image == "other/image:1"
    )


@pytest.mark.parametrize(
    ("phase", "expected"),
    [("New", "Pending"), ("Running", "Running"), ("Complete", "Complete"), ("Error", "Failed")],
)
def test_openshift_build_phase_gives_the_outcome(phase: str, expected: str) -> None:
    desired = OpenShiftBuild().desired(model(), IMAGE)
    status = {"phase": phase, "outputDockerImageReference": "built/image@sha256:1"}
    seen = OpenShiftBuild().observe(with_status(desired, status))
    assert seen.phase == expected
    assert seen.image == "built/image@sha256:1"
