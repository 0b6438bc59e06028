"""The documentation site: `mkdocs build --strict` passes, the generated references are complete, and
the built pages render in Chromium with every image loaded, no console error, and a working search.

Run as a script, it takes the screenshot the docs show of the site:

    python tests/test_docs_site.py docs/images/docs_site.png
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from test_serve_browser import browser_page, require_chromium

ROOT = Path(__file__).resolve().parents[1]


def build_site(out: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = build_site(out)
    assert result.returncode == 0, result.stderr[-4000:]
    return out


def test_the_cli_reference_has_every_command(site):
    from vaelab.cli import parser
    from vaelab.cli.reference import commands

    page = (site / "reference" / "cli" / "index.html").read_text()
    for path, _ in commands(parser()):
        assert f"vaelab {' '.join(path)}" in page, path
    assert "--image-size" in page and "--limit" in page


def test_the_api_reference_shows_the_entry_points_docstrings(site):
    page = (site / "reference" / "python" / "index.html").read_text()
    for text in ("Train a VAE and return it", "The trained model of a run folder", "encode_all", "export_onnx"):
        assert text in page, text


@contextlib.contextmanager
def serving(folder: Path):
    """The built site over HTTP on a free loopback port (search needs http://, not file://)."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


IMAGES_LOADED_JS = """() => Array.from(document.images).filter(img => !img.complete || img.naturalWidth === 0)
                                                       .map(img => img.src)"""


def pages_of(site: Path) -> list[str]:
    return sorted(p.relative_to(site).parent.as_posix() + "/" for p in site.rglob("index.html")
                  if "assets" not in p.parts)


def test_every_page_renders_in_chromium_and_search_finds_a_command(site, tmp_path):
    require_chromium()
    with serving(site) as url, browser_page() as page:
        for path in pages_of(site):
            page.goto(url + ("" if path == "./" else path), wait_until="load")
            page.wait_for_function("() => Array.from(document.images).every(img => img.complete)")
            assert page.evaluate(IMAGES_LOADED_JS) == [], path
            assert page.title(), path
        assert page.errors == [], page.errors
        assert all(r.startswith(url) or r.startswith("data:") for r in page.requested), \
            [r for r in page.requested if not r.startswith(url)]
        page.goto(url, wait_until="load")
        page.click("input[data-md-component='search-query']")  # at this width the search field is in the header
        page.keyboard.type("interpolate")
        page.wait_for_selector(".md-search-result__item")
        results = page.inner_text(".md-search-result")
        assert "vaelab interpolate" in results, results[:2000]
        page.screenshot(path=str(tmp_path / "search.png"))
        assert page.errors == [], page.errors


if __name__ == "__main__":
    target = Path(sys.argv[1])
    with contextlib.ExitStack() as stack:
        import tempfile

        out = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        assert build_site(out).returncode == 0
        url = stack.enter_context(serving(out))
        page = stack.enter_context(browser_page())
        page.goto(url + "getting-started/", wait_until="load")
        page.screenshot(path=str(target))
    print(f"wrote {target}")
