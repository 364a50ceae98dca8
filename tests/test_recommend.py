"""`capsim recommend`: its choice passes `capsim validate`, never costs more than a
current HPA that passes, and its Pareto front is undominated."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from validate_examples import EXAMPLES, example_inputs

from capsim.analysis.recommend import candidate_specs, demand_bounds
from capsim.cli import main as cli


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
    assert out["recommended"]["metrics"]["slo_budget_used_pct"] <= 50  # the margin
    # Screened by the fast path, confirmed by the engine (validate's metrics, lag included).
    assert "screened by the fast path" in out["notes"][0]
    assert "scale_up_lag_mean_s" in out["recommended"]["metrics"]
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
                and b["slo_budget_used_pct"] <= a["slo_budget_used_pct"]
                and (
                    b["service_cost_usd"] < a["service_cost_usd"]
                    or b["slo_budget_used_pct"] < a["slo_budget_used_pct"]
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
    """maxReplicas 3 under a 40× load (issue 17): by default the bounds are searched from
    the trace's demand, and the answer is the maxReplicas that holds, not a failure."""
    search = ["--targets", "70", "--presets", "conservative-down"]
    code, out = recommend_json("hpa-low-max.yaml", capsys, *search)
    assert code == 0
    assert out["current"]["passed"] is False
    chosen = out["recommended"]["spec"]["maxReplicas"]
    assert chosen > 3
    assert f"maxReplicas raised from 3 to {chosen}: the current ceiling" in " ".join(out["why"])
    # both costs are stated, each labelled
    assert any(
        "the service's share (OpenCost)" in w and "node pool's bill" in w for w in out["why"]
    )
    # The bounds the user names are the only ones tried: 3 cannot hold the SLO.
    code, out = recommend_json("hpa-low-max.yaml", capsys, *search, "--max-replicas", "3")
    assert code == 1
    assert out["recommended"] is None
    assert "raise maxReplicas" in out["why"][0]
    code, out = recommend_json("hpa-low-max.yaml", capsys, *search, "--max-replicas", "3,10")
    assert code == 0
    assert out["recommended"]["spec"]["maxReplicas"] == 10


def test_demand_bounds_by_hand() -> None:
    """Peak 12 cores, trough 1.5, 500m pods: at 60 % a pod carries 0.3 cores, so the peak
    needs 40 pods, 50 with 25 % headroom, and the trough 5."""
    spec = {"minReplicas": 2, "maxReplicas": 3}
    assert demand_bounds(spec, 60, 12.0, 1.5, 0.5) == [(2, 3), (2, 50), (5, 50)]
    assert demand_bounds(spec, 100, 12.0, 1.5, 0.5) == [(2, 3), (2, 30), (3, 30)]
    # a trough needing fewer pods than minReplicas: the HPA's minimum and 1 are tried
    assert demand_bounds(spec, 100, 12.0, 0.1, 0.5) == [(2, 3), (2, 30), (1, 30)]


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
    label, target, preset, candidate, request = made[-1]
    assert request is None
    assert (label, target, preset) == ("70% conservative-down max 20", 70, "conservative-down")
    assert candidate["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    assert candidate["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 900
    assert spec["metrics"][0]["resource"]["target"]["averageUtilization"] == 60  # untouched
    with_requests = candidate_specs(spec, [50, 70], ["default"], cpu_requests_m=[250, 1000])
    assert [(t, r) for _, t, _, _, r in with_requests] == [
        (50, 250),
        (70, 250),
        (50, 1000),
        (70, 1000),
    ]
    assert with_requests[-1][0] == "70% default req 1000m"
    with pytest.raises(ValueError, match="--cpu-requests: must be > 0"):
        candidate_specs(spec, [50], ["default"], cpu_requests_m=[0])


def test_request_and_target_chosen_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """HPA-aware sizing: the request is tried with every target; the emitted HPA and
    Deployment patch, applied to the Deployment, validate as PASS and cost what was said."""
    search = ["--targets", "60,75", "--presets", "conservative-down", "--cpu-requests", "300m,1"]
    code, out = recommend_json("hpa-pass.yaml", capsys, *search, "--emit", str(tmp_path))
    assert code == 0
    labels = {row["candidate"] for row in out["pareto"]}
    assert all(
        any(label.startswith(f"{t}% conservative-down ") for t in (60, 75))
        and label.endswith((" req 300m", " req 1000m"))
        for label in labels
    )
    chosen = out["recommended"]
    patch = yaml.safe_load((tmp_path / "deployment-patch.yaml").read_text())
    (container,) = patch["spec"]["template"]["spec"]["containers"]
    request = container["resources"]["requests"]["cpu"]
    assert chosen["label"].endswith(f"req {request}")
    # Apply the patch to the Deployment and validate the emitted HPA with it.
    deployment = yaml.safe_load((EXAMPLES / "deployment.yaml").read_text())
    (original,) = deployment["spec"]["template"]["spec"]["containers"]
    assert original["name"] == container["name"]
    original["resources"]["requests"]["cpu"] = request
    patched = tmp_path / "deployment.yaml"
    patched.write_text(yaml.safe_dump(deployment))
    validate = ["validate", *inputs("hpa-pass.yaml"), "--json"]
    validate[validate.index("--hpa") + 1] = str(tmp_path / "hpa.yaml")
    validate[validate.index("--deployment") + 1] = str(patched)
    assert cli.main(validate) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["verdict"] == "PASS"
    assert again["metrics"]["workload_cost_usd"] == pytest.approx(
        chosen["metrics"]["workload_cost_usd"]
    )


def test_cpu_requests_need_the_deployment(capsys: pytest.CaptureFixture[str]) -> None:
    args = inputs("hpa-pass.yaml")
    at = args.index("--deployment")
    del args[at : at + 2]
    assert cli.main(["recommend", *args, "--cpu-requests", "300m"]) == 2
    assert "--cpu-requests: give --deployment too" in capsys.readouterr().err


def test_each_stage_is_announced() -> None:
    """Long work is not silent: the screen (and its one-time compile) and the engine runs
    are announced to whoever watches (the CLI prints them on a terminal)."""
    from validate_examples import NASA

    from capsim.analysis.recommend import recommend
    from capsim.analysis.validate import ValidateInputs

    said: list[str] = []
    inputs = ValidateInputs(
        hpa=EXAMPLES / "hpa-pass.yaml",
        trace=NASA,
        deployment=EXAMPLES / "deployment.yaml",
        scale=40.0,
        end_s=86_400.0,
        cpu_ms_per_request=30.0,
        slo_p95_ms=200.0,
    )
    outcome = recommend(inputs, targets=[60, 70], presets=["default"], notify=said.append)
    screened = 1 + len(outcome.candidates)
    assert said[0].startswith(f"screening {screened} HPAs with the fast path")
    assert any(s.startswith("running ") and s.endswith("through the engine") for s in said)


def test_the_report_shows_the_recommended_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`recommend --out`: the report of the chosen HPA's run, the very run the engine
    confirmed (the same SLO budget used), titled, headed by the recommendation."""
    search = ["--targets", "70", "--presets", "conservative-down"]
    out = tmp_path / "report"
    code, data = recommend_json("hpa-low-max.yaml", capsys, *search, "--out", str(out))
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    slo = summary["platforms"]["hpa"]["workloads"]["web"]["slo"]
    assert slo["met"] is True
    assert slo["budget_used_pct"] == pytest.approx(
        data["recommended"]["metrics"]["slo_budget_used_pct"]
    )
    page = (out / "index.html").read_text()
    assert "<h1>capsim recommend: hpa-low-max.yaml against nasa_http_1995-07_per_minute.csv" in page
    assert "capsim recommend: the run of the recommended HPA" in page
    assert "Pareto front: " in page
