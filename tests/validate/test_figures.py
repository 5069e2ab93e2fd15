"""Tests of validate.figures: each figure is a real PNG of the expected size."""

import numpy as np
import pytest
from matplotlib.image import imread

from trixanes.validate.figures import (
    DPI,
    confusion_figure,
    particle_figure,
    profile_figure,
    slice_figure,
)
from trixanes.validate.metrics import Profile


def check_png(path, figsize):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = imread(path)
    assert img.shape[:2] == (round(figsize[1] * DPI), round(figsize[0] * DPI))
    assert img[..., :3].std() > 0.01  # something is drawn
    assert not list(path.parent.glob("*.part"))  # atomic: no temporary left behind


def test_slice_figure(tmp_path):
    rng = np.random.default_rng(1)
    t = rng.uniform(0.4, 1.0, (6, 8, 10)).astype(np.float32)
    t[:, :2] = np.nan
    f = t + rng.normal(0, 0.02, t.shape)
    check_png(slice_figure(t, f, 0.3, (0, -1, -1.5), tmp_path / "s.png", x_range=(0.38, 1.0)),
              (11, 10))
    # An all-NaN result and a constant map still draw (degenerate colour ranges).
    check_png(slice_figure(t, np.full_like(t, np.nan), 0.3, (0, 0, 0), tmp_path / "n.png"),
              (11, 10))
    with pytest.raises(ValueError, match="li_found"):
        slice_figure(t, f[:3], 0.3, (0, 0, 0), tmp_path / "x.png")


def test_particle_figure(tmp_path):
    check_png(particle_figure([0.5, 0.7, 0.9], [0.52, 0.68, np.nan], tmp_path / "p.png"), (5, 5))
    check_png(particle_figure([], [], tmp_path / "e.png"), (5, 5))
    with pytest.raises(ValueError, match="li_found"):
        particle_figure([0.5], [0.5, 0.6], tmp_path / "x.png")


def test_profile_figure(tmp_path):
    z = Profile(np.arange(5) * 0.2, np.linspace(0.5, 0.9, 5), np.linspace(0.52, 0.88, 5), 0.01, 5)
    d = Profile(np.arange(3) * 0.2, np.array([0.4, 0.6, np.nan]), np.array([0.42, 0.6, 0.7]),
                float("nan"), 0)
    check_png(profile_figure(z, d, tmp_path / "prof.png"), (10, 4))


def test_confusion_figure(tmp_path):
    m = np.array([[50, 3, 0], [4, 30, 2], [0, 0, 0]])
    check_png(confusion_figure(m, tmp_path / "c.png"), (5.2, 4.4))
    with pytest.raises(ValueError, match="matrix"):
        confusion_figure(np.eye(2), tmp_path / "x.png")


def _capture(monkeypatch, module):
    seen, save = [], module._save

    def keep(fig, path):
        seen.append({"titles": [ax.get_title() for ax in fig.axes],
                     "xlims": [tuple(ax.get_xlim()) for ax in fig.axes],
                     "lines": [np.asarray(ln.get_xdata(), float) for ax in fig.axes for ln in ax.get_lines()]})
        return save(fig, path)

    monkeypatch.setattr(module, "_save", keep)
    return seen


def test_pipeline_and_validate_name_the_same_slice_alike(monkeypatch, tmp_path):
    """One convention: the mid slices of one volume get the same µm in both modules'
    titles, both image axes start at the first face, and both z profiles put slice k at
    the same z as stats.json's z_um, whatever the grid origin (here centred, as limap's
    default)."""
    import trixanes.pipeline.figures as pf
    import trixanes.validate.figures as vf
    from trixanes.pipeline.analyze import analyze

    shape, vox = (10, 12, 14), 0.25
    origin = tuple(-0.5 * n * vox for n in shape)
    li = np.random.default_rng(2).uniform(0.4, 1.0, shape).astype(np.float32)
    p_seen, v_seen = _capture(monkeypatch, pf), _capture(monkeypatch, vf)
    pf.plot_orthoslices(li, li, vox, tmp_path / "o.png")
    vf.slice_figure(li, li, vox, origin, tmp_path / "s.png")
    p_titles = p_seen[0]["titles"][:3]  # z, y, x slices
    v_titles = [v_seen[0]["titles"][3 * row].removeprefix("truth, ") for row in range(3)]
    assert p_titles == v_titles == ["z = 1.38 µm", "y = 1.62 µm", "x = 1.88 µm"]
    # the z slice's image: x runs from 0 to nx * voxel in both
    assert p_seen[0]["xlims"][0] == pytest.approx((0, 14 * vox))
    assert v_seen[0]["xlims"][0] == pytest.approx((0, 14 * vox))

    am = np.ones(shape, bool)
    stats = analyze(li, am, am.astype(np.int32), vox)
    pf.plot_z_profile(stats, tmp_path / "z.png")
    # validate's z profile holds positions in the scan frame (from the grid origin)
    mean = np.nanmean(li, axis=(1, 2))
    z = Profile(origin[0] + (np.arange(shape[0]) + 0.5) * vox, mean, mean, 0.0, shape[0])
    vf.profile_figure(z, z, tmp_path / "p.png", voxel_z_um=vox)
    z_um = (np.arange(shape[0]) + 0.5) * vox  # stats.json's z_profile.z_um
    assert p_seen[1]["lines"][0] == pytest.approx(z_um)
    assert v_seen[1]["lines"][0] == pytest.approx(z_um)
