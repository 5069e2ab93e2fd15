import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import dataset_digest
from trixanes.synth.config import Scenario
from trixanes.synth.simulate import simulate
from trixanes.io.dataexchange import read_scan


def test_writes_beamline_files_that_the_pipeline_reads(small_sim):
    assert [p.name for p in small_sim.scan_paths] == ["scan_8300eV.h5", "scan_8350eV.h5", "scan_8430eV.h5"]
    energies, pixels = [], []
    for p in small_sim.scan_paths:
        scan = read_scan(p)
        energies.append(scan.energy_kev)
        pixels.append(scan.pixel_size_um)
        t = (scan.data - scan.darks.mean(0)) / (scan.flats.mean(0) - scan.darks.mean(0))
        assert np.all(t > 0) and np.all(t <= 1.0 + 1e-6)  # transmission in (0, 1]
    np.testing.assert_allclose(energies, [8.30, 8.35, 8.43])
    # zone-plate magnification ~ E: pixel size at the sample ~ 1/E
    np.testing.assert_allclose(np.array(pixels) * np.array(energies), 0.1 * 8.30, rtol=1e-9)
    lines = small_sim.references_path.read_text().splitlines()
    header = next(ln for ln in lines if not ln.startswith("#"))  # comment lines say how it was made
    assert header == "energy_kev,pristine,charged"


def test_truth_file_contract(small_sim):
    with h5py.File(small_sim.truth_path, "r") as f:
        li, phase, labels = f["li"][...], f["phase"][...], f["labels"][...]
        v = f.attrs["voxel_size_um"]
        origin = f.attrs["origin_um"]
        xc, xp = f.attrs["x_charged"], f.attrs["x_pristine"]
    am = phase == 3
    assert li.dtype == np.float32 and labels.dtype == np.int32 and phase.dtype == np.uint8
    assert np.all(np.isnan(li[~am]))
    assert np.all((li[am] >= np.float32(xc)) & (li[am] <= np.float32(xp)))  # bounds as stored (float32)
    assert np.all((labels > 0) == am)
    assert v == pytest.approx(0.05)
    np.testing.assert_allclose(origin, [-n / 2 * v for n in phase.shape])


def test_same_seed_same_files_other_seed_other_sample(tmp_path, small_sim):
    from helpers import small_scenario

    again = simulate(small_scenario(), tmp_path / "again", progress=False)
    for a, b in zip(small_sim.scan_paths, again.scan_paths):
        assert dataset_digest(a) == dataset_digest(b)
    assert dataset_digest(small_sim.truth_path) == dataset_digest(again.truth_path)
    other = simulate(small_scenario().replace(seed=1), tmp_path / "other", progress=False)
    with h5py.File(other.truth_path) as f1, h5py.File(small_sim.truth_path) as f2:
        assert not np.array_equal(f1["phase"][...], f2["phase"][...])


def test_backend_is_checked_before_any_work(tmp_path):
    from trixanes._shared.cuda import cupy_available

    with pytest.raises(ValueError, match="backend: must be one of numba, cupy"):
        simulate(Scenario.preset("tiny"), tmp_path / "a", progress=False, backend="gpu")
    if not cupy_available():
        with pytest.raises(ValueError, match="backend='cupy' needs CuPy and a CUDA GPU"):
            simulate(Scenario.preset("tiny"), tmp_path / "b", progress=False, backend="cupy")
    assert not list(tmp_path.iterdir())


def test_noisy_scan_counts_and_scenario_file(tmp_path):
    sc = Scenario.preset("tiny").replace(acquisition={"flux_photons": 3000.0, "detector_rows": 8})
    res = simulate(sc, tmp_path, progress=False)
    with h5py.File(res.scan_paths[0], "r") as f:
        assert f["/exchange/data"].dtype == np.uint16  # whole counts fit a 16-bit detector
        assert f["/exchange/data_white"][...].mean() == pytest.approx(3100, rel=0.02)
    assert Scenario.from_toml(res.scenario_path) == sc


def _nmc622_table(shared_data, path):
    """The measured NMC622 pristine and 4.3 V spectra as a references table (eV)."""
    lines = [ln for ln in (shared_data / "nmc622_nmc721_NiK_xanes.csv").read_text().splitlines()
             if ln and not ln.startswith("#")]
    header = lines[0].split(",")
    ip, ic = header.index("NMC622_N/A_0"), header.index("NMC622_4.3_1")
    rows = [ln.split(",") for ln in lines[1:]]
    path.write_text("energy_ev,pristine,charged\n" + "\n".join(f"{r[0]},{r[ip]},{r[ic]}" for r in rows))
    return path


def test_measured_reference_spectra_drive_simulator_and_calibration(tmp_path, shared_data):
    from trixanes.pipeline.references import load_references, reference_jumps

    table = _nmc622_table(shared_data, tmp_path / "refs.csv")
    # the pipeline calibrates on the measured spectra directly, inside their range...
    jp, jc = reference_jumps(load_references(table), (8.333, 8.350, 8.369))
    assert jp > jc  # at 8.35 keV lithiated NMC absorbs more than delithiated
    # ...and refuses scan energies the measurement does not cover
    with pytest.raises(ValueError, match="8.3"):
        reference_jumps(load_references(table), (8.30, 8.35, 8.43))
    # the simulator's XANES model is driven by the same measured spectra
    sc = Scenario.preset("tiny").replace(spectra={"references_csv": str(table)},
                                          acquisition={"detector_rows": 8, "flux_photons": 0.0})
    res = simulate(sc, tmp_path / "out", progress=False)
    jp2, jc2 = reference_jumps(load_references(res.references_path), (8.30, 8.35, 8.43))
    assert jp2 > jc2


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(am=st.floats(0.55, 0.7), flux=st.sampled_from([0.0, 5e3, 1e5]), wedge=st.floats(0.0, 40.0),
       drift=st.floats(0.0, 2.0), seed=st.integers(0, 1000))
def test_random_scenarios_stay_physical(tmp_path_factory, am, flux, wedge, drift, seed):
    sc = Scenario.preset("tiny").replace(
        seed=seed, sample={"am_fraction": am},
        acquisition={"detector_rows": 8, "flux_photons": flux, "dead_wedge_deg": wedge, "drift_px": drift})
    res = simulate(sc, tmp_path_factory.mktemp("rand"), progress=False)
    assert abs(res.am_fraction - am) <= 0.02
    with h5py.File(res.truth_path) as f:
        li, phase = f["li"][...], f["phase"][...]
    inside = li[phase == 3]
    assert np.all((inside >= np.float32(0.38)) & (inside <= np.float32(1.0)))
    for p in res.scan_paths:
        scan = read_scan(p)
        assert np.isfinite(scan.data).all()
        if flux == 0:  # noise-free: the data are the transmission itself
            assert np.all((scan.data > 0) & (scan.data <= 1.0))
        else:
            assert scan.data.min() >= 0 and scan.flats.mean() > scan.darks.mean()


def test_memory_estimate_follows_the_phantom_and_refuses_before_any_work(tmp_path, monkeypatch):
    import trixanes.synth.simulate as sim

    small = Scenario.preset("tiny")
    n = 48 * 2 * (64 * 2) ** 2  # tiny: 48 x 64 detector, 2x supersampled
    assert sim.phantom_shape(small) == (96, 128, 128)
    assert sim.memory_needed(small, band_bytes=0) == 18 * n
    # a band (and the projector's and warp's temporaries, each up to a band) never holds
    # more than the whole scan's optical depths (14 MB here)
    acq = small.acquisition
    od = 4 * 3 * sim.projection_angles(acq).size * 96 * sim.fine_detector_size(acq, 128)
    assert sim.memory_needed(small, band_bytes=10**12) == 6 * n + 3 * od
    wide = small.replace(acquisition={"n_projections": 3000})  # 0.46 GB of optical depths
    assert sim.memory_needed(wide, band_bytes=10**12) > 6 * n + 4e8
    # tiled: one slab, or one band of the scan with its slab of the phantom
    tiled = sim.memory_needed(small, band_bytes=0, phantom="tiled", phantom_bytes=10**6)
    assert 10**6 <= tiled < sim.memory_needed(small, band_bytes=0) / 10
    mode = sim._phantom_mode
    monkeypatch.setattr(sim, "_available_memory", lambda: 10 * n)  # too little for the whole phantom
    assert mode(small, "auto", 0, 10**6, True) == "tiled"
    with pytest.raises(ValueError, match="tiny.*needs about.*built whole.*--phantom tiled"):
        mode(small, "whole", 0, 10**6, True)
    assert mode(small, "whole", 0, 10**6, False) == "whole"  # --no-memory-check
    with pytest.raises(ValueError, match="tiny.*needs about.*built tiled"):
        simulate(small, tmp_path / "refused", progress=False, phantom_bytes=20 * n)
    assert not (tmp_path / "refused").exists()
    with pytest.raises(ValueError, match="phantom must be one of"):
        mode(small, "lazy", 0, 10**6, True)
    monkeypatch.setattr(sim, "_available_memory", lambda: None)  # unknown: no check
    assert mode(Scenario.preset("paper"), "auto", 0, 10**6, True) == "whole"
    # a tiled build also needs disk: the files and the Li field's scratch copy
    import collections

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(sim.shutil, "disk_usage", lambda p: usage(0, 0, 4 * n))
    with pytest.raises(ValueError, match="tiny.*GB of disk.*--scratch-dir"):
        simulate(small, tmp_path / "full", progress=False, phantom="tiled")
    assert not (tmp_path / "full").exists()


def test_tiled_phantom_writes_the_same_files(tmp_path):
    # noisy, drifting and deforming: the deformed energies read their slabs from truth.h5
    sc = Scenario.preset("tiny").replace(acquisition={"deformation_um": 0.3})
    whole = simulate(sc, tmp_path / "whole", progress=False, phantom="whole")
    tiled = simulate(sc, tmp_path / "tiled", progress=False, phantom="tiled",
                     phantom_bytes=2 * 26 * 128 * 128, band_bytes=2_000_000)  # 2-row slabs, 4-row bands
    for a, b in zip(whole.scan_paths + (whole.truth_path,), tiled.scan_paths + (tiled.truth_path,)):
        assert dataset_digest(a) == dataset_digest(b), b.name
    assert (tiled.am_fraction, tiled.n_particles) == (whole.am_fraction, whole.n_particles)
    assert not list((tmp_path / "tiled").glob(".*"))  # the scratch file is gone
    with h5py.File(whole.truth_path) as f, h5py.File(tiled.truth_path) as g:
        assert dict(f.attrs).keys() == dict(g.attrs).keys()
        assert f.attrs["am_fraction"] == g.attrs["am_fraction"]
