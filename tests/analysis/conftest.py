"""Fixtures of the analysis tests."""

import pytest
from analysis_helpers import fast_params_file


@pytest.fixture
def fast_params(tmp_path):
    return fast_params_file(tmp_path)
