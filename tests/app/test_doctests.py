"""The Examples sections of the docstrings run, under the installed names (trixanes.*)."""

from __future__ import annotations

import doctest
import importlib

import pytest

from helpers import package_modules

MODULES = package_modules()

# the GPU modules' examples need CuPy and a device; the CLI's are none
SKIP = {"trixanes.pipeline.gpu", "trixanes.synth.gpu"}


@pytest.mark.parametrize("name", sorted(set(MODULES) - SKIP))
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             report=True, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
