"""`pipeline.detached`: particles that moved on their own between the states of a series."""

import numpy as np
import pytest

from trixanes.pipeline.detached import find_detached, move_labels, particle_agreement


@pytest.fixture
def two_balls():
    rng = np.random.default_rng(4)
    z, y, x = np.mgrid[:40, :48, :48]
    lab = np.zeros(z.shape, np.int32)
    lab[(z - 14) ** 2 + (y - 14) ** 2 + (x - 14) ** 2 < 36] = 1
    lab[(z - 24) ** 2 + (y - 30) ** 2 + (x - 30) ** 2 < 36] = 2
    first = np.where(lab > 0, 1.0 + 0.3 * rng.random(z.shape), 0.05).astype(np.float32)
    return lab, first, rng


def _moved(first, lab, k, d):
    later = first.copy()
    later[lab == k] = 0.05
    later[np.roll(lab == k, d, (0, 1, 2))] = first[lab == k]
    return later


def test_a_new_noise_draw_moves_nothing(two_balls):
    lab, first, rng = two_balls
    later = first + rng.normal(0, 0.05, first.shape).astype(np.float32)
    assert np.all(particle_agreement(first, later, lab) > 0.8)
    assert find_detached(first, later, lab, (0.1, 0.1, 0.1)) == []


@pytest.mark.parametrize("d", [(0, 4, -3), (-2, 0, 5), (1, -6, 0)])
def test_a_particle_that_moved_is_found_with_its_move(two_balls, d):
    lab, first, rng = two_balls
    later = _moved(first, lab, 2, d) + rng.normal(0, 0.05, first.shape).astype(np.float32)
    (m,) = find_detached(first, later, lab, (0.1, 0.1, 0.1))
    assert (m.label, m.shift_vox) == (2, d)
    assert m.ncc_before < 0.5 < 0.9 < m.ncc_after
    moved = move_labels(lab, [m])
    assert np.array_equal(moved == 2, np.roll(lab == 2, d, (0, 1, 2)))
    assert np.array_equal(moved == 1, lab == 1)


def test_a_move_beyond_the_search_is_not_taken(two_balls):
    lab, first, _ = two_balls
    later = _moved(first, lab, 2, (0, 8, 0))  # 0.8 µm, searched to 0.5 µm
    assert find_detached(first, later, lab, (0.1, 0.1, 0.1), max_shift_um=0.5) == []


def test_where_it_lands_on_another_label_that_label_stays():
    lab = np.zeros((1, 1, 9), np.int32)
    lab[0, 0, 1:4], lab[0, 0, 5:7] = 3, 7
    from trixanes.pipeline.detached import DetachedParticle

    out = move_labels(lab, [DetachedParticle(3, (0, 0, 3), 0.2, 0.8)])
    assert out.tolist() == [[[0, 0, 0, 0, 3, 7, 7, 0, 0]]]
