"""`vaelab report` and `vaelab compare`: one self-contained HTML page (no network, every picture a PNG in a
data: URI) with each section a run's kind calls for, the differing config fields marked, and bad input
refused in one line with nothing written. The browser test opens a report from a file:// URL in Chromium.

Run as a script, it takes the screenshot the docs show of any run's report:

    python tests/test_report.py /tmp/mnist-run docs/images/report.png
"""
from __future__ import annotations

import base64
import io
import json
import re
import shutil
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from vaelab.cli import main
from vaelab.data.dsprites import FACTORS

from conftest import TINY_TRAIN_ARGS, tiny_torch
from test_cli import assert_refused, vaelab_cli

pytestmark = pytest.mark.usefixtures("tiny_torch_defaults")

MOLECULES_FILE = Path(__file__).parent / "data" / "molecules.smi"
SCREENSHOT_VIEWPORT = {"width": 1200, "height": 1300}


class Page(HTMLParser):
    """The tags of a page with their attributes, the section ids, and the rows of marked table rows."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.marked: list[list[str]] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "tr" and attrs.get("class") == "diff":
            self._row = []
            self.marked.append(self._row)
        elif tag == "td" and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def sections(self) -> list[str]:
        return [a["id"] for t, a in self.tags if t == "section"]

    def images(self) -> list[str]:
        return [a["src"] for t, a in self.tags if t == "img"]


def self_contained(text: str) -> Page:
    """Parse the page and check that it loads nothing: no script, no stylesheet link, every src and
    href a data: URI or an anchor on the page, every <img> a PNG that decodes."""
    page = Page(text)
    assert not [t for t, _ in page.tags if t in ("script", "iframe", "object", "embed")]
    for tag, attrs in page.tags:
        for name in ("src", "href"):
            if name in attrs:
                assert attrs[name].startswith(("data:", "#")), (tag, attrs[name][:80])
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I)
    assert page.images()
    for src in page.images():
        assert src.startswith("data:image/png;base64,")
        png = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(io.BytesIO(png)) as picture:
            picture.verify()
    return page


def section_text(text: str, key: str) -> str:
    start = text.index(f'<section id="{key}"')
    return text[start:text.index("</section>", start)]


@pytest.fixture
def run_copy(tiny_run, tmp_path) -> Path:
    """A copy of the shared tiny run, which a report may write into."""
    return Path(shutil.copytree(tiny_run, tmp_path / "tiny"))


@pytest.fixture(scope="module")
def other_seed(tiny_idx, tmp_path_factory) -> Path:
    """The tiny run's settings with another seed."""
    out = tmp_path_factory.mktemp("runs") / "seed1"
    with tiny_torch():
        assert main(["train", "--data", f"idx:{tiny_idx}", *TINY_TRAIN_ARGS, "--seed", "1", "--out", str(out)]) == 0
    return out


# --- the commands' smoke tests (tests/test_cli.py runs one per command on the shared tiny run) -------------------
def smoke_report(tiny_run, tiny_idx, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", str(tiny_run), "--out", str(out), "--quiet"]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert self_contained(out.read_text()).sections()[:2] == ["run", "evaluation"]


def smoke_compare(tiny_run, tiny_idx, tmp_path, capsys):
    other = Path(shutil.copytree(tiny_run, tmp_path / "other"))
    config = json.loads((other / "config.json").read_text())
    config["model"]["beta"] = 4.0  # as if trained with --beta 4: the one field that differs
    (other / "config.json").write_text(json.dumps(config))
    out = tmp_path / "c.html"
    assert main(["compare", str(tiny_run), str(other), "--out", str(out), "--quiet"]) == 0
    assert "2 runs compared" in capsys.readouterr().out
    assert self_contained(out.read_text()).marked == [["model.beta", "1", "4"]]


REPORT_SMOKE = {"report": smoke_report, "compare": smoke_compare}


# --- a run's report ----------------------------------------------------------------------------------------
def test_the_report_of_an_image_run_has_every_section_and_loads_nothing(run_copy, capsys):
    assert main(["evaluate", str(run_copy), "--save", "--iwae-k", "5", "--quiet"]) == 0
    assert main(["report", str(run_copy), "--quiet"]) == 0
    out = run_copy / "report.html"
    assert f"wrote {out}" in capsys.readouterr().out
    text = out.read_text()
    page = self_contained(text)
    assert page.sections() == ["run", "evaluation", "curves", "samples", "reconstructions", "traversal", "map",
                               "config"]
    config = json.loads((run_copy / "config.json").read_text())
    for section in ("data", "model", "train"):
        assert f"<h3>{section}</h3>" in text
    for value in ("conv", "bernoulli", "dynamic", "4, 8", str(config["train"]["lr"])):
        assert f"<td>{value}</td>" in text or f'<td class="num">{value}</td>' in text, value
    evaluation = json.loads((run_copy / "evaluation.json").read_text())
    assert "negative ELBO (nats)" in section_text(text, "evaluation")
    assert f"{evaluation['elbo']:.4g}" in section_text(text, "evaluation")
    # one picture each: curves, samples, reconstructions, traversal; the map and (a 2-D latent) its manifold
    assert [len(Page(section_text(text, key)).images()) for key in page.sections()] == [0, 0, 1, 1, 1, 1, 2, 0]
    assert "2 most informative of 2 dimensions" in section_text(text, "traversal")
    # the default output in the run folder is the command's own file: made again, it is replaced
    out.write_text("old")
    assert main(["report", str(run_copy), "--quiet"]) == 0
    assert out.read_text() == text


def test_without_a_saved_evaluation_the_report_says_how_to_make_one(run_copy, tmp_path):
    out = tmp_path / "elsewhere.html"
    assert main(["report", str(run_copy), "--out", str(out), "--quiet"]) == 0
    evaluation = section_text(out.read_text(), "evaluation")
    assert "No saved evaluation" in evaluation and f"vaelab evaluate {run_copy} --save" in evaluation
    assert not (run_copy / "report.html").exists()


def test_values_from_the_run_are_escaped(run_copy, tmp_path):
    config = json.loads((run_copy / "config.json").read_text())
    config["data"]["path"] = "<script>alert(1)</script>&"
    (run_copy / "config.json").write_text(json.dumps(config))
    out = tmp_path / "r.html"
    assert main(["report", str(run_copy), "--out", str(out), "--quiet"]) == 0
    text = out.read_text()
    assert "<script" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;&amp;" in text
    # the data no longer loads: its sections say why; the rest of the page is made
    assert "not shown:" in section_text(text, "reconstructions") and "<img" in section_text(text, "samples")
    self_contained(text)


def test_a_run_without_weights_still_gets_its_config_and_a_reason(run_copy, tmp_path):
    (run_copy / "model.safetensors").unlink()
    out = tmp_path / "r.html"
    assert main(["report", str(run_copy), "--out", str(out), "--quiet"]) == 0
    text = out.read_text()
    assert "has not finished an epoch" in section_text(text, "samples")
    assert "<img" in section_text(text, "curves")


@pytest.fixture(scope="module")
def anomaly_run(tiny_idx, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "normal0"
    with tiny_torch():
        assert main(["anomaly", "fit", "--data", f"idx:{tiny_idx}", "--normal-class", "0", *TINY_TRAIN_ARGS,
                     "--out", str(out)]) == 0
    return out


def test_an_anomaly_run_shows_its_threshold_and_roc_curve(anomaly_run, tmp_path):
    out = tmp_path / "r.html"
    assert main(["report", str(anomaly_run), "--out", str(out), "--quiet"]) == 0
    text = out.read_text()
    self_contained(text)
    record = json.loads((anomaly_run / "anomaly.json").read_text())
    anomaly = section_text(text, "anomaly")
    assert f"{record['threshold']:.4g}" in anomaly and "AUROC" in anomaly and "ROC curve" in anomaly
    assert len(Page(anomaly).images()) == 2  # the scores with the threshold, the ROC curve


@pytest.fixture(scope="module")
def mol_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mol") / "run"
    assert main(["mol", "train", "--data", str(MOLECULES_FILE), "--repr", "smiles", "--val-size", "20",
                 "--latent-dim", "4", "--hidden", "32", "--embed-dim", "16", "--epochs", "2", "--batch-size", "32",
                 "--quiet", "--out", str(out)]) == 0
    return out


def test_a_molecule_run_shows_generation_metrics_and_draws_molecules(mol_run, tmp_path, monkeypatch):
    out = tmp_path / "r.html"
    assert main(["report", str(mol_run), "--out", str(out), "--quiet"]) == 0
    text = out.read_text()
    page = self_contained(text)
    assert page.sections() == ["run", "evaluation", "curves", "molecules", "config"]
    molecules = section_text(text, "molecules")
    assert "validity" in molecules and "reconstruction_accuracy" in molecules
    assert "drawn with RDKit" in molecules or "is a valid molecule" in molecules
    monkeypatch.setitem(sys.modules, "rdkit", None)  # as if the mol extra were not installed
    assert main(["report", str(mol_run), "--out", str(tmp_path / "without.html"), "--quiet"]) == 0
    molecules = section_text((tmp_path / "without.html").read_text(), "molecules")
    assert "rdkit is not installed" in molecules and "pip install &#x27;vaelab[mol]&#x27;" in molecules


def test_a_run_on_data_with_known_factors_shows_disentanglement_per_factor(tmp_path):
    run = tmp_path / "dsprites"
    assert main(["train", "--data", "dsprites", "--limit", "600", "--model", "mlp", "--hidden", "32", "--latent-dim",
                 "4", "--epochs", "1", "--batch-size", "50", "--quiet", "--out", str(run)]) == 0
    assert main(["report", str(run), "--quiet"]) == 0
    text = (run / "report.html").read_text()
    self_contained(text)
    factors = section_text(text, "factors")
    for name in (*FACTORS, "MIG", "FactorVAE score", "most informative dimension"):
        assert name in factors, name


# --- comparing runs ----------------------------------------------------------------------------------------------
def test_compare_marks_the_fields_that_differ_and_only_those(tiny_run, other_seed, tmp_path, capsys):
    first = Path(shutil.copytree(tiny_run, tmp_path / "tiny"))
    assert main(["evaluate", str(first), "--save", "--iwae-k", "5", "--quiet"]) == 0
    out = tmp_path / "compare.html"
    assert main(["compare", str(first), str(other_seed), "--out", str(out), "--quiet"]) == 0
    assert "2 runs compared" in capsys.readouterr().out
    text = out.read_text()
    page = self_contained(text)
    assert page.sections() == ["runs", "config", "curves", "evaluation", "samples"]
    assert page.marked == [["train.seed", "0", "1"]]  # the one differing field, marked, a value per run
    assert "train.lr" in section_text(text, "config")  # the same in both: listed, unmarked, folded away
    assert len(Page(section_text(text, "curves")).images()) == 1  # the runs overlaid in one figure
    assert len(Page(section_text(text, "samples")).images()) == 2
    evaluation = section_text(text, "evaluation")
    assert "negative ELBO (nats)" in evaluation and "No saved evaluation for seed1" in evaluation


# --- bad input ----------------------------------------------------------------------------------------------------
def test_bad_input_is_refused_in_one_line_and_nothing_is_written(tiny_run, other_seed, tmp_path):
    not_a_run = tmp_path / "empty"
    not_a_run.mkdir()
    assert_refused(vaelab_cli("report", not_a_run, cwd=tmp_path), "vaelab report: error:", "not a vaelab run folder")
    assert list(not_a_run.iterdir()) == []
    out = tmp_path / "c.html"
    assert_refused(vaelab_cli("compare", tiny_run, not_a_run, "--out", out, cwd=tmp_path), "not a vaelab run folder")
    assert not out.exists()


@pytest.mark.parametrize("args, message", [
    (["report", "{run}", "--out", "{tmp}/missing/r.html"], "output folder does not exist"),
    (["report", "{run}", "--out", "{tmp}/taken.html"], "already exists; add --force"),
    (["compare", "{run}", "{seed}", "--out", "{tmp}/taken.html"], "already exists; add --force"),
    (["compare", "{run}", "--out", "{tmp}/c.html"], "at least two runs"),
    (["compare", "{run}", "{run}", "--out", "{tmp}/c.html"], "given twice"),
    (["report", "{run}", "--out", "{tmp}"], "is a folder"),
])
def test_bad_outputs_and_run_lists_are_refused(tiny_run, other_seed, tmp_path, capsys, args, message):
    (tmp_path / "taken.html").write_text("mine")
    argv = [a.format(run=tiny_run, seed=other_seed, tmp=tmp_path) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert (tmp_path / "taken.html").read_text() == "mine" and not (tmp_path / "c.html").exists()
    assert not (tiny_run / "report.html").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.html"]


# --- in a browser ---------------------------------------------------------------------------------------------------
IMAGES_JS = "() => Array.from(document.images).map(img => img.complete && img.naturalWidth > 0)"


def screenshot(report: Path, target: Path) -> list[str]:
    """Open `report` from its file:// URL in Chromium, check it, and save a screenshot of its top to `target`;
    returns the problems found (empty when the page is as it should be)."""
    from test_serve_browser import browser_page

    problems = []
    with browser_page() as page:
        page.set_viewport_size(SCREENSHOT_VIEWPORT)
        page.goto(report.resolve().as_uri(), wait_until="load")
        loaded = page.evaluate(IMAGES_JS)
        if not loaded or not all(loaded):
            problems.append(f"images not loaded: {loaded}")
        problems += [f"console: {e}" for e in page.errors]
        problems += [f"request: {r[:80]}" for r in page.requested if not r.startswith(("data:", "file:"))]
        page.screenshot(path=str(target))
    return problems


def test_the_report_opens_in_chromium_with_every_image_and_no_request(run_copy, tmp_path):
    from test_serve_browser import require_chromium

    require_chromium()
    assert main(["report", str(run_copy), "--quiet"]) == 0
    assert screenshot(run_copy / "report.html", tmp_path / "report.png") == []
    with Image.open(tmp_path / "report.png") as shot:
        assert shot.width == SCREENSHOT_VIEWPORT["width"]


if __name__ == "__main__":
    import tempfile

    run_dir, target = Path(sys.argv[1]), Path(sys.argv[2])
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.html"
        assert main(["report", str(run_dir), "--quiet", "--out", str(report)]) == 0
        problems = screenshot(report, target)
    assert problems == [], problems
    print(f"wrote {target} ({target.stat().st_size / 1e3:.0f} KB)")
