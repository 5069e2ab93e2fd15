"""Tests of trixanes.io.dataexchange's reader: Data Exchange reading, unit handling and clear errors."""


from helpers import SHARED_DATA, needs

import h5py
import numpy as np
import pytest

from trixanes.io.dataexchange import ENERGY, FRAME_ENERGY, PIXEL, ScanError, read_scan, scan_info

TOOTH = SHARED_DATA / "tooth_dataexchange.h5"


def write_scan(path, *, n=6, rows=3, cols=8, energy=None, e_units=None, pixel=None, p_units=None,
               frame_energy=None, theta=None, flats_level=1000.0, skip=(), data_shape=None):
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        shapes = {"data": data_shape or (n, rows, cols), "data_white": (4, rows, cols), "data_dark": (3, rows, cols)}
        levels = {"data": 500.0, "data_white": flats_level, "data_dark": 10.0}
        for name, shape in shapes.items():
            if name not in skip:
                f[f"exchange/{name}"] = (levels[name] + rng.random(shape)).astype(np.float32)
        if "theta" not in skip:
            f["exchange/theta"] = np.linspace(0, 180, n, endpoint=False) if theta is None else theta
        for ds, val, units in ((ENERGY, energy, e_units), (PIXEL, pixel, p_units), (FRAME_ENERGY, frame_energy, e_units)):
            if val is not None:
                f[ds] = val
                if units is not None:
                    f[ds].attrs["units"] = units
    return path


@needs('tooth_dataexchange.h5')
def test_reads_real_tooth_scan():
    scan = read_scan(TOOTH)
    assert scan.data.shape == (181, 2, 640) and scan.data.dtype == np.float32
    assert scan.flats.shape == (10, 2, 640) and scan.darks.shape == (10, 2, 640)
    assert scan.theta_deg.shape == (181,) and scan.theta_deg[0] == 0.0
    assert scan.energy_kev is None and scan.pixel_size_um is None
    assert any("energy" in n for n in scan.notes) and any("pixel size" in n for n in scan.notes)
    part = read_scan(TOOTH, rows=slice(1, 2))
    np.testing.assert_array_equal(part.data[:, 0], scan.data[:, 1])
    info = scan_info(TOOTH)
    assert (info.n_angles, info.n_rows, info.n_cols, info.n_flats, info.n_darks) == (181, 2, 640, 10, 10)


@pytest.mark.parametrize(
    "value, units, kev",
    [(8.35, "keV", 8.35), (8350.0, "eV", 8.35), (8.35 * 1.602176634e-16, "J", 8.35),
     (8.35, None, 8.35), (8350.0, None, 8.35), (8.35 * 1.602176634e-16, None, 8.35)],
)
def test_energy_units(tmp_path, value, units, kev):
    scan = read_scan(write_scan(tmp_path / "s.h5", energy=value, e_units=units))
    assert scan.energy_kev == pytest.approx(kev, rel=1e-9)
    if units is None:
        assert any("no units" in n for n in scan.notes)


@pytest.mark.parametrize(
    "value, units, um",
    [(0.03, "um", 0.03), (0.03, "µm", 0.03), (0.03, "micron", 0.03), (30.0, "nm", 0.03),
     (3e-5, "mm", 0.03), (3e-8, "m", 0.03), (3e-8, None, 0.03), (30.0, None, 30.0), (650.0, None, 0.65)],
)
def test_pixel_units(tmp_path, value, units, um):
    scan = read_scan(write_scan(tmp_path / "s.h5", pixel=value, p_units=units))
    assert scan.pixel_size_um == pytest.approx(um, rel=1e-9)


def test_per_frame_energy(tmp_path):
    scan = read_scan(write_scan(tmp_path / "a.h5", frame_energy=np.full(6, 8350.0), e_units="eV"))
    assert scan.energy_kev == pytest.approx(8.35)
    assert any(FRAME_ENERGY in n for n in scan.notes)
    with pytest.raises(ScanError, match="varies"):
        read_scan(write_scan(tmp_path / "b.h5", frame_energy=np.linspace(8330, 8370, 6), e_units="eV"))


def test_monochromator_energy_wins_over_per_frame(tmp_path):
    scan = read_scan(write_scan(tmp_path / "a.h5", energy=8.43, e_units="keV", frame_energy=np.full(6, 8.0)))
    assert scan.energy_kev == pytest.approx(8.43)


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(skip=("data_dark",)), "data_dark"),
     (dict(skip=("theta",)), "theta"),
     (dict(theta=np.arange(5.0)), "theta"),
     (dict(theta=np.array([0, 1, np.nan, 3, 4, 5.0])), "theta"),
     (dict(flats_level=5.0), "data_white"),
     (dict(data_shape=(6, 3, 9)), "data_white"),
     (dict(data_shape=(6, 0, 8)), "empty"),
     (dict(data_shape=(6, 24)), "3-D")],
)
def test_errors_name_file_and_dataset(tmp_path, kwargs, match):
    path = write_scan(tmp_path / "bad.h5", **kwargs)
    with pytest.raises(ScanError, match=match) as exc:
        read_scan(path)
    assert "bad.h5" in str(exc.value)


@needs('tooth_dataexchange.h5')
def test_not_a_file_not_hdf5_truncated(tmp_path):
    with pytest.raises(ScanError, match="no such file"):
        read_scan(tmp_path / "missing.h5")
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not an hdf5 file at all")
    with pytest.raises(ScanError, match="junk.h5"):
        read_scan(junk)
    cut = tmp_path / "cut.h5"
    cut.write_bytes(TOOTH.read_bytes()[:300_000])
    with pytest.raises(ScanError, match="cut.h5"):
        read_scan(cut)
    assert issubclass(ScanError, ValueError)


def test_rows_argument_validated(tmp_path):
    path = write_scan(tmp_path / "s.h5")
    with pytest.raises(ValueError, match="rows"):
        read_scan(path, rows=1)
    with pytest.raises(ValueError, match="rows"):
        read_scan(path, rows=slice(5, 9))


def test_row_chunked_copy_keeps_everything_but_the_layout(small_sim, tmp_path):
    from trixanes.io.dataexchange import needs_row_copy, row_chunked_copy

    import shutil

    src = shutil.copy(small_sim.scan_paths[0], tmp_path / "src.h5")
    with h5py.File(src, "a") as f:
        f["measurement/instrument"].attrs["beamline"] = "test"  # group attributes travel too
    assert needs_row_copy(src, 4) and not needs_row_copy(src, 40)
    dst = row_chunked_copy(src, tmp_path / "rows.h5", 4, budget_bytes=1e5)
    assert not needs_row_copy(dst, 4)
    a, b = read_scan(src, rows=slice(5, 13)), read_scan(dst, rows=slice(5, 13))
    for name in ("data", "flats", "darks", "theta_deg"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert (a.energy_kev, a.pixel_size_um) == (b.energy_kev, b.pixel_size_um)
    with h5py.File(dst) as f:
        assert f["/exchange/data"].chunks[1] == 4 and f["/exchange/data"].compression is None
        assert f["measurement/instrument"].attrs["beamline"] == "test"


@needs('tooth_dataexchange.h5')
def test_missing_metadata_is_one_warning_each():
    info = scan_info(TOOTH)
    assert info.energy_source is None and info.pixel_size_source is None
    assert len(info.warnings) == 2
    assert sum("no photon energy" in n for n in info.notes) == 1
    assert sum("no pixel size" in n for n in info.notes) == 1


def test_overrides_fill_in_agree_or_win_and_say_where_from(tmp_path):
    bare = scan_info(write_scan(tmp_path / "bare.h5"), pixel_size_um=0.5, energy_kev=8.35)
    assert (bare.pixel_size_um, bare.energy_kev) == (0.5, 8.35)
    assert (bare.pixel_size_source, bare.energy_source) == ("option", "option")
    assert bare.warnings == () and sum("the file records none" in n for n in bare.notes) == 2
    path = write_scan(tmp_path / "full.h5", energy=8430.0, e_units="eV", pixel=30.0, p_units="nm")
    own = scan_info(path)
    assert own.energy_kev == pytest.approx(8.43) and own.pixel_size_um == pytest.approx(0.03)
    assert (own.pixel_size_source, own.energy_source) == ("file", "file")
    assert any(n.startswith("energy 8.43 keV from " + ENERGY) for n in own.notes)
    given = read_scan(path, pixel_size_um=0.03, energy_kev=8.35)
    assert (given.pixel_size_um, given.energy_kev) == (0.03, 8.35)
    assert (given.pixel_size_source, given.energy_source) == ("option", "option")
    overrides = [n for n in given.notes if "overrides" in n]
    assert overrides == [f"energy 8.35 keV from the option overrides the file's 8.43 keV ({ENERGY})"]
    assert any("as the file records" in n and PIXEL in n for n in given.notes)


@pytest.mark.parametrize("name, value", [("pixel_size_um", -0.5), ("pixel_size_um", 0.0),
                                         ("pixel_size_um", np.inf), ("energy_kev", np.nan),
                                         ("energy_kev", "eight")])
def test_bad_overrides_are_refused_naming_the_argument(tmp_path, name, value):
    path = write_scan(tmp_path / "s.h5")
    with pytest.raises(ValueError, match=f"{name}: must be a positive, finite number"):
        scan_info(path, **{name: value})
    with pytest.raises(ValueError, match=name):
        read_scan(path, **{name: value})
