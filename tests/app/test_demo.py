import base64
import re

import pytest

from trixanes.demo import check_targets, run_demo


def test_check_targets_reads_the_scorecard():
    card = {"voxel": {"interior": {"rmse": 0.01}}, "particles": {"mean_li": {"mae": 0.05}},
            "segmentation": {"dice": 0.95}, "total": {"error": -0.03}}
    met = {name: ok for name, _, _, ok in check_targets(card)}
    assert met == {"interior voxel Li RMSE": True, "per-particle mean-Li MAE": False,
                   "AM Dice": True, "|total Li error|": False}


@pytest.mark.slow
def test_demo_writes_a_self_contained_report(tmp_path, capsys):
    card = run_demo(tmp_path, preset="tiny", seed=1, progress=False)
    html = (tmp_path / "report.html").read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) >= 6
    assert all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in images)
    assert "Scorecard" in html and "src=\"http" not in html  # nothing fetched from outside
    out = capsys.readouterr().out
    assert "interior Li RMSE" in out and "report:" in out
    assert card["segmentation"]["dice"] > 0.8


EXAMPLES = __import__("pathlib").Path(__file__).resolve().parents[2] / "examples" / "pipelines"


def test_demo_runs_a_foreign_pipeline_and_names_it(tmp_path, capsys):
    pipe = f'{{python}} "{EXAMPLES}/minimal_iradon.py" {{scans}} --refs {{references}} --out {{out}}'
    card = run_demo(tmp_path, preset="tiny", seed=1, progress=False, pipeline=pipe)
    html = (tmp_path / "report.html").read_text()
    assert "minimal_iradon.py" in html and "no /labels: particles are the connected regions" in html
    assert "pipeline minimal_iradon.py" in capsys.readouterr().out
    assert card["result_path"].endswith("limap.h5") and card["segmentation"]["dice"] > 0.8


def test_demo_with_a_crashing_pipeline_exits_1_with_its_stderr(tmp_path):
    from typer.testing import CliRunner

    from trixanes.cli import app

    crash = "{python} -c 'import sys; sys.exit(\"no centre found\")' {out}"
    r = CliRunner().invoke(app, ["demo", "--preset", "tiny", "--out", str(tmp_path), "--pipeline", crash])
    assert r.exit_code == 1 and "the pipeline failed" in r.output and "no centre found" in r.output
    assert "Traceback" not in r.output
    bad = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--pipeline", "python p.py {output}"])
    assert bad.exit_code == 2 and "unknown placeholder {output}" in bad.output
