"""``capsim recommend`` on an HPA without a CPU target: it tunes the value of its first
Pods, Object or External metric (here requests in flight per pod), runs every
candidate through the engine (the fast path screens CPU targets only) and chooses the
cheapest that passes, never dearer than a current HPA that passes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from validate_examples import EXAMPLES, NASA

from capsim.analysis.recommend import candidate_specs, default_targets, recommend, tuned_target
from capsim.analysis.validate import ValidateInputs
from capsim.cli import main as cli

HPA = """\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, namespace: shop}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 30
  metrics:
    - type: Pods
      pods:
        metric: {name: requests_in_flight}
        target: {type: AverageValue, averageValue: "1500m"}
"""


def _spec() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(HPA)["spec"]
    return spec


def test_the_tuned_target_and_its_candidates() -> None:
    tuned = tuned_target(_spec())
    assert (tuned.index, tuned.name, tuned.field, tuned.current) == (
        0,
        "requests_in_flight",
        "averageValue",
        1.5,
    )
    assert default_targets(tuned) == [0.75, 1.125, 1.5, 1.875, 2.25, 3.0]
    made = candidate_specs(_spec(), [0.75, 3.0], ["default"])
    labels = [label for label, *_ in made]
    assert labels == ["requests_in_flight=0.75 default", "requests_in_flight=3 default"]
    targets = [c["metrics"][0]["pods"]["target"]["averageValue"] for *_, c, _ in made]
    assert targets == ["750m", "3"]
    with pytest.raises(ValueError, match="--targets: requests_in_flight targets must be > 0"):
        candidate_specs(_spec(), [0.0], ["default"])
    no_target = {"minReplicas": 1, "maxReplicas": 3, "metrics": []}
    with pytest.raises(ValueError, match="no target to tune"):
        tuned_target(no_target)


def test_a_value_target_is_recommended_through_the_engine(tmp_path: Path) -> None:
    hpa = tmp_path / "hpa.yaml"
    hpa.write_text(HPA, encoding="utf-8")
    inputs = ValidateInputs(
        hpa=hpa,
        trace=NASA,
        deployment=EXAMPLES / "deployment.yaml",
        scale=40.0,
        end_s=86_400.0,
        cpu_ms_per_request=30.0,
        slo_p95_ms=200.0,
    )
    outcome = recommend(inputs, targets=[0.5, 1.5, 4.0], presets=["default"])
    everyone = [outcome.current, *outcome.candidates]
    assert all(c.evaluated == "engine" for c in everyone)  # no fast-path screen
    assert {c.target for c in outcome.candidates} == {0.5, 1.5, 4.0}
    assert outcome.current.target_text == "requests_in_flight averageValue 1.5"
    passing = [c for c in everyone if c.passed]
    if outcome.chosen is not None:
        assert outcome.chosen.passed
        cheapest = min(c.metrics["workload_cost_usd"] for c in passing)
        assert outcome.chosen.metrics["workload_cost_usd"] <= (
            outcome.current.metrics["workload_cost_usd"] if outcome.current.passed else float("inf")
        )
        assert outcome.chosen.metrics["workload_cost_usd"] >= cheapest
    # fewer requests in flight per pod means more pods: the costs order by the target
    low, high = (
        next(c for c in outcome.candidates if c.target == t).metrics["workload_cost_usd"]
        for t in (0.5, 4.0)
    )
    assert low > high


def test_the_cli_takes_decimal_targets_and_emits_the_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hpa = tmp_path / "hpa.yaml"
    hpa.write_text(HPA, encoding="utf-8")
    argv = [
        "recommend", "--hpa", str(hpa), "--deployment", str(EXAMPLES / "deployment.yaml"),
        "--trace", str(NASA), "--scale", "40", "--end", "1d", "--cpu-ms-per-request", "30",
        "--slo-p95-ms", "200", "--targets", "0.5,4", "--presets", "default",
        "--emit", str(tmp_path / "emit"),
    ]  # fmt: skip
    code = cli.main(argv)
    out = capsys.readouterr().out
    assert code in (0, 1)
    assert "requests_in_flight" in out
    if code == 0:
        text = (tmp_path / "emit" / "hpa.yaml").read_text(encoding="utf-8")
        assert text.startswith("# capsim recommend: requests_in_flight averageValue ")
        emitted = yaml.safe_load(text)["spec"]["metrics"][0]["pods"]["target"]
        assert emitted["averageValue"] in ("500m", "4", "1500m")
    bad = cli.main([*argv[:-2], "--targets", "x"])
    assert bad == 2
    assert "--targets: expected numbers separated by commas" in capsys.readouterr().err
