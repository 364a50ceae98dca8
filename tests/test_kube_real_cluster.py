"""Opt-in: ``capsim deploy emit`` then ``capsim deploy apply`` against a real cluster.

Skipped unless ``CAPSIM_TEST_KUBECONFIG`` names a kubeconfig (its current context is used;
``CAPSIM_TEST_CONTEXT`` picks another). The test creates a fresh namespace
``capsim-test-<random>``, and deletes it at the end whatever happens; nothing else in the
cluster is touched. It checks what the API-server stand-in (tests/kube_apiserver.py) models:
a dry run into a namespace that does not exist is refused (exit 2, "create it first"); a
dry run into the fresh namespace says every object would be created and changes nothing;
``--apply`` creates them; the next dry run finds them unchanged; a changed Deployment
selector is refused as immutable (exit 2).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from capsim.cli import main as cli
from capsim.data import SCENARIOS_DIR

KUBECONFIG = os.environ.get("CAPSIM_TEST_KUBECONFIG", "")
CONTEXT = os.environ.get("CAPSIM_TEST_CONTEXT") or None

pytestmark = pytest.mark.skipif(
    not KUBECONFIG, reason="set CAPSIM_TEST_KUBECONFIG to a kubeconfig to run against a cluster"
)


@pytest.fixture
def namespace() -> Iterator[str]:
    kubernetes: Any = pytest.importorskip("kubernetes")
    client = kubernetes.config.new_client_from_config(
        config_file=KUBECONFIG, context=CONTEXT, persist_config=False
    )
    core = kubernetes.client.CoreV1Api(client)
    name = f"capsim-test-{secrets.token_hex(4)}"
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    core.create_namespace(body)
    try:
        yield name
    finally:
        core.delete_namespace(name)


def test_emit_then_apply_into_a_fresh_namespace(
    namespace: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "web"
    scenario = str(SCENARIOS_DIR / "web-diurnal.yaml")
    emit = ["deploy", "emit", scenario, "--out", str(folder), "--image", "nginx:1.27"]
    assert cli.main([*emit, "--namespace", namespace]) == 0
    base = ["deploy", "apply", str(folder), "--kubeconfig", KUBECONFIG, "--timeout", "60s"]
    base += ["--context", CONTEXT] if CONTEXT else []

    def run(*extra: str, folder_arg: Path | None = None) -> tuple[int, str, str]:
        capsys.readouterr()
        argv = list(base)
        if folder_arg is not None:
            argv[2] = str(folder_arg)
        code = cli.main([*argv, *extra])
        out, err = capsys.readouterr()
        return code, out, err

    # A namespace that does not exist: refused even on a dry run.
    missing = tmp_path / "missing"
    assert cli.main([*emit[:3], "--out", str(missing), "--image", "nginx:1.27"]) == 0
    capsys.readouterr()
    code, _, err = run("--namespace", f"{namespace}-absent", folder_arg=missing)
    assert code == 2
    assert f"namespace '{namespace}-absent' does not exist: create it first" in err

    code, out, err = run()
    assert code == 0, err
    assert f"Deployment {namespace}/web: created" in out
    assert "nothing was changed" in out

    code, out, err = run("--apply")
    assert code == 0, err
    assert f"applied: Service {namespace}/web, Deployment {namespace}/web" in out

    code, out, err = run()
    assert code == 0, err
    assert f"Deployment {namespace}/web: unchanged" in out

    deployment = folder / "deployment-web.yaml"
    body = yaml.safe_load(deployment.read_text())
    body["spec"]["selector"]["matchLabels"]["tier"] = "front"
    body["spec"]["template"]["metadata"]["labels"]["tier"] = "front"
    deployment.write_text(yaml.safe_dump(body))
    code, out, err = run("--apply")
    assert code == 2
    assert f"Deployment {namespace}/web: spec.selector: cannot be changed" in err
