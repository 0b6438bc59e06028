"""Every code block of the README and the documentation runs as written, or says why it does not.

tests/docs_blocks.py finds the blocks and runs a page's blocks in order in a working folder with
the files the pages name. The README and Getting started run in every test run; the guide pages and
the tutorials' blocks (minutes of training each) run under `make test-slow`.
"""
from __future__ import annotations

import re
import shutil

import pytest

from docs_blocks import PAGES, ROOT, RUNNABLE, blocks, prepare, run_page

README = ROOT / "README.md"
QUICK_PAGES = [p for p in PAGES if any(b.kind is None for b in blocks(p))]
# The front door runs in every test run; the guide pages (half a minute each) under `make test-slow`.
EVERY_RUN_PAGES = {README, ROOT / "docs" / "getting-started.md"}
SLOW_PAGES = [p for p in PAGES if any(b.kind == "slow" for b in blocks(p))]


def test_every_block_is_run_or_says_why():
    for page in PAGES:
        for block in blocks(page):
            if block.kind is None:
                assert block.lang in RUNNABLE, f"{block.name}: a {block.lang or 'plain'} block must say why it is not run"
            else:
                assert len(block.why.split()) >= 3, f"{block.name}: say why it is {block.kind}"
            if block.kind == "slow":
                assert block.lang in RUNNABLE, block.name


def test_the_readme_is_short_and_ci_runs_its_test_command():
    text = README.read_text()
    assert len(text.splitlines()) <= 250
    assert any("make test" in b.code for b in blocks(README) if b.lang == "bash")
    assert re.search(r"^make test$", (ROOT / ".ci" / "run").read_text(), re.M)


@pytest.fixture(scope="session")
def workspace(tmp_path_factory):
    return prepare(tmp_path_factory.mktemp("docs") / "workspace")


@pytest.mark.parametrize("page", [pytest.param(p, marks=() if p in EVERY_RUN_PAGES else pytest.mark.slow)
                                  for p in QUICK_PAGES], ids=lambda p: str(p.relative_to(ROOT)))
def test_the_page_runs_as_written(page, workspace, tmp_path):
    workdir = tmp_path / "work"
    shutil.copytree(workspace, workdir)
    outputs = run_page(page, workdir)
    assert outputs, "no block ran"
    if page == README:
        printed = "".join(out for block, out in outputs if block.lang == "python").split()
        assert printed == ["torch.Size([16,", "1,", "28,", "28])", "torch.Size([16,", "16])", "True"]
        assert (workdir / "samples.png").is_file() and (workdir / "runs" / "photos" / "config.json").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("page", SLOW_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_tutorial_runs_as_written(page, workspace, tmp_path):
    workdir = tmp_path / "work"
    shutil.copytree(workspace, workdir)
    run_page(page, workdir, slow=True)
