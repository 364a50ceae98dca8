"""Valid inputs the fuzz cases start from (each case breaks one thing): a small, fast
scenario; a three-hour trace; an HPA and its Deployment; a manifest folder for ``deploy
apply``; kubeconfig files; a saved run for ``compare``."""

from __future__ import annotations

import atexit
import copy
import math
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import yaml

from capsim.data import EXAMPLES_DIR, SCENARIOS_DIR

BUNDLED = SCENARIOS_DIR / "web-diurnal.yaml"
EXAMPLE_HPA = EXAMPLES_DIR / "validate" / "hpa-pass.yaml"
EXAMPLE_DEPLOYMENT = EXAMPLES_DIR / "validate" / "deployment.yaml"

SMALL_SCENARIO: dict[str, Any] = {
    "name": "fuzz-small",
    "seed": 7,
    "duration": "20m",
    "workloads": [
        {
            "kind": "service",
            "name": "web",
            "load": {"type": "diurnal", "base": 5, "peak": 40, "period": "10m"},
            "cpu_ms_per_request": 20,
            "memory_mib": 128,
            "concurrency": 2,
            "timeout": "10s",
            "slo": {"p95_latency_ms": 200, "max_error_rate": 0.01},
        }
    ],
    "platforms": {
        "vm": {
            "kind": "vm",
            "instance": {"name": "small", "vcpu": 2, "memory": "4Gi", "price_per_hour": 0.05},
            "workloads": {
                "web": {
                    "autoscaling": {
                        "target_pct": 60,
                        "min": 1,
                        "max": 5,
                        "warmup": "60s",
                        "cooldown": "60s",
                    }
                }
            },
        },
        "kube": {
            "kind": "kubernetes",
            "node_pools": [
                {
                    "name": "general",
                    "vcpu": 4,
                    "memory": "16Gi",
                    "price_per_hour": 0.19,
                    "min_nodes": 1,
                    "max_nodes": 4,
                }
            ],
            "workloads": {
                "web": {
                    "pod": {
                        "cpu_request": "500m",
                        "cpu_limit": "1",
                        "memory_request": "256Mi",
                        "memory_limit": "512Mi",
                    },
                    "hpa": {
                        "minReplicas": 1,
                        "maxReplicas": 8,
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
            },
        },
    },
}


def small_scenario() -> dict[str, Any]:
    """A fresh copy of the small scenario (20 simulated minutes, ~2 s a run)."""
    return copy.deepcopy(SMALL_SCENARIO)


def small_scenario_text() -> str:
    return yaml.safe_dump(SMALL_SCENARIO, sort_keys=False)


def trace_csv(minutes: int = 180, column: str = "requests_per_s") -> str:
    """A regular per-minute trace with a daily-like wave (ISO 8601 timestamps)."""
    rows = [f"timestamp,{column}"]
    for i in range(minutes):
        rows.append(f"2024-01-01T{i // 60:02d}:{i % 60:02d}:00Z,{50 + 40 * math.sin(i / 20):.3f}")
    return "\n".join(rows) + "\n"


def trace_scenario(path: str, column: str = "requests_per_s") -> dict[str, Any]:
    """The small scenario with its load read from the trace at ``path``."""
    data = small_scenario()
    data["workloads"][0]["load"] = {"type": "trace", "path": path, "column": column}
    return data


def hpa(**spec: Any) -> dict[str, Any]:
    """The example HPA (CPU 60 %, 2..30) with ``spec`` fields replaced."""
    body: dict[str, Any] = yaml.safe_load(EXAMPLE_HPA.read_text(encoding="utf-8"))
    body["spec"].update(spec)
    return body


def deployment() -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load(EXAMPLE_DEPLOYMENT.read_text(encoding="utf-8"))
    return body


MANAGED = {"app.kubernetes.io/managed-by": "capsim", "app.kubernetes.io/name": "web"}


def manifest_folder() -> dict[str, str]:
    """File name → text of a folder ``deploy apply`` takes (Deployment and HPA, labelled as
    ``deploy emit`` labels them)."""
    dep = deployment()
    dep["metadata"]["labels"] = dict(MANAGED)
    dep["spec"].pop("replicas", None)
    scaler = hpa()
    scaler["metadata"]["labels"] = dict(MANAGED)
    return {
        "deployment-web.yaml": yaml.safe_dump(dep, sort_keys=False),
        "horizontalpodautoscaler-web.yaml": yaml.safe_dump(scaler, sort_keys=False),
    }


def kubeconfig(
    server: str,
    *,
    token: str | None = None,
    token_file: str | None = None,
    namespace: str = "shop",
) -> dict[str, Any]:
    """A kubeconfig with one context ``fuzz`` on ``server`` (plain HTTP, a test server)."""
    user: dict[str, Any] = {}
    if token is not None:
        user["token"] = token
    if token_file is not None:
        user["tokenFile"] = token_file
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fuzz", "cluster": {"server": server}}],
        "users": [{"name": "fuzz", "user": user}],
        "contexts": [
            {"name": "fuzz", "context": {"cluster": "fuzz", "user": "fuzz", "namespace": namespace}}
        ],
        "current-context": "fuzz",
    }


JSON_ONLY = ("--format", "json", "--quiet")
_SAVED_LOCK = threading.Lock()
_SAVED: list[Path] = []


def saved_run() -> Path:
    """A report folder of the small scenario (made once per session, by capsim itself)."""
    with _SAVED_LOCK:
        if not _SAVED:
            base = Path(tempfile.mkdtemp(prefix="capsim-fuzz-saved-"))
            (base / "small.yaml").write_text(small_scenario_text(), encoding="utf-8")
            subprocess.run(
                [sys.executable, "-m", "capsim", "run", "small.yaml", "--out", "run", *JSON_ONLY],
                cwd=base,
                check=True,
                capture_output=True,
                timeout=120,
            )
            _SAVED.append(base / "run")
        return _SAVED[0]


@atexit.register
def remove_saved_run() -> None:
    with _SAVED_LOCK:
        for path in _SAVED:
            shutil.rmtree(path.parent, ignore_errors=True)
        _SAVED.clear()
