"""`capsim recommend`: its choice passes `capsim validate`, never costs more than a
current HPA that passes, and its Pareto front is undominated."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from validate_examples import example_inputs

from analysis import cli
from analysis.recommend import candidate_specs


def inputs(hpa: str) -> list[str]:
    return example_inputs(hpa)


def recommend_json(
    hpa: str, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, dict[str, Any]]:
    code = cli.main(["recommend", *inputs(hpa), "--json", *extra])
    return code, json.loads(capsys.readouterr().out)


def test_the_recommendation_for_a_flapping_hpa_validates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    search = ["--targets", "60,70,80", "--presets", "default,conservative-down"]
    code, out = recommend_json("hpa-flapping.yaml", capsys, *search, "--emit", str(tmp_path))
    assert code == 0
    assert out["current"]["passed"] is False
    assert out["recommended"]["metrics"]["slo_violation_pct"] <= 0.5  # the margin
    # Calmer and cheaper than the flapping original (as the README says).
    recommended, current = out["recommended"]["metrics"], out["current"]["metrics"]
    assert recommended["workload_cost_usd"] < current["workload_cost_usd"]
    assert recommended["direction_reversals_per_hour"] < current["direction_reversals_per_hour"]
    # The emitted HPA, validated on its own, passes.
    validate = ["validate", *inputs("hpa-flapping.yaml")]
    validate[validate.index("--hpa") + 1] = str(tmp_path / "hpa.yaml")
    assert cli.main([*validate, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["verdict"] == "PASS"
    # No point of the front is beaten on both cost and SLO by another.
    front = out["pareto"]
    for a in front:
        for b in front:
            assert not (
                b["service_cost_usd"] <= a["service_cost_usd"]
                and b["slo_violation_pct"] <= a["slo_violation_pct"]
                and (
                    b["service_cost_usd"] < a["service_cost_usd"]
                    or b["slo_violation_pct"] < a["slo_violation_pct"]
                )
            )


def test_never_dearer_than_a_current_hpa_that_passes(capsys: pytest.CaptureFixture[str]) -> None:
    search = ["--targets", "40,50", "--presets", "default"]  # only dearer or failing choices
    code, out = recommend_json("hpa-pass.yaml", capsys, *search)
    assert code == 0
    assert out["current"]["passed"] is True
    current = out["current"]["metrics"]["workload_cost_usd"]
    assert out["recommended"]["metrics"]["workload_cost_usd"] <= current


def test_a_ceiling_too_low_needs_a_higher_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    search = ["--targets", "70", "--presets", "conservative-down"]
    code, out = recommend_json("hpa-low-max.yaml", capsys, *search)
    assert code == 1  # no candidate at maxReplicas 3 holds the SLO
    assert out["recommended"] is None
    assert "raise maxReplicas" in out["why"][0]
    code, out = recommend_json("hpa-low-max.yaml", capsys, *search, "--max-replicas", "3,10")
    assert code == 0
    assert out["recommended"]["spec"]["maxReplicas"] == 10


def test_bad_search_spaces_are_named() -> None:
    spec: dict[str, Any] = {
        "minReplicas": 2,
        "maxReplicas": 10,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 60},
                },
            }
        ],
    }
    with pytest.raises(ValueError, match="--presets: unknown"):
        candidate_specs(spec, [50], ["turbo"])
    with pytest.raises(ValueError, match="--targets"):
        candidate_specs(spec, [120], ["default"])
    with pytest.raises(ValueError, match="--max-replicas: must be >= minReplicas"):
        candidate_specs(spec, [50], ["default"], [1])
    made = candidate_specs(spec, [50, 70], ["default", "conservative-down"], [10, 20])
    assert len(made) == 8
    label, target, preset, candidate = made[-1]
    assert (label, target, preset) == ("70% conservative-down max 20", 70, "conservative-down")
    assert candidate["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    assert candidate["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 900
    assert spec["metrics"][0]["resource"]["target"]["averageUtilization"] == 60  # untouched
