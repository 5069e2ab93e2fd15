"""Label helpers shared by the simulator and the pipeline (which never import each other)."""

from __future__ import annotations

import numpy as np


def touches_grid_faces(labels: np.ndarray, n: int) -> np.ndarray:
    """For labels 1..n: whether the label has a voxel on a face of the grid (cut by the field of view).

    Examples
    --------
    >>> lab = np.zeros((3, 3, 3), int); lab[0, 1, 1] = 1; lab[1, 1, 1] = 2
    >>> touches_grid_faces(lab, 2).tolist()
    [True, False]
    """
    faces = np.concatenate([f.ravel() for f in (labels[0], labels[-1], labels[:, 0], labels[:, -1],
                                                labels[:, :, 0], labels[:, :, -1])])
    return np.bincount(faces, minlength=n + 1)[1 : n + 1] > 0
