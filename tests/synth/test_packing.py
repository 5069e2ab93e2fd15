import numpy as np
import pytest

from trixanes.synth.microstructure import MicrostructureParams
from trixanes.synth.packing import pack_particles, place_cavities, sample_count, sample_mask


@pytest.mark.parametrize("geometry", ["disk", "plate"])
def test_sample_mask_of_a_box_is_that_box_of_the_grid(geometry):
    p = MicrostructureParams(geometry=geometry, disk_diameter_fraction=0.7)
    shape = (5, 40, 52)
    whole = sample_mask(shape, 0.1, p)
    box = sample_mask(shape, 0.1, p, origin=(2, 7, 30), box=(3, 20, 22))
    np.testing.assert_array_equal(box, whole[2:5, 7:27, 30:52])
    assert sample_count(shape, 0.1, p) == whole.sum()
    if geometry == "disk":  # a centred disc of 0.7 of the smaller side: pi/4 * 0.7² of the face
        assert whole[0].mean() == pytest.approx(np.pi / 4 * 0.49 * 40 / 52, rel=0.05)


def test_packing_keeps_particles_that_reach_the_grid_and_honours_the_overlap():
    p = MicrostructureParams(d50_um=2.0, geometry="plate", overlap=0.15)
    shape, vox = (40, 60, 60), 0.1
    parts = pack_particles(shape, vox, p, np.random.default_rng(4), 0.6, 0.7)
    grid = np.asarray(shape) * vox
    assert np.all(parts.centers + parts.rbound[:, None] >= 0)
    assert np.all(parts.centers - parts.rbound[:, None] <= grid)
    # soft-sphere relaxation: no pair closer than (1 - overlap) of its radii sum, to 3 %
    d = np.linalg.norm(parts.centers[:, None] - parts.centers[None], axis=2)
    rsum = parts.radii[:, None] + parts.radii[None]
    off = ~np.eye(parts.radii.size, dtype=bool)
    assert np.all(d[off] >= 0.85 * rsum[off] * 0.97)
    # the shape matrices map each particle's principal axes onto the unit ball
    k = 0
    for a in range(3):
        np.testing.assert_allclose(parts.mats[k] @ (parts.rot[k][:, a] * parts.axes[k, a]),
                                   np.eye(3)[a], atol=1e-12)
    kind, parent, centers, *_ = place_cavities(parts, vox, p, np.random.default_rng(5))
    assert set(np.unique(kind)) <= {0, 1} and parent.min() >= 1 and parent.max() <= parts.radii.size
