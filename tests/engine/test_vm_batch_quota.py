"""VM batch workers under a quota (``max_batch_vms``): a job waits until all its workers
fit, in queue order; without a quota nothing waits. Hand-computed with constant boots
and durations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import capsim
from capsim.scenario.base import ScenarioError


def _scenario(tmp_path: Path, quota: int | None, workers: int = 2) -> capsim.Scenario:
    """Three jobs of 2 workers submitted at 0, 60 and 120 s; VMs boot in 100 s; every
    worker computes for 600 s (constant)."""
    vm: dict[str, Any] = {
        "kind": "vm",
        "instance": {
            "vcpu": 4,
            "memory": "16Gi",
            "price_per_hour": 0.2,
            "boot": "100s",
        },
        "workloads": {"train": {}},
    }
    if quota is not None:
        vm["max_batch_vms"] = quota
    data = {
        "name": "quota",
        "duration": "2h",
        "tick": "10s",
        "workloads": [
            {
                "kind": "batch",
                "name": "train",
                "arrivals": {"times": [0, 60, 120]},
                "workers": workers,
                "cpu": "2",
                "memory": "4Gi",
                "duration": "600s",
                "gang": True,
            }
        ],
        "platforms": {"vm": vm},
    }
    path = tmp_path / "quota.yaml"
    path.write_text(yaml.safe_dump(data))
    return capsim.load_scenario(path)


def _starts(result: capsim.RunResult) -> list[float]:
    return sorted(result.jobs["start_s"].tolist())


def test_without_a_quota_nothing_waits(tmp_path: Path) -> None:
    result = capsim.run(_scenario(tmp_path, None))
    assert _starts(result) == [100.0, 160.0, 220.0]  # submit + boot


def test_a_quota_of_four_vms_holds_the_third_job(tmp_path: Path) -> None:
    """Jobs 1 and 2 hold 4 VMs until 700 and 760 s; job 3 (submitted at 120 s) gets its
    VMs when job 1's are terminated at 700 s and starts after its boot, at 800 s."""
    result = capsim.run(_scenario(tmp_path, 4))
    assert _starts(result) == [100.0, 160.0, 800.0]
    waits = sorted((result.jobs["start_s"] - result.jobs["submit_s"]).tolist())
    assert waits == [100.0, 100.0, 680.0]
    assert result.summary["platforms"]["vm"]["nodes_max"] == 4


def test_a_job_larger_than_the_quota_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"max_batch_vms: a job of train needs 8 VMs"):
        _scenario(tmp_path, 4, workers=8)


def test_a_platform_that_did_less_work_never_wins(tmp_path: Path) -> None:
    """25 minutes: under a quota of 2 VMs jobs 1 and 2 end at 700 and 1,400 s and job 3
    (starting at 1,500 s) does not finish; without the quota all three end by 820 s. The
    quota platform pays for fewer VM-hours, but it completed fewer jobs: the other wins,
    and the verdict says why."""
    from capsim.analysis.compare import compare

    data = yaml.safe_load(Path(_scenario(tmp_path, 2).source or "").read_text())
    data["duration"] = "1500s"
    data["platforms"] = {"capped": data["platforms"]["vm"], "free": dict(data["platforms"]["vm"])}
    del data["platforms"]["free"]["max_batch_vms"]
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump(data))
    result = capsim.run(capsim.load_scenario(path))
    jobs = {
        p: s["workloads"]["train"]["jobs_completed"] for p, s in result.summary["platforms"].items()
    }
    assert jobs == {"capped": 2, "free": 3}
    cost = {p: s["cost_usd"] for p, s in result.summary["platforms"].items()}
    assert cost["capped"] < cost["free"]
    verdict = compare(result).verdict
    assert verdict[0].startswith("free is the cheapest that completed all the batch work at $")
    assert (
        "capped completed 2 train jobs, 1 fewer than another platform: it cannot win on cost."
        in verdict
    )
