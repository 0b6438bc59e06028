"""Every script in examples/ runs, on the public API, as a user would start it (pyro's way)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MOLECULES = ROOT / "tests" / "data" / "molecules.smi"
# script -> arguments that keep it short (a few seconds each); the defaults are the real thing.
EXAMPLES = {
    "train_on_arrays.py": ["--epochs", "2"],
    "latent_walks.py": ["--epochs", "2"],
    "anomaly_table.py": ["--epochs", "5"],
    "molecules.py": ["--data", str(MOLECULES), "--epochs", "1"],
}
PUBLIC = ("vaelab", "vaelab.latent", "vaelab.apps", "vaelab.metrics", "vaelab.mol", "vaelab.viz")


def test_every_example_is_listed():
    assert sorted(p.name for p in (ROOT / "examples").glob("*.py")) == sorted(EXAMPLES)


@pytest.mark.parametrize("script", sorted(EXAMPLES))
def test_example_runs(script, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "VAELAB_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / script), *EXAMPLES[script],
                           "--out", str(tmp_path / "run")], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and proc.stdout.strip()


@pytest.mark.parametrize("script", sorted(EXAMPLES))
def test_examples_are_short_and_use_the_public_api_only(script):
    text = (ROOT / "examples" / script).read_text()
    assert text.count("\n") < 100
    imports = [line.split()[1] for line in text.splitlines() if line.startswith(("import vaelab", "from vaelab"))]
    assert imports and all(name == "vaelab" or name.startswith(tuple(p + "." for p in PUBLIC)) for name in imports)
    assert "vaelab.train" not in text and "vaelab.config" not in text  # nothing internal
