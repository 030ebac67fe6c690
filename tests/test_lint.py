"""The code stays lint-clean and the config layer stays light (run by `pytest`, hence by CI)."""
import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = pytest.mark.process  # ruff, snakefmt and snakemake --lint


def run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)


def test_ruff_is_clean():
    result = run(sys.executable, "-m", "ruff", "check", ".")
    assert result.returncode == 0, result.stdout[-3000:]


def test_snakefmt_is_clean():
    result = run(sys.executable, "-m", "snakefmt", "--check", "Snakefile", "rules")
    assert result.returncode == 0, result.stderr[-3000:]


def test_reading_the_config_does_not_load_torch():
    """The Snakefile validates the config at start-up, also for `snakemake -n`."""
    result = run(sys.executable, "-c", "import sys, wd.config, wd.methods; "
                 "assert 'torch' not in sys.modules, 'torch imported'")
    assert result.returncode == 0, result.stderr
