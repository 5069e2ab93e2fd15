"""Property tests of YOUR pipeline: hypothesis strategies, helpers and a pytest plugin.

* `scenarios` (`trixanes.testing.strategies`): a hypothesis strategy of
  small, valid scenarios, each bound optional;
* `simulated_scan`, `score`, `run_and_score`, `assert_scores`
  (`trixanes.testing.assertions`): cached simulations, scoring, and bounds
  that fail with a readable table;
* the pytest plugin `trixanes.testing.plugin` (entry point ``trixanes``):
  fixtures ``trixanes_cache``, ``simulated_scan``, ``trixanes_pipeline``,
  ``trixanes_run_and_score`` and the option ``--trixanes-pipeline SPEC``.

See docs/testing.md. The names load on first use, so that pytest loading the
plugin costs nothing (and needs no hypothesis until `scenarios` is used).

Examples
--------
>>> import trixanes.testing as tt
>>> sorted(tt.BOUNDS)[:3]
['am_bias', 'am_dice', 'am_rmse']
"""

from __future__ import annotations

import importlib

_WHERE = {"scenarios": "strategies", "DEFAULTS": "strategies", "LIMITS": "strategies",
          "SPECTRA_MODELS": "strategies",
          "simulated_scan": "assertions", "score": "assertions", "run_and_score": "assertions",
          "assert_scores": "assertions", "check_scores": "assertions", "BOUNDS": "assertions",
          "Bound": "assertions"}

__all__ = sorted(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_WHERE))
