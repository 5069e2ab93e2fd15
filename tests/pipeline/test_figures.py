"""Tests of pipeline.figures."""

import numpy as np
import pytest

from trixanes.pipeline.analyze import analyze
from trixanes.pipeline.figures import plot_histogram, plot_orthoslices, save_all

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def result():
    n = 24
    zz, yy, xx = np.indices((n, n, n))
    am = (zz - 11.5) ** 2 + (yy - 11.5) ** 2 + (xx - 11.5) ** 2 <= 81
    li = np.where(am, 0.38 + 0.62 * xx / n, np.nan).astype(np.float32)
    grey = np.where(am, 3.0, 0.3).astype(np.float32)
    truth_li = np.where(am, 0.7, np.nan)
    return li, grey, analyze(li, am, am.astype(np.int32), 0.2), analyze(truth_li, am, am.astype(np.int32), 0.2)


def test_save_all_writes_valid_pngs_and_leaks_no_figure(result, tmp_path):
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt

    li, grey, stats, truth = result
    before = plt.get_fignums()
    paths = save_all(stats, li, grey, 0.2, tmp_path / "figs", reference_stats=truth)
    assert len(paths) == 6 and len(set(paths)) == 6
    for p in paths:
        assert p.read_bytes()[:8] == PNG_MAGIC
        img = mpimg.imread(p)
        assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 300
        assert img[..., :3].std() > 0.01  # not blank
    assert plt.get_fignums() == before
    assert not list((tmp_path / "figs").glob(".*part"))  # atomic: no temporary left


def test_overlay_changes_the_image(result, tmp_path):
    _, _, stats, truth = result
    a = plot_histogram(stats, tmp_path / "a.png").read_bytes()
    b = plot_histogram(stats, tmp_path / "b.png", truth).read_bytes()
    assert a != b


def test_nan_li_is_transparent(tmp_path):
    import matplotlib.image as mpimg

    grey = np.full((9, 9, 9), 1.0, np.float32)
    li_nan = np.full(grey.shape, np.nan, np.float32)
    # with Li NaN everywhere the slices show the grey background only: no colour
    img = mpimg.imread(plot_orthoslices(li_nan, grey, 0.2, tmp_path / "o.png"))[..., :3]
    colourless = np.abs(img[..., 0] - img[..., 2]) < 0.02
    assert colourless.mean() > 0.8  # only the colorbar is coloured


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="grey"):
        plot_orthoslices(np.zeros((4, 4, 4)), np.zeros((4, 4, 5)), 0.2, tmp_path / "x.png")



def capture_figures(monkeypatch, module):
    """Record what each figure of ``module`` shows (axes titles, x limits, line x data)
    just before it is saved; returns the list the records are appended to."""
    seen, save = [], module._save

    def keep(fig, path):
        seen.append({"titles": [ax.get_title() for ax in fig.axes],
                     "xlims": [tuple(ax.get_xlim()) for ax in fig.axes],
                     "lines": [np.asarray(ln.get_xdata(), float) for ax in fig.axes for ln in ax.get_lines()]})
        return save(fig, path)

    monkeypatch.setattr(module, "_save", keep)
    return seen


def test_slice_titles_count_from_the_first_face(monkeypatch, tmp_path):
    import trixanes.pipeline.figures as pf

    seen = capture_figures(monkeypatch, pf)
    v = np.random.default_rng(0).random((10, 12, 14)).astype(np.float32)
    plot_orthoslices(v, v, (0.5, 0.2, 0.1), tmp_path / "o.png", index=(3, 0, 13))
    # (index + 0.5) * voxel: 3.5 * 0.5, 0.5 * 0.2, 13.5 * 0.1
    assert seen[0]["titles"][:3] == ["z = 1.75 µm", "y = 0.10 µm", "x = 1.35 µm"]
    assert seen[0]["xlims"][0] == pytest.approx((0.0, 14 * 0.1))
    assert pf.slice_position_um(np.arange(3), 0.2).tolist() == pytest.approx([0.1, 0.3, 0.5])
