"""Tests of trixanes.report: the HTML page a demo run writes."""

import re

from trixanes import report


def _css_rule(page: str, selector: str) -> str:
    """The declarations of ``selector`` in the page's <style> block ('' if absent)."""
    style = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    m = re.search(r"(?:^|[}\s])" + re.escape(selector) + r"\s*\{([^}]*)\}", style)
    return m.group(1) if m else ""


def test_log_block_wraps_long_lines(tmp_path):
    long_line = "process: " + "x" * 3000 + " <end>"
    path = report.write_report(tmp_path / "r.html", title="t", subtitle="s",
                               sections=[("Log", report.log_block(["short", long_line]))])
    page = path.read_text()
    # the line is kept whole and escaped, inside a <pre> ...
    assert "x" * 3000 + " &lt;end&gt;" in page and "<pre" in page
    # ... that the stylesheet wraps instead of cutting at the page width
    rule = _css_rule(page, "pre").replace(" ", "")
    assert "white-space:pre-wrap" in rule
    assert re.search(r"overflow-wrap:(anywhere|break-word)", rule)


def test_bare_pre_blocks_wrap_too():
    # a caller writing its own <pre> (the demo's log) gets the same rule: it targets pre itself
    page = report.render(title="t", subtitle="s", sections=[("Log", "<pre>a\nb</pre>")])
    assert "white-space:pre-wrap" in _css_rule(page, "pre").replace(" ", "")


def test_table_escapes_and_formats():
    html = report.table([("a<b", 0.123456), ("raw", ("raw", "<b>x</b>"))], header=["k", "v"])
    assert "a&lt;b" in html and '<td class="num">0.1235</td>' in html and "<td><b>x</b></td>" in html
