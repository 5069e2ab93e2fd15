"""Data Exchange writer: layout, units, dtype, incremental writing, atomicity."""

import h5py
import numpy as np
import pytest

from trixanes.io.dataexchange import ScanWriter, counts_dtype, write_scan

ENERGY = "/measurement/instrument/monochromator/energy"
RESOLUTION = "/measurement/instrument/detection_system/objective/resolution"


def _scan(rng, counts=True):
    data = rng.poisson(1e4, (6, 4, 5)).astype(np.float32) if counts else rng.random((6, 4, 5))
    return data, np.full((3, 4, 5), 2e4 if counts else 1.0), np.full((2, 4, 5), 100.0 if counts else 0.0)


def test_round_trip_layout_and_units(tmp_path):
    data, flats, darks = _scan(np.random.default_rng(0))
    theta = np.linspace(-120, 120, 6)
    out = write_scan(tmp_path / "e8300.h5", data, flats, darks, theta, 8.30, 0.08, scenario="demo")
    with h5py.File(out) as f:
        np.testing.assert_array_equal(f["/exchange/data"][()], data)
        np.testing.assert_array_equal(f["/exchange/data_white"][()], flats)
        np.testing.assert_array_equal(f["/exchange/data_dark"][()], darks)
        np.testing.assert_array_equal(f["/exchange/theta"][()], theta)
        assert f[ENERGY][()] == pytest.approx(8.30) and f[RESOLUTION][()] == pytest.approx(0.08)
        units = {k: f[k].attrs["units"] for k in
                 ("/exchange/data", "/exchange/data_white", "/exchange/data_dark",
                  "/exchange/theta", ENERGY, RESOLUTION)}
        assert units == {"/exchange/data": "counts", "/exchange/data_white": "counts",
                         "/exchange/data_dark": "counts", "/exchange/theta": "degrees",
                         ENERGY: "keV", RESOLUTION: "um"}
        assert f["/exchange/data"].dtype == np.uint16
        assert f["/exchange/data"].compression == "gzip"
        assert f.attrs["scenario"] == "demo"


def test_dtype_choice(tmp_path):
    rng = np.random.default_rng(1)
    assert counts_dtype(np.array([0.0, 65535.0])) == np.uint16
    assert counts_dtype(np.array([0.0, 65536.0])) == np.float32
    assert counts_dtype(np.array([1.5])) == np.float32
    assert counts_dtype(np.array([-1.0])) == np.float32
    data, flats, darks = _scan(rng, counts=False)  # noise-free transmission
    out = write_scan(tmp_path / "t.h5", data, flats, darks, np.arange(6.0), 8.35, 0.08)
    with h5py.File(out) as f:
        assert f["/exchange/data"].dtype == np.float32
        np.testing.assert_allclose(f["/exchange/data"][()], data, rtol=1e-7)


def test_incremental_writer_in_slabs(tmp_path):
    rng = np.random.default_rng(2)
    data, flats, darks = _scan(rng)
    out = tmp_path / "slabs.h5"
    with ScanWriter(out, data.shape, np.arange(6.0), 8.43, 0.078) as w:
        for start in (4, 0, 2):
            w.write_projections(start, data[start:start + 2])
        w.write_flats(flats)
        w.write_darks(darks)
        assert not out.exists()  # nothing visible until complete
    with h5py.File(out) as f:
        np.testing.assert_array_equal(f["/exchange/data"][()], data)
    with pytest.raises(ValueError, match="slab"):
        with ScanWriter(tmp_path / "x.h5", data.shape, np.arange(6.0), 8.43, 0.078) as w:
            w.write_projections(5, data[:2])


def test_writer_by_bands_of_rows_in_row_chunks(tmp_path):
    data, flats, darks = _scan(np.random.default_rng(5))
    out = tmp_path / "rows.h5"
    with ScanWriter(out, data.shape, np.arange(6.0), 8.43, 0.078, row_chunk=3) as w:
        w.write_rows(3, data[:, 3:])
        w.write_rows(0, data[:, :3])
        w.write_flats(flats)
        w.write_darks(darks)
    with h5py.File(out) as f:
        np.testing.assert_array_equal(f["/exchange/data"][()], data)
        assert f["/exchange/data"].chunks == (6, 3, 5)
    with pytest.raises(ValueError, match="1 detector rows"):
        with ScanWriter(tmp_path / "x.h5", data.shape, np.arange(6.0), 8.43, 0.078, row_chunk=2) as w:
            w.write_rows(0, data[:, :3])
            w.write_flats(flats)
            w.write_darks(darks)
    with pytest.raises(ValueError, match="block"):
        with ScanWriter(tmp_path / "y.h5", data.shape, np.arange(6.0), 8.43, 0.078) as w:
            w.write_rows(3, data[:, :2])
    with pytest.raises(ValueError, match="row_chunk"):
        ScanWriter(tmp_path / "z.h5", data.shape, np.arange(6.0), 8.43, 0.078, row_chunk=9)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.h5"]


def test_atomic_on_error_and_incomplete(tmp_path):
    data, flats, darks = _scan(np.random.default_rng(3))
    out = tmp_path / "boom.h5"
    with pytest.raises(RuntimeError):
        with ScanWriter(out, data.shape, np.arange(6.0), 8.3, 0.08) as w:
            w.write_projections(0, data[:3])
            raise RuntimeError("interrupted")
    with pytest.raises(ValueError, match="incomplete"):
        with ScanWriter(out, data.shape, np.arange(6.0), 8.3, 0.08) as w:
            w.write_projections(0, data)
            w.write_flats(flats)  # darks missing
    assert list(tmp_path.iterdir()) == []  # no file, no temporary left behind
    # an existing good file survives a failed rewrite
    write_scan(out, data, flats, darks, np.arange(6.0), 8.3, 0.08)
    with pytest.raises(ValueError, match="uint16"):
        write_scan(out, data * 1e3, flats, darks, np.arange(6.0), 8.3, 0.08, dtype="uint16")
    with h5py.File(out) as f:
        np.testing.assert_array_equal(f["/exchange/data"][()], data)
    assert len(list(tmp_path.iterdir())) == 1


def test_argument_validation(tmp_path):
    data, flats, darks = _scan(np.random.default_rng(4))
    with pytest.raises(ValueError, match="theta_deg"):
        write_scan(tmp_path / "a.h5", data, flats, darks, np.arange(5.0), 8.3, 0.08)
    with pytest.raises(ValueError, match="energy_kev"):
        write_scan(tmp_path / "a.h5", data, flats, darks, np.arange(6.0), -1.0, 0.08)
    with pytest.raises(ValueError, match="data_white"):
        write_scan(tmp_path / "a.h5", data, flats[:, :2], darks, np.arange(6.0), 8.3, 0.08)
    assert list(tmp_path.iterdir()) == []
