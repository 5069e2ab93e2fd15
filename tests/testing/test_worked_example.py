"""The worked example of docs/testing.md (examples/test_my_pipeline.py) passes against the minimal
example pipeline and fails, naming the bound, against the same pipeline broken on purpose.

Each run is a pytest of its own (a subprocess: the plugin loads from its entry point, as a user's
pytest loads it), sharing one simulation cache ($TRIXANES_CACHE).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "test_my_pipeline.py"
MINIMAL = ROOT / "examples" / "pipelines" / "minimal_iradon.py"
ARGS = "{pre} {edge} {post} --refs {references} --out {out}"

# the minimal pipeline, then a deliberate fault in what it wrote
BROKEN = f'''
import sys, runpy
import h5py
how = sys.argv.pop(1)
sys.argv[0] = {str(MINIMAL)!r}
runpy.run_path(sys.argv[0], run_name="__main__")
out = sys.argv[sys.argv.index("--out") + 1]
with h5py.File(out + "/limap.h5", "r+") as f:
    if how == "li":
        f["li"][...] = f["li"][...] + 0.3  # every Li value too high
    else:
        f["am_mask"][...] = 0  # no active material found
'''


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def _pytest(pipeline: str, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TRIXANES_CACHE": str(cache)}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE),
                           "--trixanes-pipeline", pipeline], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def test_worked_example_passes_against_the_minimal_pipeline(cache):
    got = _pytest(f"{{python}} {shlex.quote(str(MINIMAL))} {ARGS}", cache)
    assert got.returncode == 0, got.stdout + got.stderr
    assert "2 passed" in got.stdout


@pytest.mark.parametrize("how, bound, row", [
    ("li", "total_li_error", r"total Li error\s+total_li_error\s+\|x\| <= 0.1000\s+\+0\.[23]\d+\s+FAIL"),
    ("mask", "am_dice", r"AM Dice\s+am_dice\s+>= 0.850\s+0.000\s+FAIL"),
])
def test_worked_example_fails_when_the_pipeline_is_broken(cache, tmp_path, how, bound, row):
    script = tmp_path / "broken.py"
    script.write_text(BROKEN)
    got = _pytest(f"{{python}} {shlex.quote(str(script))} {how} {ARGS}", cache)
    assert got.returncode == 1, got.stdout + got.stderr
    assert "failed" in got.stdout and "score bounds failed" in got.stdout

    assert re.search(row, got.stdout), got.stdout  # the table row names the bound and the value
    assert f"{bound}" in got.stdout
