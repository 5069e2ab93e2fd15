"""Imaging band by band: same files as the whole scan at once, in bounded memory."""

import tracemalloc

import h5py
import numpy as np
import pytest

from trixanes.synth.acquisition import AcquisitionParams, energy_geometries, projection_angles
from trixanes.synth.detector import detect
from trixanes.synth.imaging import Exposure, fine_detector_size, optical_depths, rows_per_band, write_scans
from trixanes.synth.microstructure import MicrostructureParams, generate_microstructure
from trixanes.synth.xanes import XanesModel

V = 0.1  # fine voxel, µm


@pytest.fixture(scope="module")
def phantom():
    micro = generate_microstructure((24, 40, 40), V, MicrostructureParams(d50_um=1.5), seed=4)
    li = np.where(micro.phase == 3, np.linspace(0.4, 1.0, 24)[:, None, None], np.nan)
    return micro.phase, li.astype(np.float32), XanesModel()


def _acq(**kw):
    base = dict(detector_cols=20, detector_rows=12, pixel_size_um=0.2, supersample=2,
                n_projections=30, drift_px=2.0, center_offset_px=1.3, flux_photons=3e3, n_flats=2,
                n_darks=2)
    return AcquisitionParams(**{**base, **kw})


def _exposure(acq, seed=7):
    return Exposure(acq, energy_geometries(acq, rng=5), projection_angles(acq),
                    np.random.SeedSequence(seed))


def _data(paths):
    out = []
    for p in paths:
        with h5py.File(p) as f:
            out.append((f["exchange/data"][()], f["exchange/data_white"][()], f["exchange/data_dark"][()],
                        f["exchange/data"].chunks))
    return out


def test_bands_give_the_files_of_one_whole_scan(phantom, tmp_path):
    phase, li, model = phantom
    acq = _acq(flux_photons=None)
    exp = _exposure(acq)
    paths = write_scans(phase, li, model, exp, [tmp_path / f"b{i}.h5" for i in range(3)], voxel_um=V,
                        band_bytes=1)
    # the same scan projected and detected at once
    n_s = fine_detector_size(acq, phase.shape[2])
    energies = [g.energy_kev for g in exp.geometries]
    od = optical_depths(phase, li, energies, exp.angles_deg, model, V, n_s)
    for (data, flats, darks, chunks), od_e, g in zip(_data(paths), od, exp.geometries):
        assert chunks[1] == 1  # one detector row per band with this budget
        np.testing.assert_array_equal(data, detect(od_e, exp.angles_deg, g, acq, V))
        assert flats.min() == flats.max() == 1.0 and darks.max() == 0.0


def test_noise_does_not_depend_on_the_band_size_but_on_the_seed(phantom, tmp_path):
    phase, li, model = phantom
    acq = _acq()
    runs = {}
    for name, budget, seed in [("small", 1, 7), ("large", 2**30, 7), ("other", 2**30, 8)]:
        paths = [tmp_path / f"{name}{i}.h5" for i in range(3)]
        runs[name] = _data(write_scans(phase, li, model, _exposure(acq, seed), paths, voxel_um=V,
                                       band_bytes=budget))
    for small, large, other in zip(runs["small"], runs["large"], runs["other"]):
        assert small[3] != large[3]  # different chunking on disk ...
        for a, b in zip(small[:3], large[:3]):
            np.testing.assert_array_equal(a, b)  # ... same counts
        assert not np.array_equal(small[0], other[0])
        assert small[0].dtype == np.uint16
    # neighbouring rows draw independent noise: no copies between rows
    d = runs["small"][0][0].astype(float)
    assert not np.array_equal(d[:, 0], d[:, 1])


def test_band_size_follows_the_budget_and_bounds_the_working_memory(phantom, tmp_path):
    phase, li, model = phantom
    acq = _acq(detector_rows=12, n_projections=240, drift_px=0.0)  # optical depths dominate
    n_s = fine_detector_size(acq, phase.shape[2])
    n_ang = projection_angles(acq).size
    per_fine_row = 3 * n_ang * n_s * 4
    assert rows_per_band(acq, n_ang, n_s, 3, 1) == 1
    assert rows_per_band(acq, n_ang, n_s, 3, 2**40) == acq.detector_rows
    assert rows_per_band(acq, n_ang, n_s, 3, 12 * per_fine_row) == 4  # 4 rows of margin
    # drifts widen the shared slab, bigger pixels make a row span more fine rows
    assert rows_per_band(_acq(drift_px=2.0), n_ang, n_s, 3, 20 * per_fine_row) == 4
    assert rows_per_band(acq, n_ang, n_s, 3, 12 * per_fine_row, pixel_scale=2.0) == 2
    peaks = {}
    for budget in (per_fine_row * 8, 2**30):
        tracemalloc.start()
        write_scans(phase, li, model, _exposure(acq), [tmp_path / f"m{budget}_{i}.h5" for i in range(3)],
                    voxel_um=V, band_bytes=budget)
        peaks[budget] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    whole_od = per_fine_row * phase.shape[0]
    assert peaks[2**30] > whole_od  # one band: the whole scan's optical depths
    assert peaks[per_fine_row * 8] < 0.5 * peaks[2**30]  # measured 2.5 MB vs 8.6 MB
    assert peaks[per_fine_row * 8] < 3 * per_fine_row * 8 + 2**20


def test_cupy_backend_gives_numba_depths_and_files_to_float32_rounding(phantom, tmp_path):
    from trixanes._shared.cuda import cupy_available, unavailable_reason

    if not cupy_available():
        pytest.skip(f"needs CuPy and a CUDA GPU: {unavailable_reason()}")
    phase, li, model = phantom
    acq = _acq(flux_photons=None)
    exp = _exposure(acq)
    n_s = fine_detector_size(acq, phase.shape[2])
    # one energy: each energy's map projected; six: the component maps, then weighted sums
    for energies in ([8.35], np.linspace(8.3, 8.45, 6)):
        ours, ref = (optical_depths(phase, li, energies, exp.angles_deg, model, V, n_s, backend=b)
                     for b in ("cupy", "numba"))
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())
    runs = [_data(write_scans(phase, li, model, exp, [tmp_path / f"{b}{i}.h5" for i in range(3)],
                              voxel_um=V, backend=b)) for b in ("cupy", "numba")]
    for ours, ref in zip(*runs):
        np.testing.assert_allclose(ours[0], ref[0], rtol=1e-5)


def test_unknown_backend_is_named_before_any_file(phantom, tmp_path):
    phase, li, model = phantom
    with pytest.raises(ValueError, match="backend: must be one of numba, cupy"):
        write_scans(phase, li, model, _exposure(_acq()), [tmp_path / f"x{i}.h5" for i in range(3)],
                    voxel_um=V, backend="gpu")
    assert not list(tmp_path.iterdir())


def test_bands_the_magnified_energies_do_not_reach(phantom, tmp_path):
    # a magnification reference above the energies makes every pixel bigger than the
    # phantom's rows: the edge bands of the undeformed energy see no phantom at all
    from trixanes.synth.deform import deformation_field

    phase, li, model = phantom
    acq = _acq(detector_rows=16, magnification_reference_kev=12.0, flux_photons=None)
    exp = Exposure(acq, energy_geometries(acq, rng=5), projection_angles(acq), np.random.SeedSequence(1),
                   deformation_field(phase.shape, V, 0.1, rng=2))
    bands = [_data(write_scans(phase, li, model, exp, [tmp_path / f"{b}{i}.h5" for i in range(3)],
                               voxel_um=V, band_bytes=b)) for b in (1, 2**30)]
    for small, large in zip(*bands):
        np.testing.assert_array_equal(small[0], large[0])
    assert bands[0][0][0][:, 0].min() == 1.0  # the first row sees nothing: transmission 1


def test_projector_temporaries_stay_within_their_budget():
    # wide slices, few angles: the maps and their transposed copy dominate (before: 24 B
    # per voxel of a chunk against 16 counted, 1.5x the budget; now 13 against 14)
    rng = np.random.default_rng(2)
    phase = rng.integers(0, 4, (12, 384, 384)).astype(np.uint8)
    li = rng.uniform(0.38, 1.0, phase.shape).astype(np.float32)
    angles, budget = np.linspace(0, 180, 8, endpoint=False), 8 * 2**20
    optical_depths(phase[:1, :16, :16], li[:1, :16, :16], [8.3, 8.35, 8.43], angles, XanesModel(), 0.1, 20)
    tracemalloc.start()
    od = optical_depths(phase, li, [8.3, 8.35, 8.43], angles, XanesModel(), 0.1, 400, work_bytes=budget)
    peak = tracemalloc.get_traced_memory()[1] - od.nbytes
    tracemalloc.stop()
    assert peak <= budget, peak / 2**20
    # and the chunks change nothing
    whole = optical_depths(phase, li, [8.3, 8.35, 8.43], angles, XanesModel(), 0.1, 400)
    np.testing.assert_array_equal(od, whole)
