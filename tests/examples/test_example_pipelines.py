"""examples/pipelines: the two external pipelines run through the plug-in contract and are scored.

Measured on ``small_sim`` (noise-free, full angle, 96 x 48 detector, 0.1 µm pixel),
validate's scores:

============================  =========  ================  ===============
pipeline                      AM Dice    interior Li RMSE  total Li error
============================  =========  ================  ===============
trixanes (default)            0.971      0.0192            +0.0035
swap_segmentation.py:run      0.983      0.0192            +0.0030
minimal_iradon.py (command)   0.956      0.131             -0.055
============================  =========  ================  ===============

The minimal one is a floor: no registration of the zone plate's energy-dependent
magnification, no binning, no denoising. The bounds below leave a margin over
these numbers, and each would fail for a broken stage (swapped references give a
total Li error of the order of 0.5, a mask of the wrong phase a Dice near 0).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trixanes.io.limap import read_limap
from trixanes.validate.plugin import CallablePipeline, CommandPipeline, TrixanesPipeline, run_pipeline
from trixanes.validate.scorecard import validate

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "pipelines"


def _run_and_score(pipeline, sim, out):
    run = run_pipeline(pipeline, sim.scan_paths, sim.references_path, out, scenario_path=sim.scenario_path)
    assert run.ok, f"{run.error}\n{run.stderr_tail}"
    card = validate(sim.truth_path, run.limap_path, out / "validate", figures=False)
    return run, card


@pytest.fixture(scope="module")
def trixanes_run(small_sim, tmp_path_factory):
    from trixanes.pipeline.process import ProcessOptions

    return _run_and_score(TrixanesPipeline(ProcessOptions(figures=False)), small_sim,
                          tmp_path_factory.mktemp("trixanes"))


def test_minimal_iradon_command_is_scored_as_a_floor(small_sim, tmp_path, trixanes_run):
    # the script's path and the output folder hold spaces: one argument each
    out = tmp_path / "minimal out"
    template = (f'{{python}} "{EXAMPLES}/minimal_iradon.py" {{post}} {{pre}} {{edge}} '
                f"--refs {{references}} --out {{out}}")
    run, card = _run_and_score(CommandPipeline(template, timeout_s=300), small_sim, out)
    assert run.pipeline == "minimal_iradon.py" and run.returncode == 0
    assert card["segmentation"]["dice"] > 0.93  # measured 0.956
    assert card["voxel"]["interior"]["rmse"] < 0.2  # measured 0.131
    assert abs(card["total"]["error"]) < 0.1  # measured -0.055
    assert card["voxel"]["am"]["missing_fraction"] < 0.1  # measured 0.031
    # a floor: worse than trixanes' own pipeline on the same scans
    assert card["voxel"]["interior"]["rmse"] > 2 * trixanes_run[1]["voxel"]["interior"]["rmse"]
    assert any("no /labels" in n for n in card["notes"])


def test_swap_segmentation_entry_point_swaps_only_the_segmentation(small_sim, tmp_path, trixanes_run):
    run, card = _run_and_score(CallablePipeline(f"{EXAMPLES}/swap_segmentation.py:run"), small_sim, tmp_path)
    assert run.pipeline == "swap_segmentation.py:run"
    assert card["segmentation"]["dice"] > 0.96  # measured 0.983
    assert card["voxel"]["interior"]["rmse"] < 0.03  # measured 0.0192
    assert abs(card["total"]["error"]) < 0.015  # measured +0.0030
    assert card["particles"]["n_found"] > 0  # it labels particles
    mine, own = read_limap(run.limap_path), read_limap(trixanes_run[0].limap_path)
    assert mine.provenance.tool == "swap_segmentation"
    assert mine.shape == own.shape and mine.voxel_size_um == own.voxel_size_um
    assert (mine.am_mask != own.am_mask).any()  # another segmentation ...
    both = np.isfinite(mine.li) & np.isfinite(own.li)  # AM in both, with a valid edge jump in both
    np.testing.assert_allclose(mine.li[both], own.li[both], atol=1e-5)  # ... and the same Li where both see AM
    # nothing but limap.h5 is left behind by the wrapped run
    assert sorted(p.name for p in tmp_path.iterdir()) == ["limap.h5", "validate"]


def test_trixanes_default_through_the_contract(trixanes_run):
    run, card = trixanes_run
    assert run.pipeline == "trixanes" and run.returncode is None
    assert card["voxel"]["interior"]["rmse"] < 0.03  # measured 0.0192
