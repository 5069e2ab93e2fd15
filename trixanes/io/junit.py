"""JUnit XML: test results in the form CI systems read (GitLab, Jenkins, GitHub annotations).

`trixanes regress` writes one test case per scenario and metric, so that a CI
page lists which score of which scenario got worse. The layout is the common
subset of the JUnit schema: ``<testsuites>`` holding one ``<testsuite>`` with
``tests``, ``failures``, ``errors`` and ``time`` counts, each ``<testcase>``
with ``classname``, ``name`` and ``time``, and at most one ``<failure>`` (the
score got worse) or ``<error>`` (it could not be measured: the pipeline failed)
whose ``message`` is one line and whose text holds the details.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from trixanes._shared.atomic import write_text

__all__ = ["JUnitCase", "write_junit"]


@dataclass(frozen=True)
class JUnitCase:
    """One test case.

    Attributes
    ----------
    classname, name : str
        Shown as ``classname.name`` by most CI systems.
    seconds : float
    failure, error : str or None
        One-line message of a failed or broken case; None when it passed.
    details : str
        Text of the failure or error element (a table, a stderr tail).
    """

    classname: str
    name: str
    seconds: float = 0.0
    failure: str | None = None
    error: str | None = None
    details: str = ""

    def __post_init__(self):
        if self.failure is not None and self.error is not None:
            raise ValueError(f"JUnit case {self.classname}.{self.name}: a failure or an error, not both")


def write_junit(path: str | os.PathLike, suite: str, cases, *, seconds: float | None = None) -> Path:
    """Write ``cases`` as one JUnit test suite, atomically.

    Parameters
    ----------
    path : path-like
    suite : str
        The ``<testsuite>`` name.
    cases : sequence of JUnitCase
    seconds : float, optional
        The suite's time; default the sum of the cases'.

    Returns
    -------
    Path

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.xml"
    >>> _ = write_junit(p, "regress", [JUnitCase("full-angle", "voxel.interior.rmse", 1.5),
    ...                                JUnitCase("wedge-30", "voxel.am.bias", 1.2, failure="worse")])
    >>> root = ET.parse(p).getroot()
    >>> s = root.find("testsuite"); s.get("tests"), s.get("failures"), s.get("errors")
    ('2', '1', '0')
    """
    cases = list(cases)
    if not all(isinstance(c, JUnitCase) for c in cases):
        raise ValueError("cases: expected a sequence of trixanes.io.junit.JUnitCase")
    total = sum(c.seconds for c in cases) if seconds is None else seconds
    root = ET.Element("testsuites")
    node = ET.SubElement(root, "testsuite", name=suite, tests=str(len(cases)),
                         failures=str(sum(c.failure is not None for c in cases)),
                         errors=str(sum(c.error is not None for c in cases)), time=f"{total:.3f}")
    for c in cases:
        case = ET.SubElement(node, "testcase", classname=c.classname, name=c.name, time=f"{c.seconds:.3f}")
        for tag, message in (("failure", c.failure), ("error", c.error)):
            if message is not None:
                ET.SubElement(case, tag, message=message.splitlines()[0] if message else "").text = c.details
    ET.indent(root)
    return write_text(path, '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode")
                      + "\n")
