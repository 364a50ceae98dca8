"""Long work is not silent on a terminal, and silent everywhere else: stage notes and
progress go to stderr only when it is a terminal (a pseudo-terminal here)."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios

from validate_examples import example_inputs


def _stderr_on_a_terminal(*argv: str) -> tuple[int, str]:
    """Run ``capsim argv`` with stderr on a pseudo-terminal; its exit code and what it
    wrote there."""
    main, side = pty.openpty()
    fcntl.ioctl(side, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 columns
    proc = subprocess.Popen(
        [sys.executable, "-m", "capsim", *argv],
        stdout=subprocess.DEVNULL,
        stderr=side,
        stdin=subprocess.DEVNULL,
    )
    os.close(side)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:  # the child closed its end
            break
        if not data:
            break
        chunks.append(data)
    os.close(main)
    return proc.wait(timeout=300), b"".join(chunks).decode(errors="replace")


def test_recommend_announces_its_stages_on_a_terminal() -> None:
    search = ["--targets", "70", "--presets", "default"]
    code, err = _stderr_on_a_terminal("recommend", *example_inputs("hpa-pass.yaml"), *search)
    assert code in (0, 1), err
    assert "capsim: screening " in err
    assert " HPAs with the fast path" in err
    assert "through the engine…" in err


def test_validate_draws_its_progress_on_a_terminal_only() -> None:
    code, err = _stderr_on_a_terminal("validate", *example_inputs("hpa-pass.yaml"))
    assert code == 0, err
    assert "capsim hpa" in err  # the engine's bar for the validation platform
    piped = subprocess.run(
        [sys.executable, "-m", "capsim", "validate", *example_inputs("hpa-pass.yaml")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert piped.returncode == 0
    assert piped.stderr == ""
