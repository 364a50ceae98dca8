"""Manifests to and from a folder: one YAML file per object, optionally a kustomization.

Writing is all or nothing: the files go to a temporary sibling folder which then
replaces the target, so a reader never sees a half-written set, and objects a previous
emit wrote but this one does not (an Ingress dropped, say) do not linger to be applied.
A folder that holds anything capsim did not write is never replaced.

Formatting is deterministic: keys in the order the objects were built, block style,
no timestamps, so the same configuration gives byte-identical files.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from capsim.kube.checks import name_problems
from capsim.results.files import replace_folder
from capsim.scenario.manifests import ManifestError, raw_objects

__all__ = ["KUSTOMIZATION", "load_manifest_dir", "render", "write_manifests"]

KUSTOMIZATION = "kustomization.yaml"
_MANAGED_BY = ("app.kubernetes.io/managed-by", "capsim")


def file_name(obj: Mapping[str, Any]) -> str:
    """``deployment-web.yaml``: kind and name, lower case."""
    return f"{str(obj['kind']).lower()}-{obj['metadata']['name']}.yaml"


def render(obj: Mapping[str, Any], header: str) -> str:
    """One object as YAML, after a ``#`` comment header."""
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    body = yaml.safe_dump(dict(obj), sort_keys=False, default_flow_style=False, width=100)
    return comment + body


def _kustomization(names: Sequence[str]) -> str:
    document = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": list(names),
    }
    return "# capsim deploy emit: kubectl apply -k .\n" + yaml.safe_dump(
        document, sort_keys=False, default_flow_style=False
    )


def _written_by_capsim(folder: Path) -> list[str]:
    """Entries of ``folder`` capsim did not write (empty: safe to replace)."""
    foreign = []
    for entry in sorted(folder.iterdir()):
        if entry.name == KUSTOMIZATION:
            continue
        if entry.suffix != ".yaml" or not entry.is_file():
            foreign.append(entry.name)
            continue
        try:
            bodies = [o.body for o in raw_objects(entry)]
        except ManifestError:
            foreign.append(entry.name)
            continue
        labels = [(b.get("metadata") or {}).get("labels") or {} for b in bodies]
        if not bodies or any(lab.get(_MANAGED_BY[0]) != _MANAGED_BY[1] for lab in labels):
            foreign.append(entry.name)
    return foreign


def write_manifests(
    objects: Sequence[Mapping[str, Any]], out_dir: Path, header: str, kustomize: bool
) -> list[Path]:
    """Write one file per object (and ``kustomization.yaml``) as the whole of ``out_dir``.

    ``ManifestError`` when ``out_dir`` exists and holds files capsim did not write, or
    two objects would share a file name.
    """
    names = [file_name(obj) for obj in objects]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ManifestError(f"two objects would be written to {duplicates}")
    if out_dir.is_symlink():
        raise ManifestError(
            f"--out {out_dir}: is a symbolic link; capsim writes only a new folder or one it "
            "wrote itself: give another path"
        )
    if out_dir.exists():
        if not out_dir.is_dir():
            raise ManifestError(f"--out {out_dir}: exists and is not a folder")
        foreign = _written_by_capsim(out_dir)
        if foreign:
            raise ManifestError(
                f"--out {out_dir}: holds files capsim did not write ({foreign}); "
                "choose an empty or new folder"
            )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        for name, obj in zip(names, objects, strict=True):
            (staging / name).write_text(render(obj, header), encoding="utf-8")
        if kustomize:
            (staging / KUSTOMIZATION).write_text(_kustomization(names), encoding="utf-8")
        os.chmod(staging, 0o755)
        replace_folder(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [out_dir / name for name in names]


def load_manifest_dir(folder: Path) -> list[tuple[str, dict[str, Any]]]:
    """Every object of the ``*.yaml``/``*.yml`` files of ``folder`` (not the
    kustomization), with where it came from. ``ManifestError`` if there are none or one
    is not a Kubernetes object, or has a name, namespace or label the API server would
    refuse (:func:`capsim.kube.checks.name_problems`)."""
    if not folder.is_dir():
        raise ManifestError(f"{folder}: not a folder of manifests")
    found: list[tuple[str, dict[str, Any]]] = []
    paths = sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml"))
    for path in paths:
        if path.name == KUSTOMIZATION:
            continue
        for raw in raw_objects(path):
            body = dict(raw.body)
            for key in ("apiVersion", "kind"):
                if not isinstance(body.get(key), str):
                    raise ManifestError(f"{raw.where}: {key}: missing (not a Kubernetes object)")
            if not isinstance((body.get("metadata") or {}).get("name"), str):
                raise ManifestError(f"{raw.where}: metadata.name: missing")
            problems = name_problems(body)  # the API server would refuse these names
            if problems:
                raise ManifestError(f"{raw.where}: {problems[0]}")
            found.append((raw.where, body))
    if not found:
        raise ManifestError(f"{folder}: no manifests (*.yaml) to apply")
    return found
