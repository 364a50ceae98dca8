"""Golden outputs: digests of every file ``capsim run`` writes for each bundled scenario.

``tests/golden/outputs.json`` holds, per bundled scenario at its own seed, the SHA-256 of
each file of its report folder (all formats). It was recorded before the code moved into
the ``capsim`` package, so a test can prove that a refactoring changed no byte. When a
change is *meant* to change the model's outputs, record them again on purpose and say so
in the commit::

    .venv/bin/python tests/golden.py --record

Some bytes depend on a library rather than on capsim: PNG figures on matplotlib's
renderer, the HTML page on matplotlib (the PNGs it embeds without plotly) and plotly (the
plotly.js it inlines and the figure JSON plotly writes, with plotly), the Parquet file on
pyarrow's writer. Those files also get a digest that does not depend on that library (the
HTML page with its images, its plotly.js and its figure data cut out, the Parquet file's
decoded data as CSV), and their raw digest is compared only under the library versions
they were recorded with.

The numbers themselves depend on the numeric libraries' versions in their last bits (a
NumPy release may sum or exponentiate differently). Under the recorded numpy and pandas
every digest must match; under others the summary is compared value by value to 1e-9
relative (``summary`` holds it), and the rest is left to a new recording.

The report's text (HTML, Markdown) is digested without the install path of capsim's
bundled files (:func:`portable`), which the scenario it shows names by absolute path.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import io
import json
import math
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

GOLDEN = Path(__file__).resolve().parent / "golden" / "outputs.json"
FORMATS = ("html", "md", "json")
RENDERERS = ("matplotlib", "plotly", "pyarrow")
NUMERIC = ("numpy", "pandas")
_PNG_DATA = re.compile(rb"data:image/png;base64,[A-Za-z0-9+/=]+")
# capsim.report.interactive: the inlined plotly.js and each figure's JSON.
_PLOTLY_JS = re.compile(rb'(<script id="capsim-plotly-js">).*?(</script>)', re.DOTALL)
_FIGURE_DATA = re.compile(
    rb'(<script type="application/json" class="capsim-figure-data" [^>]*>).*?(</script>)',
    re.DOTALL,
)


_INSTALL_PATH = re.compile(rb"/[^\s'\"<>]*/capsim/data/")
_TEXT = (".md", ".html")


def portable(name: str, data: bytes) -> bytes:
    """A report's text without where capsim is installed: the scenario it shows names its
    bundled files by absolute path (so that it reproduces the run from any folder), which
    differs between checkouts and installs."""
    if not name.endswith(_TEXT):
        return data
    return _INSTALL_PATH.sub(b"<capsim>/capsim/data/", data)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _html_without_images(data: bytes) -> bytes:
    """The page without its PNG data, inlined plotly.js and interactive figures' JSON."""
    data = _PNG_DATA.sub(b"data:image/png;base64,", data)
    data = _PLOTLY_JS.sub(rb"\1\2", data)
    return _FIGURE_DATA.sub(rb"\1\2", data)


def _parquet_data(data: bytes) -> bytes:
    frame = pd.read_parquet(io.BytesIO(data), engine="pyarrow")
    return frame.to_csv(index=False, na_rep="", lineterminator="\n").encode("utf-8")


# Per file suffix: the libraries its raw bytes depend on, and a digest input free of them.
_LIBRARY_FREE: dict[str, tuple[tuple[str, ...], Callable[[bytes], bytes] | None]] = {
    ".png": (("matplotlib",), None),
    ".html": (("matplotlib", "plotly"), _html_without_images),
    ".parquet": (("pyarrow",), _parquet_data),
}


def _version(name: str) -> str:
    """The installed version, or "" when not installed (plotly is an extra)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return ""


def library_versions() -> dict[str, str]:
    return {name: _version(name) for name in (*RENDERERS, *NUMERIC)}


def digest_folder(folder: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file, plus ``path#data`` digests that do not
    depend on the rendering libraries (see the module docstring)."""
    digests: dict[str, str] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        data = portable(name, path.read_bytes())
        digests[name] = _sha(data)
        _, library_free = _LIBRARY_FREE.get(path.suffix, ((), None))
        if library_free is not None:
            digests[f"{name}#data"] = _sha(library_free(data))
    return digests


def close(recorded: Any, now: Any, where: str) -> list[str]:
    """Where two JSON values differ: numbers to 1e-9 relative, everything else exactly."""
    if isinstance(recorded, dict) and isinstance(now, dict):
        if set(recorded) != set(now):
            return [f"{where}: keys differ"]
        return [p for key in recorded for p in close(recorded[key], now[key], f"{where}.{key}")]
    if isinstance(recorded, list) and isinstance(now, list) and len(recorded) == len(now):
        pairs = enumerate(zip(recorded, now, strict=True))
        return [p for i, (a, b) in pairs for p in close(a, b, f"{where}[{i}]")]
    numbers = (int, float)
    if isinstance(recorded, numbers) and isinstance(now, numbers) and not isinstance(now, bool):
        same = math.isclose(recorded, now, rel_tol=1e-9, abs_tol=1e-12)
        return [] if same else [f"{where}: {recorded!r} recorded, {now!r} now"]
    return [] if recorded == now else [f"{where}: {recorded!r} recorded, {now!r} now"]


def mismatches(recorded: dict[str, Any], folder: Path) -> list[str]:
    """What in ``folder`` differs from the recording (see the module docstring)."""
    digests = digest_folder(folder)
    versions = library_versions()
    if any(recorded["versions"].get(lib) != versions[lib] for lib in NUMERIC):
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        return close(recorded["summary"], summary, "summary.json")
    same_renderer = {lib: recorded["versions"].get(lib) == versions[lib] for lib in RENDERERS}
    expected: dict[str, str] = recorded["files"]
    problems = []
    if set(expected) != set(digests):
        problems.append(f"files differ: recorded {sorted(expected)}, now {sorted(digests)}")
    for name, digest in sorted(expected.items()):
        suffix = Path(name.split("#")[0]).suffix
        libraries, _ = _LIBRARY_FREE.get(suffix, ((), None))
        if "#" not in name and not all(same_renderer[lib] for lib in libraries):
            continue
        if digests.get(name) != digest:
            problems.append(f"{name}: bytes differ from the recording")
    return problems


def load_recorded() -> dict[str, Any]:
    recorded: dict[str, Any] = json.loads(GOLDEN.read_text(encoding="utf-8"))
    return recorded


def _record(run_report: Callable[[str, Path], None], names: list[str]) -> None:
    scenarios: dict[str, Any] = {}
    for name in names:
        with tempfile.TemporaryDirectory() as temp:
            out = Path(temp) / name
            run_report(name, out)
            summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
            scenarios[name] = {
                "versions": library_versions(),
                "files": digest_folder(out),
                "summary": summary,
            }
        print(f"recorded {name}: {len(scenarios[name]['files'])} digests", file=sys.stderr)
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(scenarios, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--record", action="store_true", help="run and record every scenario")
    args = parser.parse_args()
    if not args.record:
        parser.error("nothing to do (pass --record)")
    from test_bundled_scenarios import NAMES, write_full_report

    _record(write_full_report, NAMES)


if __name__ == "__main__":
    main()
