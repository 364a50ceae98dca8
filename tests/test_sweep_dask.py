"""``capsim sweep`` on a real Dask cluster: a ``dask scheduler`` and two ``dask worker``
processes on 127.0.0.1 (tests/dask_cluster.py), each worker in a folder of its own that
holds none of the scenario's files, as on machines without a shared file system.

* a sweep by a relative path gives exactly (byte for byte) the local sweep's runs, and
  the runs are executed by the workers;
* an input error raised on a worker is exit 2 in one line; other worker errors are not
  input errors (a bug), an import failure there is the environment;
* deadlines: a port nothing listens on, a server that accepts and never answers, a
  scheduler without workers, and runs longer than ``--timeout`` each end with exit 2
  naming the address, within the deadline.

Skipped when the ``dist`` extra (dask, distributed) is not installed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from dask_cluster import DaskCluster, dask_unavailable_reason
from test_sweep import write_folder_scenario

pytestmark = pytest.mark.skipif(
    dask_unavailable_reason() is not None, reason=str(dask_unavailable_reason())
)

CAPSIM = [sys.executable, "-m", "capsim"]
SWEEP = ["sweep", "scen.yaml", "--set", "vm.target_pct=40,60", "--seeds", "2", "--quiet"]


def capsim_cli(args: list[str], cwd: Path, timeout_s: float = 240) -> tuple[int, str, float]:
    """Run ``capsim ARGS`` in ``cwd``: exit code, stderr and seconds taken."""
    start = time.monotonic()
    done = subprocess.run(
        [*CAPSIM, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    return done.returncode, done.stderr, time.monotonic() - start


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    with DaskCluster(tmp_path_factory.mktemp("dask"), workers=2) as running:
        yield running


def executed(address: str) -> dict[str, int]:
    """How many tasks each worker has run so far."""
    from distributed import Client

    with Client(address, timeout=30) as client:  # type: ignore[no-untyped-call]
        counts: dict[str, int] = client.run(lambda dask_worker: dask_worker.state.executed_count)
    return counts


def test_a_sweep_by_relative_path_on_two_workers_equals_the_local_sweep(
    cluster: DaskCluster, tmp_path: Path
) -> None:
    folder = tmp_path / "scen"
    write_folder_scenario(folder)
    for worker_dir in cluster.worker_dirs:  # the workers cannot see the files
        assert worker_dir.resolve() != folder.resolve()
        assert not (worker_dir / "traces").exists()
    before = sum(executed(cluster.address).values())
    code, err, _ = capsim_cli([*SWEEP, "--scheduler", cluster.address, "--out", "../dask"], folder)
    assert (code, err) == (0, "")
    after = executed(cluster.address)
    assert sum(after.values()) - before >= 4  # 2 combinations × 2 seeds ran on the workers
    code, err, _ = capsim_cli([*SWEEP, "--out", "../local"], folder)
    assert (code, err) == (0, "")
    dask_runs = (tmp_path / "dask" / "runs.csv").read_bytes()
    assert dask_runs == (tmp_path / "local" / "runs.csv").read_bytes()
    assert dask_runs.count(b"\n") == 1 + 2 * 2 * 2  # header + combinations × seeds × platforms


def test_an_input_error_on_a_worker_is_exit_2_in_one_line(
    cluster: DaskCluster, tmp_path: Path
) -> None:
    # The trace lasts 3 h; a 4 h run finds that out when its load is built, on a worker.
    write_folder_scenario(tmp_path, duration="4h")
    code, err, _ = capsim_cli([*SWEEP, "--scheduler", cluster.address, "--out", "o"], tmp_path)
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith("capsim: error: scen.yaml")  # the file, with the combination
    assert ": workloads[0].load.parts[0]: traces/load.csv: " in err
    assert "the trace window lasts 3h of simulated time but the run needs 4h" in err
    assert not (tmp_path / "o").exists()


def test_worker_errors_are_sorted_into_input_environment_and_bug(cluster: DaskCluster) -> None:
    from capsim.analysis.sweep import map_runs  # where capsim recommend finds it too
    from capsim.scenario import ScenarioError

    # Functions defined here travel by value (cloudpickle): the workers run them as written.
    def input_error(item: int) -> int:
        raise ScenarioError(f"scen.yaml: workloads[{item}].cpu_ms_per_request: must be > 0")

    def os_error(item: int) -> int:
        raise FileNotFoundError(2, "No such file or directory", f"traces/{item}.csv")

    def plain_value_error(item: int) -> int:
        raise ValueError(f"operands could not be broadcast together ({item})")

    def missing_module(item: int) -> int:
        import capsim_module_no_worker_has  # type: ignore[import-not-found]  # noqa: F401

        return item

    address = cluster.address
    with pytest.raises(ScenarioError, match=r"^scen\.yaml: workloads\[3\]\.cpu_ms_per_request"):
        map_runs(input_error, [3], scheduler=address)
    for bug in (os_error, plain_value_error):
        with pytest.raises(RuntimeError, match=rf"^{address}: a run failed on a worker .*a bug"):
            map_runs(bug, [1], scheduler=address)
    from capsim.analysis.parallel import ClusterError

    with pytest.raises(ClusterError, match=r"a worker cannot import .*capsim_module_no_worker"):
        map_runs(missing_module, [1], scheduler=address)
    # And a job that works still gives its result, with the shared data sent once.
    assert map_runs(pow, [2, 3], shared=10, scheduler=address) == [1024, 59049]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            held.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=5)
        for connection in held:
            connection.close()
        server.close()


@pytest.mark.parametrize(
    ("target", "deadline", "message"),
    [
        ("refusing", ["--connect-timeout", "3s"], "no answer from a Dask scheduler within 3 s"),
        ("silent", ["--connect-timeout", "3s"], "no answer from a Dask scheduler within 3 s"),
        ("silent", ["--timeout", "3s"], "the Dask sweep did not finish within its deadline of 3 s"),
    ],
)
def test_an_unreachable_or_silent_scheduler_ends_within_the_deadline(
    target: str,
    deadline: list[str],
    message: str,
    silent_server: int,
    tmp_path: Path,
) -> None:
    write_folder_scenario(tmp_path)
    address = f"tcp://127.0.0.1:{silent_server if target == 'silent' else free_port()}"
    code, err, seconds = capsim_cli(
        [*SWEEP, "--scheduler", address, *deadline, "--out", "o"], tmp_path, timeout_s=120
    )
    assert code == 2
    assert err == f"capsim: error: {address}: {message} ({deadline[0]})\n"
    assert seconds < 3 + 30  # the deadline, plus starting Python and reading the scenario
    assert not (tmp_path / "o").exists()


def test_a_scheduler_without_workers_ends_within_the_deadline(tmp_path: Path) -> None:
    write_folder_scenario(tmp_path / "scen")
    with DaskCluster(tmp_path / "dask", workers=0) as lonely:
        code, err, seconds = capsim_cli(
            [*SWEEP, "--scheduler", lonely.address, "--connect-timeout", "3s", "--out", "o"],
            tmp_path / "scen",
            timeout_s=120,
        )
    assert code == 2
    assert err == (
        f"capsim: error: {lonely.address}: no Dask worker joined the scheduler within 3 s "
        "(--connect-timeout)\n"
    )
    assert seconds < 3 + 30


def test_runs_longer_than_the_deadline_end_the_sweep(tmp_path: Path) -> None:
    write_folder_scenario(tmp_path)
    # A day at a 1 s tick takes well over a minute per run; the deadline is 8 s.
    scenario: Any = (tmp_path / "scen.yaml").read_text()
    scenario = scenario.replace("duration: 2h", "duration: 24h").replace("tick: 10s", "tick: 1s")
    (tmp_path / "scen.yaml").write_text(scenario)
    (tmp_path / "traces" / "load.csv").write_text(
        "timestamp,requests_per_s\n" + "".join(f"{t},40\n" for t in range(0, 86400 + 60, 60))
    )
    code, err, seconds = capsim_cli(
        [*SWEEP, "--workers", "1", "--timeout", "8s", "--out", "o"], tmp_path, timeout_s=180
    )
    assert code == 2
    assert err == (
        "capsim: error: a Dask LocalCluster of 1 worker(s): the Dask sweep did not finish "
        "within its deadline of 8 s (--timeout)\n"
    )
    assert seconds < 8 + 40  # plus starting Python, the LocalCluster and closing it


def test_a_scheduler_lost_mid_sweep_is_exit_2_naming_it(tmp_path: Path) -> None:
    write_folder_scenario(tmp_path / "scen")
    scenario: Any = yaml.safe_load((tmp_path / "scen" / "scen.yaml").read_text())
    scenario.update(duration="48h", tick="1s")  # minutes per run
    scenario["workloads"][0]["load"] = {"type": "constant", "rate": 40}
    (tmp_path / "scen" / "scen.yaml").write_text(yaml.safe_dump(scenario))
    with DaskCluster(tmp_path / "dask", workers=1) as doomed:
        sweeping = subprocess.Popen(
            [*CAPSIM, *SWEEP, "--scheduler", doomed.address, "--out", "o"],
            cwd=tmp_path / "scen",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            time.sleep(10)  # connected, shipped, running
            doomed.kill_scheduler()
            _, err = sweeping.communicate(timeout=120)
        finally:
            if sweeping.poll() is None:
                sweeping.kill()
                sweeping.wait()
    assert sweeping.returncode == 2
    assert err.count("\n") == 1
    assert err.startswith(
        f"capsim: error: {doomed.address}: lost the Dask scheduler while running: "
    )


def test_workers_0_ends_at_once(tmp_path: Path) -> None:
    write_folder_scenario(tmp_path)
    code, err, seconds = capsim_cli([*SWEEP, "--workers", "0"], tmp_path, timeout_s=60)
    assert code == 2
    assert err == (
        "capsim: error: capsim sweep: argument --workers: must be 1 to 256, got '0' (see --help)\n"
    )
    assert seconds < 30


def test_recommend_by_relative_paths_on_two_workers_equals_the_local_one(
    cluster: DaskCluster, tmp_path: Path
) -> None:
    """``capsim recommend --scheduler``: the engine's confirmation runs happen on the
    workers, which see neither the trace nor the folder it was named from; the answer is
    the local one."""
    import json
    import shutil

    from validate_examples import EXAMPLES, NASA

    folder = tmp_path / "inputs"
    folder.mkdir()
    for name in ("hpa-flapping.yaml", "deployment.yaml"):
        shutil.copy(EXAMPLES / name, folder / name)
    shutil.copy(NASA, folder / "load.csv")
    args = ["recommend", "--hpa", "hpa-flapping.yaml", "--deployment", "deployment.yaml"]
    args += ["--trace", "load.csv", "--scale", "40", "--end", "1d"]
    args += ["--cpu-ms-per-request", "30", "--slo-p95-ms", "200", "--json"]
    args += ["--targets", "60,80", "--presets", "default"]
    local = subprocess.run([*CAPSIM, *args], cwd=folder, capture_output=True, text=True)
    assert local.returncode in (0, 1), local.stderr
    before = sum(executed(cluster.address).values())
    remote = subprocess.run(
        [*CAPSIM, *args, "--scheduler", cluster.address],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert remote.returncode == local.returncode, remote.stderr
    assert json.loads(remote.stdout) == json.loads(local.stdout)
    assert sum(executed(cluster.address).values()) > before  # the workers ran them
