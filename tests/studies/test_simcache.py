"""The simulation cache: each scenario simulated once, entries complete or absent, portable."""

from __future__ import annotations

import shutil

import pytest

from helpers import dataset_digest
from trixanes.studies import simcache
from trixanes.studies.simcache import cached_simulation, default_cache_dir, simulation_key
from trixanes.synth.config import Scenario

SMALL = Scenario.preset("tiny").replace(acquisition={"detector_cols": 24, "detector_rows": 8,
                                                     "n_projections": 12})


def _contents(sim):
    """What a simulation holds, without the time it was made (provenance)."""
    files = {p.name: dataset_digest(p) for p in (*sim.scan_paths, sim.truth_path)}
    lines = sim.references_path.read_text().splitlines()
    files[sim.references_path.name] = [ln for ln in lines if not ln.startswith("#")]
    return files


def test_second_call_simulates_nothing(tmp_path, monkeypatch):
    first = cached_simulation(SMALL, tmp_path)
    assert not first.cached and first.folder == tmp_path / simulation_key(SMALL)
    assert [p.name for p in first.scan_paths] == sorted(p.name for p in first.scan_paths)
    assert Scenario.from_toml(first.scenario_path) == SMALL

    def no_simulation(*a, **k):
        raise AssertionError("simulated again")

    monkeypatch.setattr("trixanes.synth.simulate.simulate", no_simulation)
    again = cached_simulation(SMALL, tmp_path)
    assert again.cached and again.scan_paths == first.scan_paths and again.seconds == first.seconds
    assert [p.name for p in tmp_path.iterdir()] == [first.key]  # no work folder left


def test_key_follows_scenario_and_generator(monkeypatch):
    k = simulation_key(SMALL)
    assert k == simulation_key(Scenario.from_dict(SMALL.to_dict()))
    assert k != simulation_key(SMALL.replace(seed=1))
    assert k != simulation_key(SMALL.replace(acquisition={"dead_wedge_deg": 30.0}))
    monkeypatch.setattr(simcache, "generator_version", lambda: "0.0.0+other")
    assert simulation_key(SMALL) != k
    with pytest.raises(ValueError, match="expected a trixanes.synth.config.Scenario"):
        simulation_key({"seed": 0})


def test_generator_version_hashes_what_synth_imports():
    v = simcache.generator_version()
    assert v == simcache.source_version(simcache.GENERATOR_PACKAGES)
    names = dict(simcache.source_modules(simcache.GENERATOR_PACKAGES))
    # the formats a simulation writes and the helpers it calls are part of it ...
    for name in ("trixanes.io.truth", "trixanes.io.dataexchange.writer", "trixanes.io.references",
                 "trixanes._shared.atomic", "trixanes.synth.projector", "trixanes"):
        assert name in names
    # ... what it never runs is not: a change there keeps the cached simulations
    for name in ("trixanes.io.series", "trixanes.io.limap", "trixanes.pipeline.process"):
        assert name not in names
    assert v != simcache.source_version(("trixanes.synth", "trixanes.pipeline"))


def test_imports_are_read_from_the_source(tmp_path):
    src = tmp_path / "fake.py"
    src.write_text("import numpy\nimport trixanes.io.tiff\nfrom ..io import truth\n"
                   "from . import projector as P\n"
                   "def f():\n    from trixanes._shared.atomic import write_text\n")
    got = set(simcache._imports("trixanes.synth.fake", src, is_package=False))
    assert {"trixanes.io.tiff", "trixanes.io", "trixanes.io.truth", "trixanes.synth",
            "trixanes.synth.projector", "trixanes._shared.atomic"} <= got
    assert not any(m.startswith("numpy") for m in got)


def test_damaged_entry_is_simulated_again(tmp_path):
    first = cached_simulation(SMALL, tmp_path)
    want = _contents(first)
    with open(first.scan_paths[1], "r+b") as f:  # a copy cut short
        f.truncate(100)
    again = cached_simulation(SMALL, tmp_path)
    assert not again.cached and _contents(again) == want  # same seed, same data


def test_interrupted_simulation_leaves_nothing(tmp_path, monkeypatch):
    def dies(scenario, out_dir, **kw):
        (out_dir / "scan_8300eV.h5").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr("trixanes.synth.simulate.simulate", dies)
    with pytest.raises(KeyboardInterrupt):
        cached_simulation(SMALL, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_two_makers_keep_the_first(tmp_path, monkeypatch):
    import trixanes.synth.simulate as sim_mod

    real = sim_mod.simulate
    state = {"raced": False}

    def racing(scenario, out_dir, **kw):
        if not state["raced"]:  # another process finishes the same entry meanwhile
            state["raced"] = True
            cached_simulation(scenario, tmp_path)
        return real(scenario, out_dir, **kw)

    monkeypatch.setattr(sim_mod, "simulate", racing)
    got = cached_simulation(SMALL, tmp_path)
    assert got.cached and got.folder.name == simulation_key(SMALL)
    assert sorted(p.name for p in tmp_path.iterdir()) == [got.key]


def test_entry_copied_to_another_machine_is_used(tmp_path, monkeypatch):
    first = cached_simulation(SMALL, tmp_path / "here")
    shutil.copytree(first.folder, tmp_path / "there" / first.key)
    monkeypatch.setattr("trixanes.synth.simulate.simulate", lambda *a, **k: pytest.fail("simulated"))
    there = cached_simulation(SMALL, tmp_path / "there")
    assert there.cached and there.truth_path == tmp_path / "there" / first.key / "truth.h5"


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("TRIXANES_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("TRIXANES_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x" / "trixanes" / "simulations"


def test_cache_that_is_a_file_is_refused(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ValueError, match="simulation cache"):
        cached_simulation(SMALL, f)
