"""A limap.h5 written with plain h5py from docs/formats.md alone is scored by validate.

No trixanes writer or reader touches the result file here: the truth is read with
h5py, binned by hand 2x2x2 (block mean of Li over the AM, AM where at least half
of a block is AM, majority label), and written with the layout the documentation
gives. A perfect map must score zero error.
"""

import h5py
import numpy as np
import pytest

from trixanes.validate.scorecard import validate

K = 2  # result voxel = 2 truth voxels
AM = 3  # phase code of active material (docs/formats.md, truth.h5)


def _blocks(a, k):
    nz, ny, nx = (n // k for n in a.shape)
    a = a[:nz * k, :ny * k, :nx * k]
    return a.reshape(nz, k, ny, k, nx, k).transpose(0, 2, 4, 1, 3, 5).reshape(nz, ny, nx, k ** 3)


def _bin_truth_by_hand(li, phase, labels, k):
    am = _blocks(phase == AM, k)
    frac = am.mean(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        li_b = np.where(am, np.nan_to_num(_blocks(li, k)), 0).sum(-1) / am.sum(-1)
    mask = frac >= 0.5
    lab = np.where(am, _blocks(labels, k), 0).reshape(-1, k ** 3)
    # majority label of each block's AM voxels (ties: the lowest id)
    out = np.zeros(lab.shape[0], np.int32)
    for i in np.flatnonzero(mask.ravel()):
        ids, n = np.unique(lab[i][lab[i] > 0], return_counts=True)
        out[i] = ids[np.argmax(n)] if ids.size else 0
    return np.where(mask, li_b, np.nan).astype(np.float32), mask, out.reshape(mask.shape)


def _write_by_hand(path, li, am_mask, labels, voxel_um, origin_um):
    """Exactly the required and optional items of the limap section of docs/formats.md."""
    with h5py.File(path, "w") as f:
        f["li"] = li                              # float32 (z, y, x), NaN outside AM
        f["am_mask"] = am_mask.astype(np.uint8)   # 0/1
        f["labels"] = labels.astype(np.int32)     # 0 = background
        f.attrs["voxel_size_um"] = voxel_um       # scalar: cubic voxels
        f.attrs["origin_um"] = origin_um          # low corner of voxel [0, 0, 0], z, y, x
        f.attrs["x_pristine"] = 1.0
        f.attrs["x_charged"] = 0.38


@pytest.fixture(scope="module")
def hand_map(small_sim, tmp_path_factory):
    with h5py.File(small_sim.truth_path, "r") as f:
        li, phase, labels = f["li"][()], f["phase"][()], f["labels"][()]
        tv = float(f.attrs["voxel_size_um"])
        origin = np.asarray(f.attrs["origin_um"], float)
    li_b, am_b, lab_b = _bin_truth_by_hand(li, phase, labels, K)
    out = tmp_path_factory.mktemp("hand")
    _write_by_hand(out / "limap.h5", li_b, am_b, lab_b, K * tv, origin)
    return out, li_b, am_b, lab_b, tv, origin


def test_a_perfect_handwritten_map_scores_zero(small_sim, hand_map):
    out, li_b, am_b, lab_b, *_ = hand_map
    card = validate(small_sim.truth_path, out / "limap.h5", out / "val", figures=False)
    assert "block mean, k = 2" in card["grid"]["method"]
    assert card["voxel"]["am"]["n"] == am_b.sum() and card["voxel"]["interior"]["n"] > 0
    assert card["voxel"]["am"]["rmse"] < 1e-6 and card["voxel"]["interior"]["rmse"] < 1e-6
    assert card["segmentation"]["dice"] == 1
    assert card["particles"]["f1"] == 1 and card["particles"]["mean_li"]["mae"] < 1e-6
    assert abs(card["total"]["error"]) < 1e-6
    assert card["profiles"]["z"]["rmse"] < 1e-6 and card["profiles"]["depth"]["rmse"] < 1e-6
    assert (out / "val" / "scorecard.json").is_file()


def test_an_offset_handwritten_map_scores_the_offset(small_sim, hand_map, tmp_path):
    _, li_b, am_b, lab_b, tv, origin = hand_map
    _write_by_hand(tmp_path / "limap.h5", li_b + np.float32(0.03), am_b, lab_b, K * tv, origin)
    card = validate(small_sim.truth_path, tmp_path / "limap.h5", tmp_path / "val", figures=False)
    assert card["voxel"]["am"]["bias"] == pytest.approx(0.03, abs=1e-5)
    assert card["total"]["error"] == pytest.approx(0.03, abs=1e-5)
    assert card["profiles"]["depth"]["rmse"] == pytest.approx(0.03, abs=1e-5)


def test_origin_matters_a_shifted_map_is_not_perfect(small_sim, hand_map, tmp_path):
    """origin_um is the low corner of voxel [0, 0, 0]: one result voxel off along x moves the scores."""
    _, li_b, am_b, lab_b, tv, origin = hand_map
    _write_by_hand(tmp_path / "limap.h5", li_b, am_b, lab_b, K * tv, origin + [0, 0, K * tv])
    card = validate(small_sim.truth_path, tmp_path / "limap.h5", tmp_path / "val", figures=False)
    assert card["segmentation"]["dice"] < 0.95
