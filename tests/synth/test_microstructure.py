"""Tests of the synthetic electrode microstructure (synth.microstructure)."""

import dataclasses

import edt
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trixanes.synth import _kernels as K
from trixanes.synth.microstructure import Microstructure, MicrostructureParams, generate_microstructure

SHAPE = (96, 128, 128)
VOX = 0.16


@pytest.fixture(scope="module")
def disk():
    return generate_microstructure(SHAPE, VOX, MicrostructureParams(), seed=1)


@pytest.fixture(scope="module")
def plate_large():
    # 40 um laterally: enough whole particles for size statistics
    return generate_microstructure((64, 160, 160), 0.25, MicrostructureParams(geometry="plate"), seed=4)


@pytest.mark.parametrize("target", [0.55, 0.65, 0.70])
@pytest.mark.parametrize("geometry", ["disk", "plate"])
def test_am_fraction_hits_target(target, geometry):
    m = generate_microstructure(SHAPE, VOX, MicrostructureParams(am_fraction=target, geometry=geometry), seed=2)
    measured = np.count_nonzero(m.phase == 3) / np.count_nonzero(m.sample_mask)
    assert abs(measured - target) < 0.02
    assert m.am_fraction == pytest.approx(measured)
    cbd = np.count_nonzero(m.phase == 2) / np.count_nonzero(m.sample_mask)
    assert abs(cbd - 0.10) < 0.02


def test_disk_void_exactly_outside_cylinder(disk):
    y = (np.arange(SHAPE[1]) - (SHAPE[1] - 1) / 2) * VOX
    x = (np.arange(SHAPE[2]) - (SHAPE[2] - 1) / 2) * VOX
    inside = np.hypot(y[:, None], x[None, :]) <= 0.85 * SHAPE[2] * VOX / 2
    assert np.all(disk.phase[:, ~inside] == 0)
    assert np.all(disk.phase[:, inside] > 0)
    # the void is the complement of a cylinder: pi/4 * 0.85^2 of a square is sample
    assert disk.sample_mask.mean() == pytest.approx(np.pi / 4 * 0.85**2, abs=0.01)


def test_plate_has_no_void(plate_large):
    assert np.count_nonzero(plate_large.phase == 0) == 0
    assert plate_large.sample_mask.all()


def test_record_types(disk):
    assert isinstance(disk, Microstructure)
    assert disk.phase.dtype == np.uint8 and disk.phase.shape == SHAPE
    assert disk.labels.dtype == np.int32 and disk.sample_mask.dtype == bool
    assert set(np.unique(disk.phase)) <= {0, 1, 2, 3}
    assert disk.particle_diameters_um.shape == (disk.labels.max(),)
    with pytest.raises(dataclasses.FrozenInstanceError):
        disk.am_fraction = 0.1


def test_labels_only_on_am_and_consecutive(disk):
    assert np.all((disk.labels > 0) == (disk.phase == 3))
    present = np.unique(disk.labels[disk.labels > 0])
    np.testing.assert_array_equal(present, np.arange(1, disk.labels.max() + 1))


def test_sampled_diameters_follow_lognormal(plate_large):
    d = plate_large.particle_diameters_um
    assert d.size > 60
    assert np.median(d) == pytest.approx(4.7, rel=0.12)
    assert np.std(np.log(d)) == pytest.approx(0.25, abs=0.08)


def test_voxel_equivalent_diameters_near_d50(plate_large):
    lab = plate_large.labels
    counts = np.bincount(lab.ravel())[1:]
    # particles cut by the grid faces look small: keep those away from every face
    border = np.unique(np.concatenate([lab[0].ravel(), lab[-1].ravel(), lab[:, 0].ravel(),
                                       lab[:, -1].ravel(), lab[:, :, 0].ravel(), lab[:, :, -1].ravel()]))
    whole = np.setdiff1d(np.arange(1, lab.max() + 1), border)
    assert whole.size >= 10
    deq = (6 / np.pi * counts[whole - 1]) ** (1 / 3) * 0.25
    # contacts split overlapping volume between neighbours, so equivalent diameters
    # come out a little below the nominal ones
    assert 0.75 * 4.7 < np.median(deq) < 1.15 * 4.7


def test_cbd_lies_near_active_material(disk):
    dist = edt.edt(disk.phase != 3, anisotropy=(VOX,) * 3, parallel=1)
    cbd = dist[disk.phase == 2].mean()
    ely = dist[(disk.phase == 1) & ~disk.cavity_mask].mean()
    assert cbd < 0.7 * ely


def test_cavities_are_electrolyte_inside_particles():
    p = MicrostructureParams(geometry="plate", internal_pore_fraction=0.05, cracks_per_particle=0.0)
    m = generate_microstructure((64, 96, 96), VOX, p, seed=3)
    assert np.all(m.phase[m.cavity_mask] == 1)
    ratio = np.count_nonzero(m.cavity_mask) / np.count_nonzero(m.phase == 3)
    assert 0.02 < ratio < 0.09
    none = generate_microstructure((64, 96, 96), VOX, dataclasses.replace(p, internal_pore_fraction=0.0), seed=3)
    assert not none.cavity_mask.any()


def test_same_seed_same_arrays_different_seed_differs():
    a = generate_microstructure((48, 64, 64), VOX, seed=7)
    b = generate_microstructure((48, 64, 64), VOX, seed=7)
    c = generate_microstructure((48, 64, 64), VOX, seed=8)
    np.testing.assert_array_equal(a.phase, b.phase)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert np.mean(a.phase != c.phase) > 0.1


@pytest.mark.parametrize("field, value", [("am_fraction", 0.99), ("d50_um", -1.0), ("overlap", 0.9),
                                          ("geometry", "cube"), ("size_spread", -0.1)])
def test_invalid_params_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        MicrostructureParams(**{field: value}).validate()


def test_invalid_arguments():
    with pytest.raises(ValueError, match="shape"):
        generate_microstructure((4, 64, 64), VOX)
    with pytest.raises(ValueError, match="voxel_size_um"):
        generate_microstructure((32, 32, 32), 0.0)


@settings(max_examples=8, deadline=None)
@given(am=st.floats(0.5, 0.72), d50=st.floats(2.0, 5.0), spread=st.floats(0.0, 0.4),
       geometry=st.sampled_from(["disk", "plate"]), seed=st.integers(0, 2**16))
def test_property_am_fraction_near_target(am, d50, spread, geometry, seed):
    p = MicrostructureParams(am_fraction=am, d50_um=d50, size_spread=spread, geometry=geometry)
    m = generate_microstructure((40, 56, 56), 0.16, p, seed=seed)
    assert abs(m.am_fraction - am) < 0.02
    assert np.all((m.labels > 0) == (m.phase == 3))


def test_layout_evaluates_any_box_as_that_box_of_the_phantom():
    from trixanes.synth import _kernels as K
    from trixanes.synth.microstructure import plan_microstructure

    shape, vox, p = (40, 56, 64), 0.1, MicrostructureParams(d50_um=2.2)
    m = generate_microstructure(shape, vox, p, seed=9)

    def am(layout, k):
        f1, _, _, _, s = layout.fields((0, 0, 0), shape)
        return K.kth_largest(f1.ravel(), s.ravel(), k)

    def cbd(layout, k):
        f1, f2, lab, _, s = layout.fields((0, 0, 0), shape)
        layout.cbd_score(f1, f2, s, (0, 0, 0))
        owned = np.bincount(lab[s & (f1 >= np.float32(layout.t_am))],
                            minlength=layout.particles.radii.size + 1)[1:] > 0
        return K.kth_largest(f2.ravel(), s.ravel(), k), owned

    layout = plan_microstructure(shape, vox, p, 9, am, cbd)
    np.testing.assert_array_equal(layout.particle_diameters_um, m.particle_diameters_um)
    rng = np.random.default_rng(0)
    for _ in range(6):
        lo = rng.integers(0, np.array(shape) - 1)
        size = rng.integers(1, np.array(shape) - lo + 1)
        region = tuple(slice(a, a + b) for a, b in zip(lo, size))
        phase, labels, cav, counts = layout.box(tuple(lo), tuple(size))
        np.testing.assert_array_equal(phase, m.phase[region])
        np.testing.assert_array_equal(labels, m.labels[region])
        np.testing.assert_array_equal(cav, m.cavity_mask[region])
        np.testing.assert_array_equal(counts, np.bincount(phase.ravel(), minlength=4))


_floats = st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.5, 1e-30, -1e30, np.inf, -np.inf, np.nan]) | \
    st.floats(-1e3, 1e3, width=32)


@settings(max_examples=200, deadline=None)
@given(st.lists(_floats, min_size=1, max_size=60), st.data())
def test_kth_largest_over_slabs_is_the_kth_of_the_sorted_values(values, data):
    v = np.array(values, np.float32)
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=v.size, max_size=v.size)))
    cuts = sorted(data.draw(st.lists(st.integers(0, v.size), max_size=4)))
    k = data.draw(st.integers(-1, v.size + 1))
    edges = [0, *cuts, v.size]
    slabs = lambda: ((v[a:b], mask[a:b]) for a, b in zip(edges[:-1], edges[1:]))  # noqa: E731
    finite = np.sort(v[mask & np.isfinite(v)])[::-1]
    if k <= 0 or finite.size == 0:
        want = np.inf
    else:
        want = finite[min(k, finite.size) - 1]  # beyond the count: the smallest
    got = K.kth_largest_of(slabs, k)
    assert got == want and got.dtype == np.float32, (got, want)  # -0.0 == 0.0 compare alike
    assert K.kth_largest(v, mask, k) == want
