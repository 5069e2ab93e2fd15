import numpy as np

from trixanes.synth.deform import deformation_field, warp_phase_and_li


def test_displacement_is_bounded_and_smooth():
    f = deformation_field((32, 32, 32), 0.1, 0.3, rng=2)
    d = f.displacement(*np.indices((32, 32, 32)))
    assert np.abs(d).max() <= 3.0 + 1e-9  # 0.3 µm at 0.1 µm voxels
    assert np.abs(d).max() > 0.3
    # wavelengths of one to two fields of view: neighbours move almost together
    assert np.abs(np.diff(d, axis=3)).max() < 2 * np.pi * 3.0 / 32


def test_warp_moves_the_sample_and_keeps_phase_and_li_consistent():
    phase = np.zeros((16, 32, 32), np.uint8)
    phase[:, 8:24, 8:24] = 3
    li = np.where(phase == 3, 0.7, np.nan).astype(np.float32)
    f = deformation_field(phase.shape, 0.1, 0.1, rng=0)  # 1 voxel over a 3.2 µm field
    p0, l0 = warp_phase_and_li(phase, li, f, scale=0.0)
    assert np.array_equal(p0, phase)
    p1, l1 = warp_phase_and_li(phase, li, f, scale=1.0)
    assert not np.array_equal(p1, phase)
    assert np.array_equal(p1 == 3, np.isfinite(l1))
    assert abs(int((p1 == 3).sum()) - int((phase == 3).sum())) < 0.1 * (phase == 3).sum()


def test_a_slab_of_the_warp_equals_the_same_rows_of_the_whole():
    rng = np.random.default_rng(1)
    phase = rng.integers(0, 4, (20, 12, 12)).astype(np.uint8)
    li = rng.uniform(0.3, 1.0, phase.shape).astype(np.float32)
    f = deformation_field(phase.shape, 0.1, 0.3, rng=3)
    whole = warp_phase_and_li(phase, li, f, scale=0.5)
    for work in (1, 96 * 12 * 5, 96 * 12 * 12 * 3):  # lines of a row, rows of lines, 3 rows
        slab = warp_phase_and_li(phase, li, f, scale=0.5, work_bytes=work, z_range=(5, 13))
        assert np.array_equal(slab[0], whole[0][5:13])
        assert np.array_equal(slab[1], whole[1][5:13])


def test_deforming_sample_changes_only_later_energies(tmp_path):
    import h5py

    from trixanes.synth.config import Scenario
    from trixanes.synth.simulate import simulate

    base = Scenario.preset("tiny").replace(acquisition={"detector_rows": 8, "flux_photons": 0.0})
    a = simulate(base, tmp_path / "a", progress=False)
    b = simulate(base.replace(acquisition={"deformation_um": 0.3}), tmp_path / "b", progress=False)
    data = []
    for pa, pb in zip(a.scan_paths, b.scan_paths):
        with h5py.File(pa) as fa, h5py.File(pb) as fb:
            data.append(np.abs(fa["exchange/data"][...] - fb["exchange/data"][...]).max())
    assert data[0] == 0 and data[1] > 1e-3 and data[2] > 1e-3
