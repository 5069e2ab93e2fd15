"""Turn the pytest-benchmark JSON of ``tests/bench`` into ``bench/results.md``.

Usage::

    .venv/bin/python bench/make_results.py [bench/results.json] [-o bench/results.md]

Every figure comes from the JSON: the benchmarks' median times and the
``extra_info`` each benchmark records (see ``tests/bench/conftest.py``), the
machine description and the command that produced it. Nothing is hard-coded.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def load(path) -> dict:
    """The pytest-benchmark JSON document at ``path``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise SystemExit(f"{path}: no such file (run `make bench` first)") from None
    except json.JSONDecodeError as exc:
        raise SystemExit(f"{path}: not a pytest-benchmark JSON file: {exc}") from None
    if "benchmarks" not in data:
        raise SystemExit(f"{path}: no 'benchmarks' list: not a pytest-benchmark JSON file")
    return data


def full_time(b: dict) -> float:
    """Median seconds for the stated problem size (measured median x ``scale``)."""
    return float(b["stats"]["median"]) * float(b["extra_info"].get("scale", 1.0))


def fmt_s(t: float) -> str:
    return f"{t:.3g}" if t < 100 else f"{t:.0f}"


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _table(header, rows) -> list[str]:
    return [_row(header), _row(["---"] * len(header)), *(_row(r) for r in rows)]


def comparison_table(group: str, benches: list[dict]) -> list[str]:
    """Markdown for one comparison group: ours and the peers side by side.

    The ratio is the peer's time over the fastest trixanes time of the group
    (for our own rows: over the fastest of ours).
    """
    ours = [b for b in benches if b["extra_info"].get("ours")]
    ref = min((full_time(b) for b in ours), default=None)
    header = ["implementation", "problem", "median (s)", "ratio peer/ours", "target", "accuracy",
              "ran on", "timed"]
    rows = []
    for b in sorted(benches, key=lambda b: (not b["extra_info"].get("ours"), full_time(b))):
        info = b["extra_info"]
        t = full_time(b)
        ratio = f"{t / ref:.2f}" if ref else "n/a"
        rows.append([
            ("**" + info.get("impl", b["name"]) + "**") if info.get("ours") else info.get("impl", b["name"]),
            info.get("size", ""),
            fmt_s(t),
            ratio,
            _target(info, t, ref),
            info.get("accuracy", ""),
            info.get("workers", ""),
            _timed(b),
        ])
    lines = [f"### {group}", ""]
    lines += _table(header, rows)
    return lines + passes_table(benches)


def passes_table(benches: list[dict]) -> list[str]:
    """Accuracy against passes over the data, for the benchmarks that record it."""
    curves = [b for b in benches if b["extra_info"].get("passes_curve")]
    if not curves:
        return []
    passes = sorted({int(k) for b in curves for k in b["extra_info"]["passes_curve"]})
    rows = [[b["extra_info"].get("impl", b["name"]).split(",")[0],
             *(f"{b['extra_info']['passes_curve'][str(p)]:.4f}" if str(p) in b["extra_info"]["passes_curve"]
               else "" for p in passes)] for b in curves]
    return ["", "Accuracy (rel. RMS error on one slice) against passes over the data:", "",
            *_table(["method", *(f"{p} passes" for p in passes)], rows)]


def _target(info: dict, t: float, ref) -> str:
    if "target" in info and ref:
        ok = t / ref >= float(info["target"])
        return f"≥ {float(info['target']):g}×: {'met' if ok else 'NOT met'}"
    if "target_s" in info:
        ok = t < float(info["target_s"])
        return f"< {float(info['target_s']):g} s: {'met' if ok else 'NOT met'}"
    return ""


def _timed(b: dict) -> str:
    info = b["extra_info"]
    parts = [f"{b['stats']['rounds']} round(s)"]
    if "subset" in info:
        parts.append(f"{info['subset']}, time x {float(info['scale']):g}")
    return "; ".join(parts)


def fit_exponent(ns, ts) -> float:
    """Least-squares slope of log t against log N (t ∝ N^k)."""
    ns, ts = np.asarray(ns, float), np.asarray(ts, float)
    if ns.size < 2 or np.any(ts <= 0):
        return math.nan
    return float(np.polyfit(np.log(ns), np.log(ts), 1)[0])


def scaling_table(benches: list[dict]) -> list[str]:
    """One row per kernel: median time at each N and the fitted exponent."""
    by_kernel = defaultdict(list)
    for b in benches:
        by_kernel[b["extra_info"]["scaling"]].append(b)
    all_n = sorted({int(b["extra_info"]["n"]) for b in benches})
    header = ["kernel", *(f"N = {n} (s)" for n in all_n), "exponent k (t ∝ N^k)", "problem at largest N"]
    rows = []
    for kernel, bs in sorted(by_kernel.items()):
        bs = sorted(bs, key=lambda b: int(b["extra_info"]["n"]))
        t_of = {int(b["extra_info"]["n"]): full_time(b) for b in bs}
        k = fit_exponent(list(t_of), list(t_of.values()))
        rows.append([kernel, *(fmt_s(t_of[n]) if n in t_of else "" for n in all_n), f"{k:.2f}",
                     bs[-1]["extra_info"].get("size", "")])
    return ["### Scaling with the detector width N", ""] + _table(header, rows)


def machine_lines(data: dict) -> list[str]:
    m = data.get("machine_info", {})
    cpu = m.get("cpu_model") or (m.get("cpu") or {}).get("brand_raw") or m.get("processor", "unknown")
    commit = data.get("commit_info", {})
    load = m.get("loadavg_at_start")
    lines = [
        f"- machine: {cpu}, {m.get('cpu_count', '?')} logical CPUs, "
        f"{m.get('system', '')} {m.get('release', '')}",
        f"- threads used: numba {m.get('numba_threads', '?')}; peers' 2-D codes in as many processes",
        f"- Python {m.get('python_version', '?')}, astra-toolbox {m.get('astra_version') or 'not installed'}",
        *([f"- GPU: {m['gpu']}, CuPy {m.get('cupy_version', '?')}"] if m.get("gpu") else []),
        f"- date: {data.get('datetime', '?')}",
        f"- commit: {commit.get('id', '?')}{' (dirty tree)' if commit.get('dirty') else ''}",
        f"- command: `{data.get('command', '?')}`",
    ]
    if load:
        lines.append(f"- load average at start: {', '.join(f'{x:.2f}' for x in load)} "
                     "(the machine is shared: compare ratios, measured in the same run, not absolute times)")
    return lines


def render(data: dict, source: str) -> str:
    """The whole ``results.md`` text."""
    groups = defaultdict(list)
    scaling = []
    for b in data["benchmarks"]:
        if "scaling" in b.get("extra_info", {}):
            scaling.append(b)
        else:
            groups[b.get("group") or b["name"]].append(b)
    out = ["# trixanes benchmarks", "",
           f"Generated by `bench/make_results.py` from `{source}`; do not edit by hand.", ""]
    out += machine_lines(data)
    out += ["", "Times are medians for the stated problem size. A peer timed on a subset of the slices "
            "has its time scaled to the whole stack (its cost is linear in slices). Ratio: the peer's "
            "time over the fastest trixanes time of the group (above 1: trixanes is faster).", ""]
    for group in sorted(groups):
        out += comparison_table(group, groups[group]) + [""]
    if scaling:
        out += scaling_table(scaling) + [""]
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("json", nargs="?", default=str(HERE / "results.json"), help="pytest-benchmark JSON")
    p.add_argument("-o", "--output", default=str(HERE / "results.md"), help="Markdown file to write")
    args = p.parse_args(argv)
    data = load(args.json)
    text = render(data, Path(args.json).name)
    out = Path(args.output)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(out)  # atomic: a reader never sees half a table
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
