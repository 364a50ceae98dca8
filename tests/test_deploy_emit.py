"""`capsim deploy emit`: strictly valid manifests for every bundled scenario, capsim's own
checks (one negative test each), determinism, all-or-nothing writing, and the round trip
back through `capsim hpa explain` and `capsim validate`."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions, major_minor
from validate_examples import EXAMPLES, NASA, example_inputs

import capsim
from capsim.cli import main as cli
from capsim.data import SCENARIOS_DIR
from capsim.hpa.behavior import Behavior
from capsim.kube.checks import check_manifests, consistency_problems, schema_problems
from capsim.kube.emit import APPLY_ORDER, EmitOptions, manifests_from_scenario
from capsim.scenario import (
    BatchWorkload,
    KubernetesPlatform,
    ServiceWorkload,
    hpa_template,
    pod_template,
)
from capsim.scenario.keda import load_scaled_objects
from capsim.scenario.manifests import load_deployments, load_hpas

VERSIONS = [
    v
    for v in dict.fromkeys(major_minor(x) for x in all_versions())
    if tuple(map(int, v.split("."))) >= (1, 29)
]
SCENARIOS = sorted((SCENARIOS_DIR).glob("*.yaml"))


def kubernetes_platforms() -> list[tuple[Path, str]]:
    found = []
    for path in SCENARIOS:
        scenario = capsim.load_scenario(path)
        for name, platform in scenario.platforms.items():
            if isinstance(platform, KubernetesPlatform):
                found.append((path, name))
    return found


def test_versions_cover_129_to_newest() -> None:
    assert VERSIONS[0] == "1.29"
    assert VERSIONS[-1] == major_minor(kubernetes_validate.latest_version())
    assert len(VERSIONS) >= 5


@pytest.mark.parametrize(
    ("path", "platform"),
    kubernetes_platforms(),
    ids=lambda x: x.stem if isinstance(x, Path) else x,
)
def test_every_bundled_scenario_emits_strictly_valid_manifests(
    path: Path, platform: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    scenario = capsim.load_scenario(path)
    options = EmitOptions(namespace="shop", image="ghcr.io/acme/app:1.0", ingress_host="a.test")
    manifests = manifests_from_scenario(scenario, platform, options)
    kinds = [o["kind"] for o in manifests.objects]
    assert kinds == sorted(kinds, key=APPLY_ORDER.index)
    for version in VERSIONS:
        for obj in manifests.objects:
            if obj["kind"] == "ScaledObject":  # a CRD: kubernetes-validate has no schema
                continue
            # The independent reference: kubernetes-validate's own entry point, strict.
            kubernetes_validate.validate(obj, version, strict=True)
        assert check_manifests(manifests.objects, version) == []
    for obj in (o for o in manifests.objects if o["kind"] == "ScaledObject"):
        # KEDA's own rules (capsim's model of its webhook) accept what was written, and
        # it is the ScaledObject the platform simulated
        written = tmp_path_factory.mktemp("keda") / "so.yaml"
        written.write_text(yaml.safe_dump(obj), encoding="utf-8")
        (spec,) = load_scaled_objects(written)
        simulated = scenario.platforms[platform]
        assert isinstance(simulated, KubernetesPlatform)
        keda = simulated.workloads[obj["metadata"]["name"]].keda
        assert keda is not None
        assert spec.min_replicas == keda.min_replicas
        assert spec.triggers == keda.triggers
    services = [w for w in scenario.workloads if isinstance(w, ServiceWorkload)]
    assert kinds.count("Deployment") == len(services)
    assert kinds.count("Ingress") == len(services)
    assert kinds.count("Job") == len(scenario.workloads) - len(services)
    for obj in manifests.objects:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "capsim"
        assert labels["app.kubernetes.io/name"] == obj["metadata"]["name"]
        assert obj["metadata"]["namespace"] == "shop"
    platform_spec = scenario.platforms[platform]
    assert isinstance(platform_spec, KubernetesPlatform)
    for deployment in (o for o in manifests.objects if o["kind"] == "Deployment"):
        config = platform_spec.workloads[deployment["metadata"]["name"]]
        # An HPA manages the scale: spec.replicas must be absent (each apply would reset it).
        assert ("replicas" in deployment["spec"]) == (config.replicas is not None)
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert config.pod is not None
        requests = container["resources"]["requests"]
        assert capsim.units.parse_cpu_millicores(requests["cpu"]) == (
            config.pod.cpu_request_millicores
        )
        assert capsim.units.parse_memory_bytes(requests["memory"]) == (
            config.pod.memory_request_bytes
        )
        if config.pod.gpu:
            assert container["resources"]["limits"]["nvidia.com/gpu"] == config.pod.gpu
        probe = container["readinessProbe"]
        assert probe["initialDelaySeconds"] == int(config.pod.readiness_delay.median_s)


def test_batch_workloads_become_suspended_jobs() -> None:
    scenario = capsim.load_scenario(SCENARIOS_DIR / "distributed-training.yaml")
    manifests = manifests_from_scenario(scenario, "kubernetes", EmitOptions(image="trainer:1"))
    by_name = {o["metadata"]["name"]: o for o in manifests.objects}
    platform = scenario.platforms["kubernetes"]
    assert isinstance(platform, KubernetesPlatform)
    for workload in scenario.workloads:
        assert isinstance(workload, BatchWorkload)
        job = by_name[workload.name]
        assert job["kind"] == "Job"
        spec = job["spec"]
        # Applying it starts nothing; one run is `workers` pods at once.
        assert spec["suspend"] is True
        assert spec["parallelism"] == spec["completions"] == workload.workers
        pod = pod_template(workload, platform.workloads[workload.name])
        (container,) = spec["template"]["spec"]["containers"]
        limits = container["resources"].get("limits", {})
        assert limits.get("nvidia.com/gpu", 0) == pod.gpu
        assert capsim.units.parse_cpu_millicores(container["resources"]["requests"]["cpu"]) == (
            pod.cpu_request_millicores
        )
        assert spec["template"]["spec"]["restartPolicy"] == "Never"
    gang = [w.name for w in scenario.workloads if isinstance(w, BatchWorkload) and w.gang]
    assert gang
    assert all(any(n.startswith(f"{g}: gang placement") for n in manifests.notes) for g in gang)


def test_vm_platform_and_unknown_names_are_refused() -> None:
    scenario = capsim.load_scenario(SCENARIOS_DIR / "web-diurnal.yaml")
    with pytest.raises(ValueError, match=r"platforms\.vm is a vm platform.*'kubernetes'"):
        manifests_from_scenario(scenario, "vm", EmitOptions())
    with pytest.raises(ValueError, match="no platform 'gke'"):
        manifests_from_scenario(scenario, "gke", EmitOptions())
    with pytest.raises(ValueError, match="--workload 'api': no such workload"):
        manifests_from_scenario(scenario, "kubernetes", EmitOptions(), workload="api")


# --- the HPA as simulated -------------------------------------------------------------------


def scenario_with(hpa: dict[str, Any], metrics: dict[str, Any] | None = None) -> Any:
    data = yaml.safe_load((SCENARIOS_DIR / "web-diurnal.yaml").read_text())
    platform = data["platforms"]["kubernetes"]
    platform["workloads"]["web"]["hpa"] = hpa
    if metrics is not None:
        platform["metrics"] = metrics
    return capsim.scenario.parse_scenario(data, where="test", base_dir=SCENARIOS_DIR)


def emitted_hpa(scenario: Any, version: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    manifests = manifests_from_scenario(scenario, "kubernetes", EmitOptions(k8s_version=version))
    (hpa,) = [o for o in manifests.objects if o["kind"] == "HorizontalPodAutoscaler"]
    assert check_manifests(manifests.objects, version) == []
    return hpa, manifests.notes


HPA_WITH_BEHAVIOR: dict[str, Any] = {
    "minReplicas": 3,
    "maxReplicas": 30,
    "metrics": [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 70},
            },
        }
    ],
    "behavior": {
        "scaleDown": {"policies": [{"type": "Percent", "value": 10, "periodSeconds": 60}]}
    },
}


def test_behavior_is_written_in_full_with_the_simulated_controller_flags() -> None:
    scenario = scenario_with(
        HPA_WITH_BEHAVIOR, {"downscale_stabilization": "120s", "tolerance": 0.05}
    )
    hpa, notes = emitted_hpa(scenario, "1.33")
    behavior = hpa["spec"]["behavior"]
    # Every rule explicit: upstream's scale-up defaults, the simulated 120 s window.
    assert behavior["scaleUp"] == {
        "stabilizationWindowSeconds": 0,
        "selectPolicy": "Max",
        "policies": [
            {"type": "Pods", "value": 4, "periodSeconds": 15},
            {"type": "Percent", "value": 100, "periodSeconds": 15},
        ],
        "tolerance": "50m",
    }
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 120
    assert behavior["scaleDown"]["tolerance"] == "50m"
    parsed = Behavior.from_spec(behavior)
    assert parsed is not None
    assert parsed.scale_down.tolerance == pytest.approx(0.05)
    assert notes == (
        "no --image: the containers run placeholder images "
        "(registry.example.com/<workload>:latest); set --image before applying",
    )


def test_tolerance_only_for_versions_that_have_it() -> None:
    hpa_spec = copy.deepcopy(HPA_WITH_BEHAVIOR)
    hpa_spec["behavior"]["scaleUp"] = {"tolerance": "0.02"}
    scenario = scenario_with(hpa_spec)
    newer, _ = emitted_hpa(scenario, "1.33")
    assert newer["spec"]["behavior"]["scaleUp"]["tolerance"] == "20m"
    assert "tolerance" not in newer["spec"]["behavior"]["scaleDown"]  # the default 0.1 applies
    older, notes = emitted_hpa(scenario, "1.32")
    assert all("tolerance" not in rules for rules in older["spec"]["behavior"].values())
    assert any("tolerance {'scaleUp': '20m'} left out" in n and "1.33+" in n for n in notes)
    # The schema of 1.32 itself has no such field: emitting it would fail strict validation.
    newer_in_old = copy.deepcopy(newer)
    problems = schema_problems(newer_in_old, "1.32")
    assert any("tolerance" in p.message for p in problems)


def test_legacy_hpa_stays_legacy_with_a_note_on_the_flags() -> None:
    legacy = {k: v for k, v in HPA_WITH_BEHAVIOR.items() if k != "behavior"}
    hpa, notes = emitted_hpa(scenario_with(legacy, {"tolerance": 0.2}), "1.35")
    assert "behavior" not in hpa["spec"]
    assert any("legacy path" in n and "tolerance 0.2" in n for n in notes)


# --- capsim's own checks, one negative test each ---------------------------------------------


@pytest.fixture
def good() -> list[dict[str, Any]]:
    scenario = capsim.load_scenario(SCENARIOS_DIR / "web-diurnal.yaml")
    options = EmitOptions(namespace="shop", image="nginx:1.27", ingress_host="web.test")
    objects = [
        copy.deepcopy(o) for o in manifests_from_scenario(scenario, "kubernetes", options).objects
    ]
    assert consistency_problems(objects) == []
    return objects


def of(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind]
    return found


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = of(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    return found


def only_problem(objects: list[dict[str, Any]]) -> str:
    problems = consistency_problems(objects)
    assert len(problems) == 1, problems
    return str(problems[0])


def test_check_quantities_parse(good: list[dict[str, Any]]) -> None:
    container(good)["resources"]["requests"]["cpu"] = "5OOm"
    assert only_problem(good) == (
        "Deployment/shop/web: spec.template.spec.containers[0].resources.requests.cpu: "
        "not a quantity: '5OOm'"
    )
    # The schema alone lets it through (quantities are free strings there).
    assert schema_problems(of(good, "Deployment"), "1.31") == []


def test_check_limit_not_below_request(good: list[dict[str, Any]]) -> None:
    container(good)["resources"]["limits"]["memory"] = "512Mi"
    assert "limits.memory: limit '512Mi' is below the request '768Mi'" in only_problem(good)


def test_check_selector_matches_pod_labels(good: list[dict[str, Any]]) -> None:
    of(good, "Deployment")["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] = "api"
    problems = [str(p) for p in consistency_problems(good)]
    assert any(
        p.startswith("Deployment/shop/web: spec.selector:") and "does not match" in p
        for p in problems
    )


def test_check_service_selects_pods(good: list[dict[str, Any]]) -> None:
    of(good, "Service")["spec"]["selector"]["app.kubernetes.io/instance"] = "other"
    assert "Service/shop/web: spec.selector:" in only_problem(good)
    assert "selects no pods of this set" in only_problem(good)


def test_check_pdb_selects_pods(good: list[dict[str, Any]]) -> None:
    of(good, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"] = {"app": "x"}
    assert "PodDisruptionBudget/shop/web: spec.selector:" in only_problem(good)


def test_check_service_target_port_exists(good: list[dict[str, Any]]) -> None:
    of(good, "Service")["spec"]["ports"][0]["targetPort"] = "web"
    assert only_problem(good) == (
        "Service/shop/web: spec.ports[0].targetPort: 'web' is no container port of the "
        "selected pods (ports: ['8080', 'http'])"
    )


def test_check_container_port_range(good: list[dict[str, Any]]) -> None:
    container(good)["ports"][0]["containerPort"] = 70000
    assert "containerPort: 70000 is outside 1-65535" in only_problem(good)


def test_check_scale_target_ref_names_the_deployment(good: list[dict[str, Any]]) -> None:
    of(good, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]["name"] = "api"
    assert "spec.scaleTargetRef: Deployment/api (apps/v1) is no Deployment of this set" in (
        only_problem(good)
    )


def test_check_utilization_needs_a_request(good: list[dict[str, Any]]) -> None:
    del container(good)["resources"]["requests"]["cpu"]
    assert only_problem(good) == (
        "HorizontalPodAutoscaler/shop/web: spec.metrics[0].resource.target: Utilization of "
        "cpu needs a cpu request, but containers ['web'] of Deployment/web set none"
    )


def test_check_min_not_above_max(good: list[dict[str, Any]]) -> None:
    of(good, "HorizontalPodAutoscaler")["spec"]["minReplicas"] = 41
    assert only_problem(good) == (
        "HorizontalPodAutoscaler/shop/web: spec.minReplicas: 41 is above maxReplicas 40"
    )


def test_check_ingress_backend_exists(good: list[dict[str, Any]]) -> None:
    backend = of(good, "Ingress")["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    backend["port"] = {"name": "grpc"}
    assert "backend.service.port.name: no port 'grpc'" in only_problem(good)
    backend["name"] = "api"
    assert "backend.service.name: 'api' is no Service of this set" in only_problem(good)


def test_schema_strictness_unknown_fields_and_removed_apis(good: list[dict[str, Any]]) -> None:
    deployment = of(good, "Deployment")
    deployment["spec"]["replica"] = 3  # a typo strict mode catches
    container(good)["resources"]["request"] = {"cpu": "1"}
    problems = [str(p) for p in schema_problems(deployment, "1.31")]
    assert len(problems) == 2
    assert any("'replica' was unexpected" in p for p in problems)
    hpa = copy.deepcopy(of(good, "HorizontalPodAutoscaler"))
    hpa["apiVersion"] = "autoscaling/v2beta2"  # removed in 1.26
    (removed,) = schema_problems(hpa, "1.29")
    assert str(removed) == (
        "HorizontalPodAutoscaler/shop/web: apiVersion: autoscaling/v2beta2 "
        "HorizontalPodAutoscaler does not exist in 1.29"
    )
    with pytest.raises(ValueError, match=r"schemas are available for 1\.25 to"):
        schema_problems(hpa, "1.12")


# --- the command: determinism, all or nothing -------------------------------------------------


def emit(tmp: Path, out: str, *extra: str) -> int:
    return cli.main(
        [
            "deploy",
            "emit",
            str(SCENARIOS_DIR / "web-diurnal.yaml"),
            "--out",
            str(tmp / out),
            "--namespace",
            "shop",
            "--image",
            "nginx:1.27",
            *extra,
        ]
    )


def read_all(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_emit_is_byte_identical_and_replaces_its_own_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert emit(tmp_path, "a", "--ingress-host", "web.test", "--kustomize") == 0
    assert emit(tmp_path, "b", "--ingress-host", "web.test", "--kustomize") == 0
    first = read_all(tmp_path / "a")
    assert first == read_all(tmp_path / "b")
    assert sorted(first) == [
        "deployment-web.yaml",
        "horizontalpodautoscaler-web.yaml",
        "ingress-web.yaml",
        "kustomization.yaml",
        "poddisruptionbudget-web.yaml",
        "service-web.yaml",
    ]
    kustomization = yaml.safe_load(first["kustomization.yaml"])
    assert kustomization["resources"] == [
        "service-web.yaml",
        "deployment-web.yaml",
        "poddisruptionbudget-web.yaml",
        "horizontalpodautoscaler-web.yaml",
        "ingress-web.yaml",
    ]
    # Re-emitting without the Ingress into the same folder leaves no stale Ingress behind.
    assert emit(tmp_path, "a") == 0
    assert sorted(read_all(tmp_path / "a")) == [
        "deployment-web.yaml",
        "horizontalpodautoscaler-web.yaml",
        "poddisruptionbudget-web.yaml",
        "service-web.yaml",
    ]
    assert read_all(tmp_path / "a")["deployment-web.yaml"] == first["deployment-web.yaml"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    out = capsys.readouterr().out
    assert "wrote 5 manifests to" in out
    assert "next: kubectl apply -k" in out


_REC_HPA = {
    "apiVersion": "autoscaling/v2",
    "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": "web", "namespace": "shop"},
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 2,
        "maxReplicas": 10,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 70},
                },
            }
        ],
    },
}


def _recommendation(folder: Path, port: int, cpu_limit: str) -> Path:
    """A ``recommend --emit`` folder whose Deployment (the user's) has that port and CPU
    limit (the request is 250m)."""
    folder.mkdir(parents=True, exist_ok=True)
    container = {
        "name": "web",
        "image": "nginx:1.27",
        "ports": [{"containerPort": port}],
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": cpu_limit}},
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [container]},
            },
        },
    }
    (folder / "hpa.yaml").write_text(yaml.safe_dump(_REC_HPA))
    (folder / "deployment.yaml").write_text(yaml.safe_dump(deployment))
    return folder


def test_invalid_set_writes_nothing_and_lists_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    good = _recommendation(tmp_path / "good", 8080, "500m")
    assert cli.main(["deploy", "emit", "--recommendation", str(good), "--out", str(out)]) == 0
    before = read_all(out)
    capsys.readouterr()
    # The user's own Deployment: a port out of range and a limit below the request.
    bad = _recommendation(tmp_path / "bad", 70000, "100m")
    assert cli.main(["deploy", "emit", "--recommendation", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "2 problem(s) in the manifests" in err
    assert "nothing written" in err
    assert "Deployment/shop/web: spec.template.spec.containers[0].ports[0].containerPort: " in err
    assert "resources.limits.cpu: limit '100m' is below the request '250m'" in err
    assert read_all(out) == before  # the good set is untouched


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [
        ("--port", "0", "argument --port: must be a port number from 1 to 65535, got '0'"),
        ("--port", "70000", "argument --port: must be a port number from 1 to 65535, got '70000'"),
        ("--port", "65536", "argument --port: must be a port number from 1 to 65535, got '65536'"),
        ("--port", "-1", "argument --port: must be a port number from 1 to 65535, got '-1'"),
        ("--port", "8080.5", "argument --port: not a whole number: '8080.5'"),
        ("--port", "http", "argument --port: not a whole number: 'http'"),
        ("--k8s-version", "", "argument --k8s-version: expected MAJOR.MINOR such as 1.31, got ''"),
        (
            "--k8s-version",
            "latest",
            "argument --k8s-version: expected MAJOR.MINOR such as 1.31, got 'latest'",
        ),
    ],
)
def test_numeric_flags_are_checked_at_the_command_line(
    flag: str, value: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One line naming the flag and the value, before anything is built (before: --port 0
    and 70000 were "1 problem(s) in the manifests" on two lines without naming --port; an
    empty --k8s-version emitted for the default version)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        emit(tmp_path, "out", f"{flag}={value}")
    assert exited.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0] == f"capsim: error: capsim deploy emit: {expected} (see --help)"
    assert not (tmp_path / "out").exists()


def test_the_port_range_is_exactly_1_to_65535(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for port, accepted in (("0", False), ("1", True), ("65535", True), ("65536", False)):
        capsys.readouterr()
        if not accepted:
            with pytest.raises(SystemExit) as exited:
                emit(tmp_path, f"out-{port}", "--port", port)
            assert exited.value.code == 2
            assert f"argument --port: must be a port number from 1 to 65535, got '{port}'" in (
                capsys.readouterr().err
            )
            assert not (tmp_path / f"out-{port}").exists()
            continue
        assert emit(tmp_path, f"out-{port}", "--port", port) == 0
        emitted = (tmp_path / f"out-{port}" / "deployment-web.yaml").read_text()
        container = yaml.safe_load(emitted)["spec"]["template"]["spec"]["containers"][0]
        assert container["ports"][0]["containerPort"] == int(port)


def test_emit_options_refuse_a_port_out_of_range() -> None:
    for port in (0, 65536, True):
        with pytest.raises(ValueError, match=r"--port: must be a port number from 1 to 65535"):
            EmitOptions(container_port=port)


def test_a_folder_capsim_did_not_write_is_not_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    assert emit(tmp_path, "mine") == 2
    assert "holds files capsim did not write (['notes.txt'])" in capsys.readouterr().err
    assert (folder / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("points_to", ["capsim-folder", "nowhere"])
def test_a_symbolic_link_is_not_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], points_to: str
) -> None:
    """Even a link to a folder capsim wrote (or a dangling link) stays a link: replacing
    it would put a folder where the user keeps a link."""
    assert emit(tmp_path, "capsim-folder") == 0
    capsys.readouterr()
    link = tmp_path / "link"
    link.symlink_to(tmp_path / points_to)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert emit(tmp_path, "link") == 2
    assert "is a symbolic link" in capsys.readouterr().err
    assert link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == before


# --- round trips --------------------------------------------------------------------------


def test_emitted_hpa_and_deployment_describe_the_simulated_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = SCENARIOS_DIR / "ml-serving.yaml"
    assert (
        cli.main(["deploy", "emit", str(path), "--platform", "hpa-70", "--out", str(tmp_path)]) == 0
    )
    scenario = capsim.load_scenario(path)
    platform = scenario.platforms["hpa-70"]
    assert isinstance(platform, KubernetesPlatform)
    simulated = hpa_template(platform.workloads["inference"], scenario.base_dir, "inference")
    (hpa,) = load_hpas(tmp_path / "horizontalpodautoscaler-inference.yaml")
    assert hpa.spec.min_replicas == simulated.min_replicas
    assert hpa.spec.max_replicas == simulated.max_replicas
    assert hpa.spec.metrics == simulated.metrics
    assert hpa.spec.parsed_behavior == simulated.parsed_behavior
    (deployment,) = load_deployments(tmp_path / "deployment-inference.yaml")
    pod = platform.workloads["inference"].pod
    assert pod is not None
    assert deployment.pod_request_milli("cpu") == pod.cpu_request_millicores
    # `capsim hpa explain` reads the pair without a warning.
    capsys.readouterr()
    assert (
        cli.main(
            [
                "hpa",
                "explain",
                str(tmp_path / "horizontalpodautoscaler-inference.yaml"),
                "--deployment",
                str(tmp_path / "deployment-inference.yaml"),
                "--json",
                "--strict",
            ]
        )
        == 0
    )
    explained = json.loads(capsys.readouterr().out)["hpas"][0]
    assert explained["maxReplicas"] == simulated.max_replicas
    assert explained["warnings"] == []


def test_recommendation_round_trip_validates_as_recommended(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """recommend --emit → deploy emit --recommendation → validate the emitted pair: PASS,
    at the cost recommend reported; the Deployment keeps the user's containers."""
    search = ["--targets", "60,75", "--presets", "conservative-down", "--cpu-requests", "300m,1"]
    rec = tmp_path / "rec"
    code = cli.main(
        ["recommend", *example_inputs("hpa-pass.yaml"), *search, "--json", "--emit", str(rec)]
    )
    assert code == 0
    chosen = json.loads(capsys.readouterr().out)["recommended"]
    out = tmp_path / "manifests"
    assert (
        cli.main(
            [
                "deploy",
                "emit",
                "--recommendation",
                str(rec),
                "--out",
                str(out),
                "--k8s-version",
                "1.29",
            ]
        )
        == 0
    )
    capsys.readouterr()
    names = sorted(p.name for p in out.iterdir())
    assert "deployment-web.yaml" in names
    assert "horizontalpodautoscaler-web.yaml" in names
    (deployment,) = load_deployments(out / "deployment-web.yaml")
    original = yaml.safe_load((EXAMPLES / "deployment.yaml").read_text())
    assert deployment.spec.replicas is None
    assert (
        deployment.spec.template.spec.containers[0].image
        == (original["spec"]["template"]["spec"]["containers"][0]["image"])
    )
    assert deployment.spec.selector == original["spec"]["selector"]
    validate = ["validate", *example_inputs("hpa-pass.yaml"), "--json"]
    validate[validate.index("--hpa") + 1] = str(out / "horizontalpodautoscaler-web.yaml")
    validate[validate.index("--deployment") + 1] = str(out / "deployment-web.yaml")
    assert cli.main(validate) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["verdict"] == "PASS"
    assert again["metrics"]["workload_cost_usd"] == pytest.approx(
        chosen["metrics"]["workload_cost_usd"]
    )
    assert NASA.is_file()


def test_without_the_kube_extra_the_command_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "kubernetes_validate" else real(name, *a),
    )
    assert cli.main(["deploy", "emit", str(SCENARIOS_DIR / "web-diurnal.yaml")]) == 2
    assert "pip install 'capsim[kube]'" in capsys.readouterr().err


def test_gang_jobs_emit_what_a_pytorch_job_needs_to_start() -> None:
    """An Indexed Job of N workers names its pods ``<job>-<index>`` and, with
    ``subdomain`` set to a headless Service selecting them, each resolves as
    ``<job>-<index>.<service>`` (Kubernetes' Job documentation): worker 0 is the
    rendezvous. Env vars that reference others must come after them ($(VAR) expansion)."""
    scenario = capsim.load_scenario(SCENARIOS_DIR / "distributed-training.yaml")
    manifests = manifests_from_scenario(scenario, "kubernetes", EmitOptions(image="trainer:1"))
    kinds = {(o["kind"], o["metadata"]["name"]): o for o in manifests.objects}
    order = [(o["kind"], o["metadata"]["name"]) for o in manifests.objects]
    platform = scenario.platforms["kubernetes"]
    assert isinstance(platform, KubernetesPlatform)
    for workload in scenario.workloads:
        assert isinstance(workload, BatchWorkload)
        assert workload.workers > 1
        job = kinds[("Job", workload.name)]
        assert job["spec"]["completionMode"] == "Indexed"
        template = job["spec"]["template"]
        subdomain = template["spec"]["subdomain"]
        service = kinds[("Service", subdomain)]
        assert order.index(("Service", subdomain)) < order.index(("Job", workload.name))
        assert service["spec"]["clusterIP"] == "None"  # headless: one DNS record a pod
        assert service["spec"]["publishNotReadyAddresses"] is True
        selector = service["spec"]["selector"]
        assert selector.items() <= template["metadata"]["labels"].items()
        (container,) = template["spec"]["containers"]
        env = [(e["name"], e.get("value"), e.get("valueFrom")) for e in container["env"]]
        names = [n for n, _, _ in env]
        values = {n: v for n, v, _ in env}
        sources = {n: s for n, _, s in env if s is not None}
        index = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
        assert sources["RANK"] == sources["PET_NODE_RANK"] == {"fieldRef": {"fieldPath": index}}
        assert sources["JOB_NAME"] == {"fieldRef": {"fieldPath": "metadata.labels['job-name']"}}
        assert values["WORLD_SIZE"] == values["PET_NNODES"] == str(workload.workers)
        pod = pod_template(workload, platform.workloads[workload.name])
        assert values["PET_NPROC_PER_NODE"] == str(max(pod.gpu, 1))
        master = f"$(JOB_NAME)-0.{subdomain}"  # pod 0's hostname . the Service
        assert values["MASTER_ADDR"] == values["PET_MASTER_ADDR"] == master
        assert names.index("JOB_NAME") < names.index("MASTER_ADDR")
        port = values["MASTER_PORT"]
        assert port == values["PET_MASTER_PORT"]
        (service_port,) = service["spec"]["ports"]
        assert str(service_port["port"]) == port
        assert {p["name"] for p in container["ports"]} == {service_port["targetPort"]}
        assert any("headless Service" in n for n in manifests.notes if n.startswith(workload.name))
