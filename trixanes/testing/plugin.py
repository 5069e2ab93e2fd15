"""The pytest plugin of trixanes (entry point ``pytest11: trixanes``): fixtures for pipeline tests.

Options
-------
``--trixanes-pipeline SPEC``
    The pipeline under test, as ``--pipeline`` takes it
    (`trixanes.validate.plugin.parse_pipeline`): a command template, a
    ``module:function`` or ``file.py:function``; default trixanes' own.
``--trixanes-pipeline-timeout S``
    Seconds after which a command pipeline is killed (and its run fails).
``--trixanes-cache DIR``
    The simulation cache; default ``$TRIXANES_CACHE``, else a folder of this
    test session (simulated again next session).

Fixtures (all session-wide, so hypothesis' ``@given`` can use them)
-------------------------------------------------------------------
``trixanes_cache``
    The cache folder (`pathlib.Path`).
``simulated_scan``
    ``simulated_scan(scenario)`` -> the cached simulation (scans, references, truth).
``trixanes_pipeline``
    The `trixanes.validate.plugin.Pipeline` under test.
``trixanes_run_and_score``
    ``trixanes_run_and_score(scenario, pipeline=None)`` -> the `Scorecard` of
    the pipeline under test (or ``pipeline``) on the scenario, in a new folder.

This module imports nothing of trixanes until a fixture is used: loading the
plugin costs a pytest session nothing. ``-p no:trixanes`` turns it off.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CACHE_ENV = "TRIXANES_CACHE"


def pytest_addoption(parser):
    group = parser.getgroup("trixanes", "trixanes: property tests of a Li-mapping pipeline")
    group.addoption("--trixanes-pipeline", metavar="SPEC", default=None,
                    help="pipeline under test: a command template with {pre} {edge} {post} {references} "
                         "{out}..., module:function or file.py:function (default: trixanes' own)")
    group.addoption("--trixanes-pipeline-timeout", metavar="S", type=float, default=None,
                    help="kill a command pipeline after S seconds (its run fails)")
    group.addoption("--trixanes-cache", metavar="DIR", default=None,
                    help=f"simulation cache (default ${CACHE_ENV}, else a folder of this session)")


def _pipeline(config):
    from trixanes.validate.plugin import parse_pipeline

    try:
        return parse_pipeline(config.getoption("trixanes_pipeline"),
                              timeout_s=config.getoption("trixanes_pipeline_timeout"))
    except ValueError as err:
        raise pytest.UsageError(f"--trixanes-pipeline: {err}") from None


def pytest_configure(config):
    # a typo in the spec is said once, before any test runs
    if config.getoption("trixanes_pipeline", None) is not None:
        config._trixanes_pipeline = _pipeline(config)


def pytest_report_header(config):
    spec = config.getoption("trixanes_pipeline", None)
    if spec is not None:
        return f"trixanes pipeline under test: {config._trixanes_pipeline.describe()}"
    return None


@pytest.fixture(scope="session")
def trixanes_cache(request, tmp_path_factory) -> Path:
    """The simulation cache: ``--trixanes-cache``, ``$TRIXANES_CACHE``, else a folder of this session."""
    given = request.config.getoption("trixanes_cache") or os.environ.get(CACHE_ENV)
    if given:
        path = Path(given).expanduser()
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("trixanes-cache")


@pytest.fixture(scope="session")
def simulated_scan(trixanes_cache):
    """A function ``scenario -> CachedSimulation`` simulating into `trixanes_cache`."""
    from trixanes.testing.assertions import simulated_scan as cached

    def simulate(scenario):
        return cached(scenario, trixanes_cache)

    return simulate


@pytest.fixture(scope="session")
def trixanes_pipeline(request):
    """The pipeline under test (``--trixanes-pipeline``; default trixanes' own)."""
    return getattr(request.config, "_trixanes_pipeline", None) or _pipeline(request.config)


@pytest.fixture(scope="session")
def trixanes_run_and_score(trixanes_pipeline, trixanes_cache, tmp_path_factory):
    """A function ``(scenario, pipeline=None) -> Scorecard``: simulate (cached), run, score."""
    from trixanes.testing.assertions import run_and_score

    def run(scenario, pipeline=None):
        return run_and_score(trixanes_pipeline if pipeline is None else pipeline, scenario,
                             tmp_path_factory.mktemp("trixanes-run"), cache_dir=trixanes_cache)

    return run
