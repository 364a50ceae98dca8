"""``--out`` never destroys what capsim did not write, and no write is ever half done.

The promise (README, "What capsim guarantees"): capsim replaces a folder only when it wrote
it itself (it holds ``.capsim-output``); a file, a symbolic link or any other non-empty
folder is refused with exit 2 and one line, before the simulation starts. Two writers into
one folder end with one whole report and nothing left behind; SIGINT and SIGTERM leave the
old report as it was, no staging folder, and exit 130 / 143 without a traceback.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import capsim
from capsim.cli.main import main
from capsim.results import files
from capsim.results.files import OUTPUT_MARKER, OutputError, check_output_folder

REPORT_FILES = {OUTPUT_MARKER, "summary.json", "events.csv", "jobs.csv", "index.html"}


def tree_digest(root: Path) -> dict[str, str]:
    """Every entry under ``root`` (symlinks not followed) with its content's digest."""
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[name] = "link->" + os.readlink(path)
        elif path.is_file():
            out[name] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[name] = "dir"
    return out


@pytest.fixture
def user_files(tmp_path: Path) -> Path:
    """A place holding what a user cares about: a folder of work, a file, symlinks."""
    home = tmp_path / "home"
    (home / "work").mkdir(parents=True)
    (home / "work" / "thesis.tex").write_text("years of work\n")
    (home / "notes.txt").write_text("do not lose\n")
    (home / "link-to-work").symlink_to(home / "work")
    (home / "dangling").symlink_to(home / "nowhere")
    (home / "empty").mkdir()
    return home


@pytest.fixture
def no_simulation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if a simulation starts: refusals must come before the work."""

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("the simulation ran before --out was checked")

    monkeypatch.setattr(capsim, "run", boom)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("work", "a folder capsim did not write"),
        ("notes.txt", "exists and is not a folder"),
        ("link-to-work", "is a symbolic link"),
        ("dangling", "is a symbolic link"),
        ("notes.txt/inside", "is not a folder"),
    ],
)
def test_run_refuses_what_capsim_did_not_write_before_simulating(
    user_files: Path,
    name: str,
    expected: str,
    no_simulation: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = tree_digest(user_files)
    code = main(["run", "web-diurnal", "--out", str(user_files / name), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith("capsim: error: --out ")
    assert expected in err
    assert "Traceback" not in err
    assert tree_digest(user_files) == before


def test_validate_refuses_a_users_folder_before_simulating(
    user_files: Path, no_simulation: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from capsim.data import EXAMPLES_DIR

    before = tree_digest(user_files)
    from capsim.data import TRACES_DIR

    folder = EXAMPLES_DIR / "validate"
    trace = sorted(TRACES_DIR.glob("*.csv"))[0]
    code = main(
        [
            "validate",
            "--hpa",
            str(folder / "hpa-pass.yaml"),
            "--deployment",
            str(folder / "deployment.yaml"),
            "--trace",
            str(trace),
            "--out",
            str(user_files / "work"),
        ]
    )
    assert code == 2
    assert "a folder capsim did not write" in capsys.readouterr().err
    assert tree_digest(user_files) == before


def test_sweep_report_refuses_a_users_folder(user_files: Path) -> None:
    import pandas as pd

    from capsim.report.sweep_report import write_sweep_report

    before = tree_digest(user_files)
    with pytest.raises(OutputError, match="did not write"):
        write_sweep_report(pd.DataFrame(), pd.DataFrame(), user_files / "work", "t")
    assert tree_digest(user_files) == before


def test_unwritable_place_is_refused_before_simulating(
    no_simulation: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # /proc refuses new folders even to root (chmod would not stop root).
    code = main(["run", "web-diurnal", "--out", "/proc/capsim-report", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "cannot write in /proc" in err
    assert err.count("\n") == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permissions")
def test_read_only_folder_is_refused_before_simulating(
    tmp_path: Path, no_simulation: None, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        assert main(["run", "web-diurnal", "--out", str(locked / "r"), "--quiet"]) == 2
    finally:
        locked.chmod(0o755)
    assert "cannot write in" in capsys.readouterr().err


def test_capsim_replaces_its_own_folder_and_an_empty_one(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    check_output_folder(empty)  # an empty folder holds nothing to lose
    staging = files.new_staging_folder(empty)
    (staging / "a.txt").write_text("1")
    files.publish_folder(staging, empty)
    assert {p.name for p in empty.iterdir()} == {"a.txt", OUTPUT_MARKER}
    staging = files.new_staging_folder(empty)  # now it is capsim's: replaced whole
    (staging / "b.txt").write_text("2")
    files.publish_folder(staging, empty)
    assert {p.name for p in empty.iterdir()} == {"b.txt", OUTPUT_MARKER}
    assert [p.name for p in tmp_path.iterdir()] == ["empty"]  # nothing left beside it


def test_removing_the_marker_protects_the_folder(tmp_path: Path) -> None:
    target = tmp_path / "report"
    staging = files.new_staging_folder(target)
    files.publish_folder(staging, target)
    (target / "my-notes.md").write_text("mine now")
    (target / OUTPUT_MARKER).unlink()
    with pytest.raises(OutputError, match="did not write"):
        check_output_folder(target)


def test_something_put_there_during_the_run_is_not_replaced(tmp_path: Path) -> None:
    target = tmp_path / "report"
    staging = files.new_staging_folder(target)  # checked: the path was free
    target.mkdir()
    (target / "user.txt").write_text("arrived meanwhile")
    with pytest.raises(OutputError, match="did not write"):
        files.publish_folder(staging, target)
    assert (target / "user.txt").read_text() == "arrived meanwhile"
    shutil.rmtree(staging)


def test_run_result_save_refuses_a_users_folder(user_files: Path) -> None:
    from capsim.results.run_result import RunResult

    before = tree_digest(user_files)
    result = RunResult.__new__(RunResult)  # never reached: refused first
    with pytest.raises(OutputError, match="did not write"):
        result.save(user_files / "work")
    assert tree_digest(user_files) == before


def test_stale_staging_of_a_killed_process_is_removed(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(dead.stdout)
    stale = tmp_path / f".report.capsim-staging-{pid}-0123abcd"
    stale.mkdir()
    (stale / "half.csv").write_text("a,b\n1,")
    alive = tmp_path / f".report.capsim-staging-{os.getpid()}-4567"
    alive.mkdir()
    staging = files.new_staging_folder(tmp_path / "report")
    assert not stale.exists()
    assert alive.exists()  # a live process's staging is left alone
    shutil.rmtree(staging)


WRITER = textwrap.dedent(
    """
    import shutil, sys
    from pathlib import Path
    from capsim.results.files import new_staging_folder, publish_folder
    tag, target = sys.argv[1], Path(sys.argv[2])
    for i in range(25):
        staging = new_staging_folder(target)
        try:
            for k in range(12):
                (staging / f"part{k}.txt").write_text(f"{tag}-{i}")
            publish_folder(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    """
)


def test_concurrent_writers_leave_one_whole_folder_and_nothing_else(tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    place = tmp_path / "place"
    place.mkdir()
    target = place / "report"
    procs = [
        subprocess.Popen([sys.executable, str(script), tag, str(target)], stderr=subprocess.PIPE)
        for tag in "abcd"
    ]
    errors = [p.communicate(timeout=120)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    assert [p.name for p in place.iterdir()] == ["report"]  # no .replaced-*, no staging
    parts = {(target / f"part{k}.txt").read_text() for k in range(12)}
    assert len(parts) == 1  # all twelve files from one writer's one write
    assert (target / OUTPUT_MARKER).is_file()


def _old_report(tmp_path: Path) -> Path:
    target = tmp_path / "report"
    staging = files.new_staging_folder(target)
    (staging / "summary.json").write_text('{"old": true}')
    files.publish_folder(staging, target)
    return target


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_writing_keeps_the_old_report_and_no_staging(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    signum: signal.Signals,
) -> None:
    target = _old_report(tmp_path)
    before = tree_digest(tmp_path)
    real = files.write_durably
    calls = []

    def interrupted(path: Path, data: bytes) -> None:
        calls.append(path)
        if len(calls) == 2:  # in the middle of writing the new report's files
            os.kill(os.getpid(), signum)
            time.sleep(1)  # the handler runs here
        real(path, data)

    monkeypatch.setattr(files, "write_durably", interrupted)
    monkeypatch.setattr("capsim.results.run_result.write_durably", interrupted)
    code = main(["run", "web-diurnal", "--out", str(target), "--format", "json"])
    err = capsys.readouterr().err
    assert len(calls) == 2
    assert code == (143 if signum == signal.SIGTERM else 130)
    assert "Traceback" not in err
    assert err.count("\n") == 1
    assert tree_digest(tmp_path) == before  # old report intact, no staging folder


def _interrupted_before_python_started(code: int, stderr: str, signum: signal.Signals) -> bool:
    """Whether the signal came while the interpreter itself was starting, before any of
    capsim ran (so before its handlers): SIGTERM's default action (killed by the signal,
    nothing written), or SIGINT in ``site``'s import (CPython's own fatal error)."""
    if signum == signal.SIGTERM:
        return code == -signal.SIGTERM and not stderr
    return code == 1 and "init_import_site" in stderr and "KeyboardInterrupt" in stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_at_any_moment_of_a_real_run(tmp_path: Path, signum: signal.Signals) -> None:
    """A real ``capsim run`` signalled at several moments: it finished (0) or stopped
    (130/143), without a traceback, and the report folder is the old one or a whole new
    one, with nothing beside it."""
    target = _old_report(tmp_path)
    old = tree_digest(target)
    for delay_s in (0.05, 0.15, 0.3, 1.5, 3.0):  # while importing, while running
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "capsim",
                "run",
                "web-diurnal",
                "--out",
                str(target),
                "--quiet",
                "--format",
                "json",
            ],
            stderr=subprocess.PIPE,
        )
        time.sleep(delay_s)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
        text = err.decode()
        expected = 143 if signum == signal.SIGTERM else 130
        assert [p.name for p in tmp_path.iterdir()] == ["report"]
        now = tree_digest(target)
        if _interrupted_before_python_started(proc.returncode, text, signum):
            # (a loaded machine may still be starting the interpreter: capsim never ran)
            assert delay_s < 1.0, text
            assert now == old
            continue
        assert proc.returncode in (0, expected), text
        assert "Traceback" not in text
        assert now == old or REPORT_FILES - {"index.html"} <= set(now)


def test_compare_refuses_corrupt_saved_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good"
    assert main(["run", "web-diurnal", "--out", str(good), "--quiet", "--format", "json"]) == 0
    capsys.readouterr()
    cases = {
        "not-json": b"{not json",
        "a-list": b"[1, 2, 3]",
        "empty-object": b"{}",
        "deep": b"[" * 100_000 + b"]" * 100_000,
        "binary": bytes(range(256)),
        "string-figure": None,
        "slo-a-string": None,
        "slo-windows-missing": None,
        "clock-not-a-time": None,
        "clock-without-zone": None,
    }
    for name, content in cases.items():
        bad = tmp_path / name
        shutil.copytree(good, bad)
        text = (good / "summary.json").read_text()
        if name == "string-figure":
            content = text.replace('"replicas_max": ', '"replicas_max": "x", "was": ', 1).encode()
        elif name == "slo-a-string":
            content = text.replace('"slo": {', '"slo": "met", "was": {', 1).encode()
        elif name == "slo-windows-missing":
            content = text.replace('"windows": ', '"windows_": ', 1).encode()
        elif name == "clock-not-a-time":
            content = text.replace(
                '"clock_start": "1995', '"clock_start": "yesterday 1995', 1
            ).encode()
        elif name == "clock-without-zone":
            stamp = '"clock_start": "1995-07-06T21:00:00'
            content = text.replace(stamp + 'Z"', stamp + '"', 1).encode()
        assert content is not None
        assert content != text.encode(), name
        (bad / "summary.json").write_bytes(content)
        code = main(["compare", str(good), str(bad)])
        err = capsys.readouterr().err
        assert code == 2, (name, err)
        assert err.count("\n") == 1, (name, err)
        assert "summary.json" in err, (name, err)
    broken_csv = tmp_path / "broken-csv"
    shutil.copytree(good, broken_csv)
    (broken_csv / "events.csv").write_text('time_s,"unclosed\n1,2,3,4\n')
    assert main(["compare", str(good), str(broken_csv)]) == 2
    assert "not a saved run" in capsys.readouterr().err


def _file_size_limit(limit_bytes: int) -> None:
    """In the child: files larger than ``limit_bytes`` fail with EFBIG ([Errno 27])
    instead of killing the process (SIGXFSZ ignored), as on a full quota."""
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))


def test_a_write_that_fails_names_the_output_and_loses_nothing(tmp_path: Path) -> None:
    """A report too big for the file-size limit (errno 27, as on a full disk): one line
    naming --out and the file, exit 2, the old report intact, no staging folder."""
    target = _old_report(tmp_path)
    before = tree_digest(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "capsim", "run", "web-diurnal", "--out", str(target), "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: _file_size_limit(200_000),
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith(f"capsim: error: --out {target}: cannot write (")
    assert "File too large" in proc.stderr
    assert tree_digest(tmp_path) == before


def test_the_committed_example_report_is_capsims_own_folder() -> None:
    """``make example`` regenerates reports/example with ``capsim run --out``: the
    committed folder must carry the marker, or capsim (rightly) refuses to replace it."""
    root = Path(__file__).resolve().parents[1]
    assert (root / "reports" / "example" / OUTPUT_MARKER).is_file()
