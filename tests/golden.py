"""Golden outputs: digests of every file ``capsim run`` writes for each bundled scenario.

``tests/golden/outputs.json`` holds, per bundled scenario at its own seed, the SHA-256 of
each file of its report folder (all formats). It was recorded before the code moved into
the ``capsim`` package, so a test can prove that a refactoring changed no byte. When a
change is *meant* to change the model's outputs, record them again on purpose and say so
in the commit::

    .venv/bin/python tests/golden.py --record

Some bytes depend on a library rather than on capsim: PNG figures (and the HTML page that
embeds them) on matplotlib's renderer, the Parquet file on pyarrow's writer. Those files
also get a digest that does not depend on that library (the HTML page with its images
cut out, the Parquet file's decoded data as CSV), and their raw digest is compared only
under the library versions they were recorded with.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import io
import json
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

GOLDEN = Path(__file__).resolve().parent / "golden" / "outputs.json"
FORMATS = ("html", "md", "json")
RENDERERS = ("matplotlib", "pyarrow")
_PNG_DATA = re.compile(rb"data:image/png;base64,[A-Za-z0-9+/=]+")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _html_without_images(data: bytes) -> bytes:
    return _PNG_DATA.sub(b"data:image/png;base64,", data)


def _parquet_data(data: bytes) -> bytes:
    frame = pd.read_parquet(io.BytesIO(data), engine="pyarrow")
    return frame.to_csv(index=False, na_rep="", lineterminator="\n").encode("utf-8")


# Per file suffix: the library its raw bytes depend on, and a digest input free of it.
_LIBRARY_FREE: dict[str, tuple[str, Callable[[bytes], bytes] | None]] = {
    ".png": ("matplotlib", None),
    ".html": ("matplotlib", _html_without_images),
    ".parquet": ("pyarrow", _parquet_data),
}


def renderer_versions() -> dict[str, str]:
    return {name: importlib.metadata.version(name) for name in RENDERERS}


def digest_folder(folder: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file, plus ``path#data`` digests that do not
    depend on the rendering libraries (see the module docstring)."""
    digests: dict[str, str] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        data = path.read_bytes()
        digests[name] = _sha(data)
        _, library_free = _LIBRARY_FREE.get(path.suffix, ("", None))
        if library_free is not None:
            digests[f"{name}#data"] = _sha(library_free(data))
    return digests


def mismatches(recorded: dict[str, Any], digests: dict[str, str]) -> list[str]:
    """What differs from the recording; raw digests of library-rendered files count only
    under the library versions they were recorded with."""
    versions = renderer_versions()
    same_renderer = {lib: recorded["versions"].get(lib) == versions[lib] for lib in RENDERERS}
    expected: dict[str, str] = recorded["files"]
    problems = []
    if set(expected) != set(digests):
        problems.append(f"files differ: recorded {sorted(expected)}, now {sorted(digests)}")
    for name, digest in sorted(expected.items()):
        suffix = Path(name.split("#")[0]).suffix
        library, _ = _LIBRARY_FREE.get(suffix, ("", None))
        if "#" not in name and library and not same_renderer[library]:
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
            scenarios[name] = {"versions": renderer_versions(), "files": digest_folder(out)}
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
