import os

from trixanes.studies.cluster import _cost, inner_threads
from trixanes.studies.dead_angle import build_tasks


def test_threads_share_the_cores():
    cores = os.cpu_count() or 1
    assert inner_threads(1, 1) == cores
    assert inner_threads(cores, 1) == 1 and inner_threads(4 * cores, 2) == 1


def test_iterative_and_larger_scenarios_start_first():
    tasks = build_tasks(True, 1)
    costs = {t.label: _cost(t) for t in tasks}
    for w in (0, 30, 60):
        assert costs[f"wedge {w}° os-sirt"] > costs[f"wedge {w}° fbp"]
    small, big = tasks[0], tasks[0].scenario.replace(acquisition={"detector_cols": 256})
    assert _cost(type(small)(**{**small.__dict__, "scenario": big})) > _cost(small)
