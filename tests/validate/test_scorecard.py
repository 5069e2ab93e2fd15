"""Tests of validate.scorecard: files in, scorecard.json out."""

import json

import h5py
import numpy as np
import pytest

from trixanes._shared.jsonio import dumps
from trixanes.io.limap import read_limap
from trixanes.io.scorecard import Scorecard, read_scorecard
from trixanes.validate.grid import truth_on_grid
from trixanes.io.truth import read_truth
from trixanes.validate.scorecard import summary_table, validate

XP, XC = 1.0, 0.38
TV = 0.1  # truth voxel, µm
ORIGIN = (-1.2, -1.6, -1.6)


def box_truth():
    """Three boxes of AM with a linear Li gradient along x, in CBD/electrolyte."""
    shape = (24, 32, 32)
    phase = np.ones(shape, np.uint8)
    phase[:, :, :4] = 2
    labels = np.zeros(shape, np.int32)
    for i, sl in enumerate([np.s_[2:12, 4:16, 6:18], np.s_[2:14, 18:30, 6:20],
                            np.s_[14:22, 6:26, 20:30]], start=1):
        phase[sl], labels[sl] = 3, i
    x = np.linspace(0.4, 1.0, shape[2], dtype=np.float32)
    li = np.where(phase == 3, np.broadcast_to(x, shape), np.nan).astype(np.float32)
    return li, phase, labels


def write_truth(path, li, phase, labels, **attrs):
    with h5py.File(path, "w") as f:
        f["li"], f["phase"], f["labels"] = li, phase, labels
        f.attrs.update(dict(voxel_size_um=TV, origin_um=ORIGIN, x_pristine=XP, x_charged=XC))
        f.attrs.update(attrs)


def write_limap(path, li, am, labels, voxel, **attrs):
    with h5py.File(path, "w") as f:
        f["li"] = li.astype(np.float32)
        f["edge_jump"] = li.astype(np.float32)
        f["am_mask"] = am.astype(np.uint8)
        f["labels"] = labels.astype(np.int32)
        f.attrs.update(dict(voxel_size_um=voxel, origin_um=ORIGIN, energies_kev=[8.3, 8.35, 8.43],
                            binning=1, x_pristine=XP, x_charged=XC))
        f.attrs.update(attrs)


@pytest.fixture()
def files(tmp_path):
    """truth.h5 and a limap.h5 made from the truth block-averaged at k = 2."""
    li, phase, labels = box_truth()
    write_truth(tmp_path / "truth.h5", li, phase, labels)
    shape = tuple(n // 2 for n in li.shape)
    g = truth_on_grid(li, phase, labels, TV, ORIGIN, shape, 2 * TV, ORIGIN)
    return tmp_path, g


def limap_from(g, path, offset=0.0):
    write_limap(path, np.where(g.am_mask, g.li + offset, np.nan), g.am_mask, g.labels, 2 * TV)
    return path


def strict_json(path):
    def bad(c):
        raise AssertionError(f"non-standard JSON constant {c}")

    return json.loads(path.read_text(), parse_constant=bad)


def test_truth_against_itself_scores_perfect(files):
    tmp, g = files
    card = validate(tmp / "truth.h5", limap_from(g, tmp / "limap.h5"), tmp / "out", figures=False)
    assert isinstance(card, Scorecard)
    assert strict_json(tmp / "out" / "scorecard.json") == json.loads(dumps(card))
    assert "block mean, k = 2" in card["grid"]["method"]
    assert card["voxel"]["am"]["rmse"] == 0 and card["voxel"]["interior"]["rmse"] == 0
    assert card["voxel"]["interior"]["n"] > 0
    assert card["segmentation"]["dice"] == 1
    assert card["particles"]["f1"] == 1 and card["particles"]["n_true"] == 3
    assert card["total"]["error"] == 0
    m = np.array(card["classes"]["matrix"])
    assert card["classes"]["accuracy"] == 1 and np.all(m == np.diag(np.diag(m)))
    assert card["profiles"]["z"]["rmse"] == 0 and card["profiles"]["depth"]["rmse"] == 0
    for key in ("grid", "voxel", "classes", "segmentation", "particles", "profiles", "total",
                "truth_stats", "result_stats"):
        assert key in card


def test_offset_result_and_summary_table(files):
    tmp, g = files
    card = validate(tmp / "truth.h5", limap_from(g, tmp / "limap.h5", 0.05), tmp / "out",
                    figures=False)
    assert card["voxel"]["am"]["bias"] == pytest.approx(0.05, abs=1e-6)
    assert card["voxel"]["interior"]["rmse"] == pytest.approx(0.05, abs=1e-6)
    assert card["total"]["error"] == pytest.approx(0.05, abs=1e-6)
    assert card["particles"]["mean_li"]["mae"] == pytest.approx(0.05, abs=1e-6)
    assert card["segmentation"]["dice"] == 1
    table = summary_table(card)
    assert "interior Li RMSE" in table and "0.0500" in table and "+0.0500" in table
    assert "particle F1" in table and "1.000" in table
    assert len({len(line) for line in table.splitlines()}) == 1  # fixed width


def test_figures_written(files):
    tmp, g = files
    card = validate(tmp / "truth.h5", limap_from(g, tmp / "limap.h5", 0.02), tmp / "out")
    for name in card["figures"]:
        assert (tmp / "out" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list((tmp / "out").glob("*.part"))


def test_statistics_side_by_side(files):
    """Truth and result statistics by the pipeline's analyze, on one grid; provenance of the inputs."""
    tmp, g = files
    card = validate(tmp / "truth.h5", limap_from(g, tmp / "limap.h5", 0.05), tmp / "out",
                    figures=False, thresholds=(0.5, 0.8))
    ts, rs = card.truth_stats, card.result_stats
    assert ts.thresholds == rs.thresholds == (0.5, 0.8) and ts.voxel_size_um == (2 * TV,) * 3
    assert rs.total_li - ts.total_li == pytest.approx(0.05, abs=1e-6)
    assert card["total"]["error"] == pytest.approx(rs.total_li - ts.total_li)
    assert [p.label for p in ts.particles] == [1, 2, 3] and rs.n_particles == 3
    back = read_scorecard(tmp / "out" / "scorecard.json")
    assert back.result_stats.total_li == pytest.approx(rs.total_li)
    prov = back.provenance
    assert prov.tool == "validate" and prov.options["thresholds"] == [0.5, 0.8]
    assert prov.inputs["limap"]["path"] == str((tmp / "limap.h5").resolve())
    assert len(prov.inputs["truth"]["sha256"]) == 64 and len(prov.inputs["limap"]["sha256"]) == 64


def test_mismatched_references_are_noted(files):
    tmp, g = files
    path = limap_from(g, tmp / "limap.h5")
    with h5py.File(path, "a") as f:
        f.attrs["x_charged"] = 0.4
    card = validate(tmp / "truth.h5", path, tmp / "out", figures=False)
    assert any("references differ" in n for n in card["notes"])


@pytest.mark.parametrize(
    "kind, edit, match",
    [
        ("truth", lambda f: f.__delitem__("phase"), "missing dataset /phase"),
        ("truth", lambda f: f.attrs.__delitem__("origin_um"), "missing root attribute 'origin_um'"),
        ("truth", lambda f: f.attrs.__setitem__("origin_um", [0.0, 1.0]), "'origin_um' must be 3"),
        ("result", lambda f: f.__delitem__("am_mask"), "missing dataset /am_mask"),
        ("result", lambda f: (f.__delitem__("li"), f.create_dataset("li", data=np.zeros((4, 4)))),
         "/li must be 3-D"),
        ("result", lambda f: (f.__delitem__("labels"),
                              f.create_dataset("labels", data=np.zeros((12, 16, 16)))),
         "/labels must be integer"),
        ("result", lambda f: (f.__delitem__("labels"),
                              f.create_dataset("labels", data=np.zeros((2, 2, 2), np.int32))),
         "/labels has shape"),
        ("result", lambda f: f.attrs.__delitem__("voxel_size_um"), "'voxel_size_um'"),
    ],
)
def test_bad_file_names_file_and_dataset(files, kind, edit, match):
    tmp, g = files
    path = tmp / "truth.h5" if kind == "truth" else limap_from(g, tmp / "limap.h5")
    with h5py.File(path, "a") as f:
        edit(f)
    with pytest.raises(ValueError, match=match) as err:
        validate(tmp / "truth.h5", limap_from(g, tmp / "other.h5") if kind == "truth" else path,
                 tmp / "out", figures=False)
    assert str(path) in str(err.value)
    assert not (tmp / "out" / "scorecard.json").exists()


def test_not_hdf5_or_missing(tmp_path):
    p = tmp_path / "limap.h5"
    p.write_text("not hdf5")
    with pytest.raises(ValueError, match="limap.h5: not a readable HDF5"):
        read_limap(p)
    with pytest.raises(ValueError, match="nothere.h5: no such file"):
        read_truth(tmp_path / "nothere.h5")


def test_summary_table_tolerates_missing_values():
    table = summary_table({"voxel": {"interior": {"rmse": None}}})
    assert table.count("n/a") == 8
