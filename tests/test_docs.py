"""The examples in the docstrings (the package guide that help(fractal_match) shows first) run."""

import doctest

import pytest

import fractal_match
import fractal_match.templates.fractal._templates
import fractal_match.engine.matching
import fractal_match.progress


@pytest.mark.parametrize("module", [fractal_match, fractal_match.engine.matching, fractal_match.templates.fractal._templates,
                                    fractal_match.progress], ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
