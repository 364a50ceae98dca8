"""Bundled scenarios are found by name: from any working directory, with or without
``.yaml``; a file of that name wins, a folder (a report, say) does not hide the bundled one,
and an unknown name is an error that lists the bundled scenarios."""

from __future__ import annotations

from pathlib import Path

import pytest

import capsim
from capsim.cli.main import main
from capsim.data import SCENARIOS_DIR, bundled_scenarios, resolve_scenario
from capsim.scenario import ScenarioError


def test_every_bundled_scenario_loads_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    names = [s.name for s in bundled_scenarios()]
    assert "web-diurnal" in names
    for name in names:
        assert capsim.load_scenario(name).name == name
        assert resolve_scenario(f"{name}.yaml") == SCENARIOS_DIR / f"{name}.yaml"


def test_a_local_file_wins_and_a_folder_does_not_hide(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "web-diurnal").mkdir()  # e.g. capsim run web-diurnal --out web-diurnal
    assert resolve_scenario("web-diurnal") == SCENARIOS_DIR / "web-diurnal.yaml"
    mine = (SCENARIOS_DIR / "ml-serving.yaml").read_text(encoding="utf-8")
    (tmp_path / "web-diurnal.yaml").write_text(mine.replace("name: ml-serving", "name: mine"))
    assert resolve_scenario("web-diurnal.yaml") == Path("web-diurnal.yaml")
    assert capsim.load_scenario("web-diurnal.yaml").name == "mine"
    assert resolve_scenario("sub/web-diurnal") == Path("sub/web-diurnal")  # a path, not a name


def test_an_unknown_name_lists_the_bundled_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ScenarioError, match="no such file, nor a bundled scenario"):
        capsim.load_scenario("web-diurnl")
    assert main(["run", "web-diurnl"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("capsim: error: web-diurnl: no such file, nor a bundled scenario (")
    assert all(s.name in err for s in bundled_scenarios())
    assert not (tmp_path / "reports").exists()
