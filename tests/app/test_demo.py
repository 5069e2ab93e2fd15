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
