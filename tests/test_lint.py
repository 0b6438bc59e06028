"""The code has no undefined names, unused imports or syntax errors (ruff's pyflakes rules), and the
package and examples keep to 120 columns."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("rules, paths", [("F,E9", ["vaelab", "bench", "tests", "examples"]),
                                          ("E501", ["vaelab", "examples"])])
def test_ruff_finds_nothing(rules, paths):
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (it comes with the test extra: pip install -e '.[test]')")
    proc = subprocess.run([ruff, "check", "--select", rules, "--output-format", "concise", *paths], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
