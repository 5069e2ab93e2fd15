"""``trust.html``: the report a scientist reads beside a result, from a `TrustReport`."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from trixanes import report as _html
from trixanes.io.trust import TrustReport

__all__ = ["plot_trust", "write_trust_html"]


def plot_trust(rep: TrustReport, path) -> Path:
    """Expected bias (± the twins' spread, and ± the noise σ) of each statistic of the scan."""
    from matplotlib.figure import Figure

    keys = [k for k, v in rep.statistics.items() if v.get("kind") == "bias"]
    bias = np.array([rep.statistics[k]["expected_bias"] for k in keys], float)
    spread = np.nan_to_num(np.array([rep.statistics[k]["spread"] for k in keys], float))
    noise = np.nan_to_num(np.array([rep.statistics[k]["noise_sigma"] for k in keys], float))
    fig = Figure(figsize=(6.4, 0.45 * len(keys) + 1.4), dpi=120)
    ax = fig.subplots()
    y = np.arange(len(keys))
    ax.barh(y, bias, color="C0", alpha=0.7, label="expected bias (twins' mean error)")
    ax.errorbar(bias, y, xerr=2 * spread, fmt="none", ecolor="k", capsize=3, label="±2 × twins' spread")
    ax.errorbar(bias, y + 0.2, xerr=2 * noise, fmt="none", ecolor="C3", capsize=2, label="±2σ photon noise")
    ax.axvline(0, color="0.5", lw=0.8)
    ax.set_yticks(y, keys)
    ax.invert_yaxis()
    ax.set(xlabel="error of the statistic (found − true)", title=f"What {rep.twins} twins expect")
    ax.legend(frameon=False, fontsize=7, loc="best")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    return path


def _num(v, fmt="{:+.4f}"):
    return fmt.format(v) if isinstance(v, (int, float)) and math.isfinite(v) else "n/a"


def write_trust_html(rep: TrustReport, out_dir) -> Path:
    """Write ``trust.html`` (and ``trust.png``) into ``out_dir``."""
    out_dir = Path(out_dir)
    fig = plot_trust(rep, out_dir / "trust.png")
    rows = []
    for key, v in rep.statistics.items():
        if v.get("kind") == "mae":
            rows.append([key, "per particle", "—", _num(v["expected_error"], "{:.4f}"), _num(v["spread"], "{:.4f}"),
                         "—", "—", v["verdict"]])
            continue
        lo, hi = v["interval"]
        rows.append([key, _num(v["value"], "{:.4f}"), _num(v["expected_bias"]), "", _num(v["spread"], "{:.4f}"),
                     _num(v["noise_sigma"], "{:.2g}"), f"[{_num(lo, '{:.4f}')}, {_num(hi, '{:.4f}')}]", v["verdict"]])
    for row in rows:
        row[3] = row[3] or "—"
    vox = rep.voxel["interior_rmse"]
    acq = rep.acquisition
    sections = [
        ("Verdict", f"<p>Expected interior voxel Li RMSE of this scan: <b>{_num(vox['mean'], '{:.4f}')}</b> "
                    f"(± {_num(vox['sd'], '{:.4f}')} over {vox['n']} twins). Each statistic below: the value "
                    "found on the scan, the bias its twins show, and the interval after subtracting it "
                    "(±2 of the twins' spread and the scan's noise σ combined).</p>"),
        ("Statistics", _html.table(rows, ["statistic", "scan", "expected bias", "expected error", "spread",
                                          "noise σ", "corrected interval", "verdict"])),
        ("Figure", _html.figure(fig, "Expected bias of each statistic with the twins' spread and the noise.")),
        ("Acquisition read from the scans", _html.table(
            [[k, str(v)] for k, v in acq.items()], ["quantity", "value"])),
        ("Sample fitted from the result", _html.table(
            [[f"{sec}.{k}", v] for sec, d in rep.sample_fit.items() for k, v in d.items()], ["parameter", "value"])),
        ("Notes", _html.log_block([*rep.notes, f"pipeline: {rep.pipeline.get('describe')}",
                                   f"{rep.twins} twins in {rep.seconds:.0f} s"])),
    ]
    return _html.write_report(out_dir / "trust.html", title="How far to trust this Li map",
                              subtitle=f"{rep.result}: {', '.join(Path(s).name for s in rep.scans)}",
                              sections=sections)
