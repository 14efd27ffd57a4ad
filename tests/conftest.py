"""Shared fixtures for the black-box tests: they run the real `dwaar` binary."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from dwaartest import Dwaar  # noqa: E402


@pytest.fixture
def dw(tmp_path):
    """A Dwaar helper bound to a fresh temporary directory."""
    return Dwaar(tmp_path)


@pytest.fixture
def live(tmp_path):
    """Starts `dwaar run` instances and backends; stops them by PID at teardown."""
    from livetest import Live
    lv = Live(tmp_path)
    yield lv
    lv.close()
