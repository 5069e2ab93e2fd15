"""One self-contained HTML report (figures embedded) of a simulate -> process -> validate run."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from trixanes._shared.atomic import write_text

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;
     padding:0 1.5em;color:#222;line-height:1.45}
h1{font-size:1.7em;margin-bottom:.2em} h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.8em}
.sub{color:#666;margin-top:0}
table{border-collapse:collapse;margin:.6em 0 1.2em} td,th{border:1px solid #ddd;padding:.3em .7em;text-align:left}
th{background:#f4f4f4} td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#1a7f37;font-weight:600} .fail{color:#c62828;font-weight:600}
figure{margin:1em 0} figure img{max-width:100%;border:1px solid #eee}
figcaption{color:#555;font-size:.92em}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:1em}
code{background:#f4f4f4;padding:0 .25em}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f7f7f7;
    border:1px solid #e4e4e4;padding:.6em .8em;font-size:.85em;max-width:100%}
"""


def _img(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(Path(path).stem)}" src="data:image/png;base64,{data}">'


def figure(path, caption: str) -> str:
    """An embedded PNG with its caption; empty when the file is missing."""
    if path is None or not Path(path).exists():
        return ""
    return f"<figure>{_img(path)}<figcaption>{html.escape(caption)}</figcaption></figure>"


def table(rows, header=None) -> str:
    """An HTML table; floats to 4 significant digits, ('raw', html) cells unescaped."""
    out = ["<table>"]
    if header:
        out.append("<tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header) + "</tr>")
    for row in rows:
        cells = []
        for v in row:
            if isinstance(v, float):
                cells.append(f'<td class="num">{v:.4g}</td>')
            elif isinstance(v, tuple) and len(v) == 2 and v[0] == "raw":
                cells.append(f"<td>{v[1]}</td>")
            else:
                cells.append(f"<td>{html.escape(str(v))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def log_block(lines) -> str:
    """A log as a ``<pre>`` block; long lines wrap (the page's CSS) instead of being cut.

    Examples
    --------
    >>> log_block(["a < b", "done"])
    '<pre class="log">a &lt; b\\ndone</pre>'
    """
    return '<pre class="log">' + "\n".join(html.escape(str(line)) for line in lines) + "</pre>"


def render(*, title: str, subtitle: str, sections: list[tuple[str, str]]) -> str:
    """Assemble an HTML page from (heading, html body) sections."""
    body = "\n".join(f"<h2>{html.escape(h)}</h2>\n{b}" for h, b in sections)
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p class='sub'>{html.escape(subtitle)}</p>{body}"
            f"</body></html>\n")


def write_report(path, **kwargs) -> Path:
    """Render and write atomically; see :func:`render`."""
    return write_text(path, render(**kwargs))

