"""truth.h5: the writer both builds use, the slab-by-slab creator, the checking reader."""

import h5py
import numpy as np
import pytest

from trixanes._shared.provenance import Provenance
from trixanes.io.truth import (PHASE_AM, PHASE_CBD, PHASE_CODES_TEXT, PHASE_PORE, PHASE_VOID, Truth,
                               create_truth, read_truth, truth_attrs, write_truth)

SHAPE = (4, 6, 8)


def _arrays():
    phase = np.full(SHAPE, PHASE_PORE, np.uint8)
    phase[0] = PHASE_VOID
    phase[1:3, 1:5, 1:7] = PHASE_AM
    phase[3, :2] = PHASE_CBD
    labels = (phase == PHASE_AM).astype(np.int32)
    li = np.where(phase == PHASE_AM, np.float32(0.7), np.float32(np.nan)).astype(np.float32)
    return li, phase, labels


def _attrs(**kw):
    return truth_attrs(SHAPE, 0.05, x_pristine=1.0, x_charged=0.38, scenario="name = 'x'\n",
                       provenance=Provenance(tool="simulate"), **kw)


@pytest.fixture
def truth_file(tmp_path):
    li, phase, labels = _arrays()
    return write_truth(tmp_path / "truth.h5", li, phase, labels, dict(_attrs(), am_fraction=0.4))


def test_phase_codes():
    assert (PHASE_VOID, PHASE_PORE, PHASE_CBD, PHASE_AM) == (0, 1, 2, 3)
    assert PHASE_CODES_TEXT == "0 void, 1 electrolyte pore, 2 CBD, 3 active material"


def test_round_trip(truth_file):
    li, phase, labels = _arrays()
    t = read_truth(truth_file)
    assert isinstance(t, Truth) and t.path == truth_file
    np.testing.assert_array_equal(t.li, li)
    np.testing.assert_array_equal(t.phase, phase)
    np.testing.assert_array_equal(t.labels, labels)
    assert (t.li.dtype, t.phase.dtype, t.labels.dtype) == (np.float32, np.uint8, np.int32)
    assert t.voxel_size_um == 0.05 and t.origin_um == pytest.approx((-0.1, -0.15, -0.2))
    assert (t.x_pristine, t.x_charged, t.am_fraction) == (1.0, 0.38, 0.4)
    assert t.scenario == "name = 'x'\n" and t.provenance.tool == "simulate"
    assert np.array_equal(t.am_mask, phase == 3)
    with h5py.File(truth_file) as f:
        assert f["phase"].attrs["codes"] == PHASE_CODES_TEXT
        assert all(f[n].compression == "gzip" for n in ("li", "phase", "labels"))


def test_create_truth_filled_slab_by_slab_equals_write_truth(tmp_path, truth_file):
    li, phase, labels = _arrays()
    with create_truth(tmp_path / "slabs.h5", SHAPE, _attrs(), chunks=(2, 6, 8)) as f:
        for z0 in (0, 2):
            f["phase"][z0:z0 + 2], f["labels"][z0:z0 + 2], f["li"][z0:z0 + 2] = (
                phase[z0:z0 + 2], labels[z0:z0 + 2], li[z0:z0 + 2])
        f.attrs["am_fraction"] = 0.4
        assert f["li"].chunks == (2, 6, 8)
    a, b = read_truth(tmp_path / "slabs.h5"), read_truth(truth_file)
    for name in ("li", "phase", "labels"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_a_failed_build_leaves_no_file(tmp_path):
    with pytest.raises(RuntimeError):
        with create_truth(tmp_path / "truth.h5", SHAPE, _attrs()):
            raise RuntimeError("builder failed")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("edit, match", [
    (lambda f: f.__delitem__("labels"), "missing dataset /labels"),
    (lambda f: (f.__delitem__("li"), f.create_dataset("li", data=np.zeros((4, 6)))), "/li must be 3-D"),
    (lambda f: (f.__delitem__("phase"), f.create_dataset("phase", data=np.zeros(SHAPE))),
     "/phase must be integer phase codes"),
    (lambda f: f["phase"].__setitem__((0, 0, 0), 7), r"/phase must hold the codes .*found \[7\]"),
    (lambda f: (f.__delitem__("labels"), f.create_dataset("labels", data=np.zeros((4, 6, 7), np.int32))),
     r"/labels has shape \(4, 6, 7\), /li has \(4, 6, 8\)"),
    (lambda f: f["labels"].__setitem__((0, 0, 0), -1), "/labels must be >= 0"),
    (lambda f: f.attrs.__delitem__("origin_um"), "missing root attribute 'origin_um'"),
    (lambda f: f.attrs.__setitem__("origin_um", [0.0, 1.0]), "'origin_um' must be 3 finite"),
    (lambda f: f.attrs.__setitem__("voxel_size_um", -0.1), "'voxel_size_um' must be positive"),
    (lambda f: f.attrs.__setitem__("voxel_size_um", [0.1, 0.1, 0.2]), "'voxel_size_um' must be 1"),
    (lambda f: f.attrs.__delitem__("x_charged"), "missing root attribute 'x_charged'"),
    (lambda f: f.attrs.__setitem__("provenance", "{not json"), "'provenance' is not a provenance"),
])
def test_bad_files_name_the_file_and_what_is_wrong(truth_file, edit, match):
    with h5py.File(truth_file, "a") as f:
        edit(f)
    with pytest.raises(ValueError, match=match) as err:
        read_truth(truth_file)
    assert str(truth_file) in str(err.value)


def test_missing_or_not_hdf5(tmp_path):
    with pytest.raises(ValueError, match="nothere.h5: no such file"):
        read_truth(tmp_path / "nothere.h5")
    (tmp_path / "t.h5").write_text("text")
    with pytest.raises(ValueError, match="t.h5: not a readable HDF5 file"):
        read_truth(tmp_path / "t.h5")


def test_write_truth_refuses_mismatched_shapes(tmp_path):
    li, phase, labels = _arrays()
    with pytest.raises(ValueError, match="labels: must be 3-D"):
        write_truth(tmp_path / "t.h5", li, phase, labels[:2])
    assert not list(tmp_path.iterdir())


def test_simulated_truth_reads(small_sim):
    t = read_truth(small_sim.truth_path)
    assert t.voxel_size_um == pytest.approx(0.05)
    assert np.array_equal(t.labels > 0, t.am_mask)
    assert t.provenance.tool == "simulate" and t.provenance.options["phantom"] == "whole"
    assert t.am_fraction == pytest.approx(small_sim.am_fraction)
