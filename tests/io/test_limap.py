"""trixanes.io.limap: the round trip and every error of the reader, naming file and dataset."""

import json

import h5py
import numpy as np
import pytest

from trixanes._shared.provenance import Provenance
from trixanes.io.limap import LIMAP_REQUIRED, LiMap, read_limap, write_limap

SHAPE = (3, 4, 5)


def good(path, **attrs):
    with h5py.File(path, "w") as f:
        f["li"] = np.full(SHAPE, 0.8, np.float32)
        f["am_mask"] = np.ones(SHAPE, np.uint8)
        f["labels"] = np.ones(SHAPE, np.int32)
        f.attrs["voxel_size_um"] = 0.2
        f.attrs.update(attrs)
    return path


def test_round_trip_keeps_every_field(tmp_path):
    am = np.zeros(SHAPE, bool)
    am[1:, 1:3, 1:4] = True
    li = np.where(am, 0.7, np.nan).astype(np.float32)
    prov = Provenance(tool="process", options={"binning": 2}, warnings=("pixel size missing",))
    m = LiMap(li=li, am_mask=am, labels=am.astype(np.int32) * 4, edge_jump=li + 0.1, li_sigma=li * 0 + 0.01,
              voxel_size_um=(0.3, 0.2, 0.2), origin_um=(-1.0, -2.0, -3.0), x_pristine=1.0, x_charged=0.4,
              energies_kev=(8.30, 8.35, 8.43), binning=2, provenance=prov)
    mu = {"post": np.ones(SHAPE, np.float32)}
    back, mus = read_limap(write_limap(tmp_path / "limap.h5", m, mu=mu), mu=True)
    np.testing.assert_array_equal(back.li, li)
    np.testing.assert_array_equal(back.am_mask, am)
    np.testing.assert_array_equal(back.labels, m.labels)
    np.testing.assert_array_equal(back.li_sigma, m.li_sigma)
    assert back.voxel_size_um == (0.3, 0.2, 0.2) and back.origin_um == (-1.0, -2.0, -3.0)
    assert back.x_charged == 0.4 and back.energies_kev == (8.30, 8.35, 8.43) and back.binning == 2
    assert back.provenance == prov
    assert set(mus) == {"post"} and mus["post"].dtype == np.float32
    with h5py.File(tmp_path / "limap.h5", "r") as f:
        assert f["am_mask"].dtype == np.uint8 and f["labels"].dtype == np.int32
        assert f["mu/post"].attrs["units"] == "1/um"
        assert json.loads(f.attrs["provenance"])["tool"] == "process"


def test_minimal_file_defaults_and_finite_li_outside_mask_is_masked(tmp_path):
    p = good(tmp_path / "limap.h5")
    with h5py.File(p, "a") as f:
        del f["labels"]
        m = f["am_mask"][()]
        m[0] = 0
        f["am_mask"][...] = m
    r = read_limap(p)
    assert r.labels is None and r.edge_jump is None and r.provenance is None
    assert r.origin_um == pytest.approx((-0.3, -0.4, -0.5))  # centred on the rotation axis
    assert (r.x_pristine, r.x_charged) == (1.0, 0.38)
    assert np.isnan(r.li[0]).all() and (r.li[1:] == np.float32(0.8)).all()


def _replace(name, data):
    def edit(f):
        del f[name]
        f[name] = data
    return edit


@pytest.mark.parametrize("edit, match", [
    (lambda f: f.__delitem__("li"), r"missing dataset /li \(required: /li, /am_mask\)"),
    (lambda f: f.__delitem__("am_mask"), "missing dataset /am_mask"),
    (_replace("li", np.zeros((4, 5), np.float32)), "dataset /li must be 3-D"),
    (_replace("li", np.zeros(SHAPE, np.int32)), "dataset /li must be floating point"),
    (_replace("am_mask", np.ones((3, 4, 4), np.uint8)), r"dataset /am_mask has shape \(3, 4, 4\), /li has"),
    (_replace("am_mask", np.full(SHAPE, 2, np.uint8)), r"/am_mask must hold only 0 and 1, found \[2\]"),
    (_replace("am_mask", np.ones(SHAPE, np.float32)), "/am_mask must be 0/1"),
    (_replace("labels", np.ones(SHAPE, np.float64)), r"/labels must be integer \(int32\), has dtype float64"),
    (_replace("labels", -np.ones(SHAPE, np.int32)), "/labels must be >= 0"),
    (_replace("labels", np.ones((3, 4, 1), np.int32)), "dataset /labels has shape"),
    (_replace("edge_jump", np.ones((1, 1, 1), np.float32)), "dataset /edge_jump has shape"),
    (lambda f: f.attrs.__delitem__("voxel_size_um"), "missing root attribute 'voxel_size_um'"),
    (lambda f: f.attrs.__setitem__("voxel_size_um", 0.0), "'voxel_size_um' must be 1 or 3 positive finite"),
    (lambda f: f.attrs.__setitem__("voxel_size_um", np.nan), "'voxel_size_um' must be 1 or 3 positive finite"),
    (lambda f: f.attrs.__setitem__("voxel_size_um", [0.1, 0.2]), "'voxel_size_um' must be 1 or 3"),
    (lambda f: f.attrs.__setitem__("origin_um", [0.0, 1.0]), "attribute 'origin_um' must be 3 finite"),
    (lambda f: f.attrs.__setitem__("binning", 1.5), "attribute 'binning' must be an integer"),
    (lambda f: f.attrs.__setitem__("provenance", "{not json"), "attribute 'provenance' is not a provenance"),
])
def test_reader_names_file_and_dataset(tmp_path, edit, match):
    p = good(tmp_path / "limap.h5")
    with h5py.File(p, "a") as f:
        if "edge_jump" in match:
            f["edge_jump"] = np.ones(SHAPE, np.float32)
        edit(f)
    with pytest.raises(ValueError, match=match) as err:
        read_limap(p)
    assert str(p) in str(err.value)


def test_not_a_file_or_not_hdf5(tmp_path):
    with pytest.raises(ValueError, match="nothere.h5: no such file"):
        read_limap(tmp_path / "nothere.h5")
    (tmp_path / "x.h5").write_text("text")
    with pytest.raises(ValueError, match="x.h5: not a readable HDF5 file"):
        read_limap(tmp_path / "x.h5")


def test_writer_is_atomic_and_checks_its_inputs(tmp_path, monkeypatch):
    m = LiMap(li=np.zeros(SHAPE, np.float32), am_mask=np.ones(SHAPE, bool), voxel_size_um=0.1)
    with pytest.raises(ValueError, match="mu/edge has shape"):
        write_limap(tmp_path / "a.h5", m, mu={"edge": np.zeros((1, 1, 1), np.float32)})
    with pytest.raises(ValueError, match="roles are pre, edge, post"):
        write_limap(tmp_path / "a.h5", m, mu={"middle": np.zeros(SHAPE, np.float32)})
    assert not list(tmp_path.iterdir())  # nothing half-written
    with pytest.raises(ValueError, match="LiMap: dataset /am_mask has shape"):
        LiMap(li=np.zeros(SHAPE, np.float32), am_mask=np.ones((1, 2, 3), bool))
    assert LIMAP_REQUIRED == ("li", "am_mask")
