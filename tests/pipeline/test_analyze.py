"""Tests of pipeline.analyze against analytic values."""

import json

import numpy as np
import pytest

from trixanes._shared.jsonio import dumps
from trixanes.pipeline.analyze import analyze, depth_profile, surface_depth_um
from trixanes.pipeline.binning import bin_mask, bin_volume

VS = 0.1  # um


def _sphere(shape, c, r):
    zz, yy, xx = np.indices(shape)
    return (zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2 <= r * r


@pytest.fixture(scope="module")
def core_shell():
    """One sphere (R = 20 voxels = 2 um): Li-rich shell 0.5 um thick, charged core."""
    n, R, shell = 48, 20, 5
    c = ((n - 1) / 2,) * 3
    am = _sphere((n, n, n), c, R)
    core = _sphere((n, n, n), c, R - shell)
    li = np.where(am, np.where(core, 0.38, 1.0), np.nan).astype(np.float32)
    return li, am, am.astype(np.int32), R, shell


def test_core_shell_fractions_and_depth_profile(core_shell):
    li, am, lab, R, shell = core_shell
    s = analyze(li, am, lab, VS)
    json.loads(dumps(s))  # strict JSON through the one serializer
    f_rich = 1 - ((R - shell) / R) ** 3  # analytic shell volume fraction (0.578)
    assert s["class_fractions"]["li_rich"] == pytest.approx(f_rich, abs=0.02)
    assert s["class_fractions"]["li_poor"] == pytest.approx(1 - f_rich, abs=0.02)
    assert s["class_fractions"]["li_moderate"] == 0
    assert s["total_li"] == pytest.approx(0.38 + 0.62 * f_rich, abs=0.015)
    d = np.array(s["depth_profile"]["depth_um"])
    m = np.array(s.depth_profile.mean_li)
    assert np.allclose(m[d < shell * VS - 0.1], 1.0)
    assert np.allclose(m[(d > shell * VS + 0.1) & np.isfinite(m)], 0.38)
    assert sum(s["depth_profile"]["count"]) == am.sum()
    # every surface voxel sits in the Li-rich shell
    assert s["active_surface_fraction"] == 1.0
    # histogram of q: two spikes at 0 and 1
    h = s["histograms"]["q"]
    assert sum(h["counts"]) == am.sum()
    edges = np.array(h["edges"])
    assert h["counts"][np.searchsorted(edges, 1.0, "right") - 1] == (li == 1.0).sum()


def test_particle_table(core_shell):
    n = 40
    a = _sphere((n, n, 2 * n), (19.5, 19.5, 19.5), 12)
    b = _sphere((n, n, 2 * n), (19.5, 19.5, 59.5), 8)
    lab = np.where(a, 3, np.where(b, 7, 0)).astype(np.int32)  # non-consecutive labels, as in a truth file
    li = np.where(a, 0.9, np.where(b, 0.5, np.nan))
    s = analyze(li, lab > 0, lab, VS)
    p = {row["label"]: row for row in s["particles"]}
    assert sorted(p) == [3, 7] and s["n_particles"] == 2
    assert p[3]["mean_li"] == pytest.approx(0.9) and p[7]["mean_li"] == pytest.approx(0.5)
    assert p[3]["li_rich_fraction"] == 0 and p[7]["li_rich_fraction"] == 0  # q(0.9)=0.84 < 0.9
    assert p[3]["volume_um3"] == pytest.approx(4 / 3 * np.pi * (12 * VS) ** 3, rel=0.03)
    assert p[7]["equivalent_diameter_um"] == pytest.approx(16 * VS, rel=0.03)
    np.testing.assert_allclose(p[7]["centroid_um"], [(19.5 + 0.5) * VS, 2.0, (59.5 + 0.5) * VS], atol=1e-6)


def test_z_profile_and_nan_excluded():
    shape = (10, 6, 6)
    li = np.broadcast_to(np.linspace(0.4, 1.0, 10)[:, None, None], shape).copy()
    am = np.ones(shape, bool)
    am[3] = False
    li[5, 0, 0] = np.nan
    s = analyze(li, am, am.astype(np.int32), (0.2, 0.1, 0.1))
    zp = s["z_profile"]
    np.testing.assert_allclose(zp["z_um"], (np.arange(10) + 0.5) * 0.2)
    assert np.isnan(zp["mean_li"][3]) and zp["n_voxels"][3] == 0 and zp["n_voxels"][5] == 35
    np.testing.assert_allclose([v for k, v in enumerate(zp["mean_li"]) if k != 3],
                               np.delete(np.linspace(0.4, 1.0, 10), 3), rtol=1e-6)
    assert s["n_valid_voxels"] == s["n_am_voxels"] - 1


def test_active_surface_fraction_half_sphere():
    n = 40
    am = _sphere((n, n, n), (19.5,) * 3, 15)
    xx = np.indices(am.shape)[2]
    li = np.where(am, np.where(xx > 19.5, 1.0, 0.5), np.nan)
    s = analyze(li, am, am.astype(np.int32), VS)
    assert s["active_surface_fraction"] == pytest.approx(0.5, abs=0.02)


def test_thresholds_edge_jump_and_binning_consistency(core_shell):
    li, am, lab, *_ = core_shell
    q_mid = np.where(am, 0.38 + 0.62 * 0.75, np.nan)  # q = 0.75
    s = analyze(q_mid, am, lab, VS, thresholds=(0.7, 0.8), edge_jump=np.where(am, 1.2, np.nan))
    assert s["class_fractions"]["li_moderate"] == 1.0
    s = analyze(q_mid, am, lab, VS, thresholds=(0.5, 0.75), edge_jump=np.where(am, 1.2, np.nan))
    assert s["class_fractions"]["li_rich"] == 1.0  # q >= high is Li-rich
    assert sum(s["histograms"]["edge_jump"]["counts"]) == am.sum()
    # the binned map keeps the total Li and the physical z positions
    b = analyze(bin_volume(li, 2, ignore_nan=True), bin_mask(am, 2), bin_mask(am, 2).astype(np.int32), 2 * VS)
    assert b["total_li"] == pytest.approx(analyze(li, am, lab, VS)["total_li"], abs=0.03)
    assert b["z_profile"]["z_um"][0] == pytest.approx(np.mean(analyze(li, am, lab, VS)["z_profile"]["z_um"][:2]))


def test_errors(core_shell):
    li, am, lab, *_ = core_shell
    with pytest.raises(ValueError, match="am_mask"):
        analyze(li, am[:-1], lab, VS)
    with pytest.raises(ValueError, match="thresholds"):
        analyze(li, am, lab, VS, thresholds=(0.9, 0.6))
    with pytest.raises(ValueError, match="labels"):
        analyze(li, am, lab.astype(float), VS)


def test_all_am_volume_has_no_depth_profile():
    m = np.ones((4, 4, 4), bool)
    s = analyze(np.full(m.shape, 0.8), m, m.astype(np.int32), 0.2)
    assert sum(s["depth_profile"]["count"]) == 0 and s["n_surface_voxels"] == 0
    assert np.isnan(s.active_surface_fraction)


def test_particle_surface_active_fraction_half_sphere():
    """Half of each sphere's surface is Li-rich (x > centre): 0.5 per particle, independently."""
    n = 40
    a = _sphere((n, n, 2 * n), (19.5, 19.5, 19.5), 12)
    b = _sphere((n, n, 2 * n), (19.5, 19.5, 59.5), 12)
    lab = np.where(a, 1, np.where(b, 2, 0)).astype(np.int32)
    xx = np.indices(lab.shape)[2]
    rich_a = a & (xx > 19.5)
    li = np.where(rich_a | b, 1.0, np.where(a, 0.5, np.nan))  # particle 2 wholly Li-rich
    s = analyze(li, lab > 0, lab, VS)
    p = {r.label: r for r in s.particles}
    assert p[1].surface_active_fraction == pytest.approx(0.5, abs=0.03)
    assert p[2].surface_active_fraction == 1.0 and p[2].li_rich_fraction == 1.0
    assert p[1].n_voxels == a.sum()


def test_depth_measured_from_the_given_surface():
    """An unresolved internal pore: depth from the resolved mask ignores it."""
    n = 30
    am = _sphere((n, n, n), (14.5,) * 3, 12)
    pore = _sphere((n, n, n), (14.5,) * 3, 2)
    li = np.where(am, 0.8, np.nan)
    with_pore = am & ~pore
    own = analyze(li, with_pore, with_pore.astype(np.int32), VS)
    resolved = analyze(li, with_pore, with_pore.astype(np.int32), VS, depth_mask=am)
    # from its own surface the deepest voxel is ~ (12 - 2) / 2 voxels below a face; from the resolved one ~ 9.5
    assert max(d for d, c in zip(own.depth_profile.depth_um, own.depth_profile.count) if c) < 0.7
    assert max(d for d, c in zip(resolved.depth_profile.depth_um, resolved.depth_profile.count) if c) > 0.9
    assert sum(resolved.depth_profile.count) == with_pore.sum()
    direct = depth_profile(li, with_pore, am, VS)
    assert direct == resolved.depth_profile


def test_surface_depth_of_a_slab_is_analytic():
    am = np.zeros((12, 3, 3), bool)
    am[2:9] = True  # 7 voxels thick along z, infinite (no black border) in y, x
    d = surface_depth_um(am, 0.5)
    i = np.arange(2, 9)
    expect = (np.minimum(i - 2 + 1, 9 - i) - 0.5) * 0.5
    np.testing.assert_allclose(d[2:9, 1, 1], expect)
    assert np.isnan(d[0]).all()
