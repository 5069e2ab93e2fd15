"""Tests of the ground-truth Li field (synth.lithium)."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trixanes.synth.lithium import LithiumField, LithiumParams, lithium_field
from trixanes.synth.microstructure import MicrostructureParams, generate_microstructure

VOX = 0.16
X_LO, X_HI = 0.38, 1.0
QUIET = dict(soc_spread=0.0, lateral_gradient=0.0, z_gradient=0.0, size_exponent=0.0)


@pytest.fixture(scope="module")
def micro():
    return generate_microstructure((64, 112, 112), VOX, MicrostructureParams(geometry="plate"), seed=5)


def field(m, seed=0, **kw):
    return lithium_field(m.phase, m.labels, VOX, LithiumParams(**kw), seed=seed,
                         internal_pores=m.cavity_mask, particle_diameters_um=m.particle_diameters_um)


def open_surface(m):
    """AM voxels with a face neighbour in open electrolyte/CBD (not an internal pore)."""
    am = m.phase == 3
    pore = ((m.phase == 1) | (m.phase == 2)) & ~m.cavity_mask
    surf = np.zeros_like(am)
    for axis in range(3):
        for step in (1, -1):
            nb = np.roll(pore, step, axis=axis)
            edge = [slice(None)] * 3
            edge[axis] = 0 if step == 1 else -1
            nb[tuple(edge)] = False  # no wrap-around
            surf |= am & nb
    return surf


def test_bounds_and_nan_outside(micro):
    f = field(micro)
    assert isinstance(f, LithiumField) and f.li.dtype == np.float32
    am = micro.phase == 3
    assert np.all(np.isnan(f.li[~am])) and np.all(np.isnan(f.depth_um[~am]))
    assert np.all((f.li[am] >= X_LO) & (f.li[am] <= X_HI))
    assert np.all((f.particle_progress >= 0) & (f.particle_progress <= 1))


@pytest.mark.parametrize("mode, sign", [("lithiation", -1), ("delithiation", 1)])
def test_core_shell_direction(micro, mode, sign):
    f = field(micro, mode=mode, mean_soc=0.4)
    am = micro.phase == 3
    r = np.corrcoef(f.depth_um[am], f.li[am])[0, 1]
    assert sign * r > 0.5


@pytest.mark.parametrize("front", ["erfc", "sharp"])
def test_particle_mean_li_conserves_progress(micro, front):
    f = field(micro, front=front)
    am = micro.phase == 3
    lab = micro.labels[am]
    mean = np.bincount(lab, weights=f.li[am]) [1:] / np.bincount(lab)[1:]
    expected = X_LO + f.particle_progress * (X_HI - X_LO)
    np.testing.assert_allclose(mean, expected, atol=0.01)


def test_progress_one_is_pristine(micro):
    f = field(micro, mean_soc=1.0, **QUIET)
    assert np.nanmin(f.li) > X_HI - 1e-6
    g = field(micro, mean_soc=0.0, **QUIET)
    assert np.nanmax(g.li) < X_LO + 1e-6


def test_active_fraction_controls_rich_surface(micro):
    surf = open_surface(micro)
    rich = {}
    for frac in (1.0, 0.3):
        f = field(micro, mean_soc=0.3, active_surface_fraction=frac, pores_active=False, **QUIET)
        assert np.mean(f.source_mask[surf]) == pytest.approx(frac, abs=0.03)
        rich[frac] = np.mean(f.li[surf] > 0.5 * (X_LO + X_HI))
    assert rich[1.0] > 0.9
    assert 0.2 < rich[0.3] < 0.75
    assert rich[1.0] - rich[0.3] > 0.25


def test_sharp_front_is_narrower_than_erfc(micro):
    am = micro.phase == 3
    widths = {}
    for front in ("erfc", "sharp"):
        li = field(micro, front=front, diffusion_length_um=0.4, front_width_um=0.05).li[am]
        shell = (li - X_LO) / (X_HI - X_LO)
        widths[front] = np.mean((shell > 0.1) & (shell < 0.9))
    assert widths["sharp"] < 0.5 * widths["erfc"]


def test_lateral_and_z_gradients_order_particles(micro):
    am = micro.labels > 0
    idx = np.nonzero(am)
    lab = micro.labels[idx]
    n = np.bincount(lab)[1:]
    cx = np.bincount(lab, weights=idx[2])[1:] / n
    cz = np.bincount(lab, weights=idx[0])[1:] / n
    kw = dict(QUIET, mean_soc=0.5)
    fx = field(micro, **dict(kw, lateral_gradient=0.6, lateral_direction_deg=0.0))
    assert np.corrcoef(cx, fx.particle_progress)[0, 1] > 0.95
    fz = field(micro, **dict(kw, z_gradient=-0.6))
    assert np.corrcoef(cz, fz.particle_progress)[0, 1] < -0.95


def test_small_particles_react_further(micro):
    f = field(micro, **dict(QUIET, size_exponent=1.0, mean_soc=0.4))
    d = micro.particle_diameters_um
    assert np.corrcoef(d, f.particle_progress)[0, 1] < -0.9


def sphere_phantom(n=41, radius_vox=16):
    c = (n - 1) / 2
    z, y, x = np.ogrid[:n, :n, :n]
    r = np.sqrt((z - c) ** 2 + (y - c) ** 2 + (x - c) ** 2)
    phase = np.where(r <= radius_vox, 3, 1).astype(np.uint8)
    return phase, (phase == 3).astype(np.int32), r


def test_depth_of_a_sphere_is_radial():
    phase, labels, r = sphere_phantom()
    f = lithium_field(phase, labels, 0.1, LithiumParams(active_surface_fraction=1.0, **QUIET))
    am = phase == 3
    surface_r = r[am & (f.depth_um == 0)].mean()
    np.testing.assert_allclose(f.depth_um[am], 0.1 * (surface_r - r[am]), atol=0.1)


@pytest.mark.parametrize("progress", [0.3, 0.7])
def test_sharp_front_depth_matches_shell_volume(progress):
    # a sphere lithiated to a fraction p by a front at depth d: 1 - (1 - d/R)^3 = p
    phase, labels, _ = sphere_phantom()
    p = LithiumParams(active_surface_fraction=1.0, front="sharp", mean_soc=progress, **QUIET)
    f = lithium_field(phase, labels, 0.1, p)
    radius = 0.1 * 16.5
    assert f.front_depth_um[0] == pytest.approx(radius * (1 - (1 - progress) ** (1 / 3)), abs=0.1)


def test_internal_pores_feed_lithium(micro):
    kw = dict(QUIET, mean_soc=0.3, active_surface_fraction=0.0)
    on = field(micro, pores_active=True, **kw)
    off = field(micro, pores_active=False, **kw)
    assert np.nanmax(off.li) == pytest.approx(X_LO)
    assert np.nanmean(on.li) > X_LO + 0.05


def test_determinism(micro):
    a, b, c = field(micro, seed=3), field(micro, seed=3), field(micro, seed=4)
    np.testing.assert_array_equal(a.li, b.li)
    assert not np.array_equal(a.li, c.li)


def test_default_internal_pore_detection_runs(micro):
    f = lithium_field(micro.phase, micro.labels, VOX)
    assert np.all(np.isfinite(f.li[micro.phase == 3]))


@pytest.mark.parametrize("field_name, value", [("x_charged", 1.2), ("mode", "charge"), ("front", "step"),
                                               ("active_surface_fraction", 1.5), ("mean_soc", -0.1)])
def test_invalid_params_name_the_field(field_name, value):
    with pytest.raises(ValueError, match=field_name):
        LithiumParams(**{field_name: value}).validate()


def test_labels_must_match_am(micro):
    bad = micro.labels.copy()
    bad[micro.phase == 1] = 1
    with pytest.raises(ValueError, match="labels"):
        lithium_field(micro.phase, bad, VOX)


@settings(max_examples=8, deadline=None)
@given(am=st.floats(0.5, 0.72), d50=st.floats(2.0, 5.0), spread=st.floats(0.0, 0.4),
       active=st.floats(0.0, 1.0), soc=st.floats(0.0, 1.0), seed=st.integers(0, 2**16),
       front=st.sampled_from(["erfc", "sharp"]))
def test_property_li_in_bounds(am, d50, spread, active, soc, seed, front):
    m = generate_microstructure((40, 56, 56), 0.16, MicrostructureParams(am_fraction=am, d50_um=d50,
                                                                          size_spread=spread), seed=seed)
    assert abs(m.am_fraction - am) < 0.02
    p = LithiumParams(active_surface_fraction=active, mean_soc=soc, front=front)
    f = lithium_field(m.phase, m.labels, 0.16, p, seed=seed, internal_pores=m.cavity_mask)
    li = f.li[m.phase == 3]
    assert np.all((li >= X_LO) & (li <= X_HI))
    assert np.all(np.isnan(f.li[m.phase != 3]))
    assert dataclasses.is_dataclass(f)
