"""A parsed scenario written back as a scenario file: the input form, which reproduces it.

:func:`scenario_document` turns a :class:`~capsim.scenario.schema.Scenario` into the mapping
a scenario file holds, and :func:`document_yaml` into that file's text. It is what a
report's *Scenario as run* shows: run it to reproduce the run.

**The guarantee.** For a scenario ``s`` that :func:`~capsim.scenario.schema.parse_scenario`
returned::

    parse_scenario(scenario_document(s, paths="as_given"), where=s.source, base_dir=s.base_dir) == s

field for field, every float bit for bit. With ``paths="absolute"`` (the default) the same
holds read against any ``base_dir``, except that each file the scenario names (traces,
batch arrivals, work samples, HPA manifests) is written as its absolute path, so the
document reads the same files (as long as they hold what they held) wherever it is saved.
Absolute paths are taken against the current folder when the document is made: make it in
the process that parsed the scenario (as :func:`capsim.run` does).

**How.** One ``model_dump`` of the scenario: ``by_alias`` gives the keys a scenario file
uses (``vcpu``, ``timeout``, camelCase HPA specs), ``mode="json"`` plain YAML types, and
the serialization context of :func:`~capsim.scenario.fields.document_context` has each
field type with a unit write its value as a scenario does, in a form its parser reads back
exactly (:mod:`capsim.scenario.fields`: ``2000m``, ``8Gi`` or whole bytes, ``90s``,
``0.000001s``). Unlike ``summary["scenario_as_run"]`` (Python names, numbers in the
attribute's unit: ``vcpu_millicores: 2000``, which a scenario file would read as 2,000
cores), the document is a scenario file.

Every default is written out, so the document does not depend on a later version's
defaults; only fields left unset (``None``: no SLO, no tick given) are left out, and what
loading derives from files (an empirical service time's ``cv`` and ``samples``) is read
from them again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml

from capsim.scenario.fields import document_context
from capsim.scenario.schema import Scenario

__all__ = ["DOCUMENT_HEADER", "document_yaml", "scenario_document"]

DOCUMENT_HEADER = """\
# The scenario as run, every default filled in: `capsim run THIS_FILE` reproduces the run
# (the same seed, inputs and results with the same capsim version).
# Quantities carry their units (cpu 500m, memory 8Gi or bytes, durations 90s). Files are
# named by their absolute paths as run, so this file works saved in any folder, as long as
# those files still hold what they held for the run.
"""
"""The comment :func:`document_yaml` puts first."""


def scenario_document(
    scenario: Scenario,
    *,
    seed: int | None = None,
    paths: Literal["absolute", "as_given"] = "absolute",
) -> dict[str, Any]:
    """``scenario`` as the mapping a scenario file holds (module docs: what it guarantees).

    ``seed`` replaces the scenario's (a run's ``seed=``/``--seed``), so that the document
    reproduces the run. ``paths="absolute"`` writes the files the scenario names as
    absolute paths (against ``scenario.base_dir`` and the current folder);
    ``"as_given"`` as the scenario gave them (relative to ``scenario.base_dir``).
    """
    base_dir: Path | None = scenario.base_dir if paths == "absolute" else None
    document: dict[str, Any] = scenario.model_dump(
        mode="json",
        by_alias=True,
        exclude_none=True,
        context=document_context(base_dir),
    )
    if seed is not None:
        document["seed"] = seed
    return document


def document_yaml(document: dict[str, Any]) -> str:
    """A :func:`scenario_document` as the text of a scenario file, :data:`DOCUMENT_HEADER`
    first. ``yaml.safe_load`` reads back the same mapping (floats written as ``repr``)."""
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    return DOCUMENT_HEADER + body
