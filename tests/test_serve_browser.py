"""The explorer's page in a real browser: Debian's chromium, driven by Playwright's Python package.

The server runs in a thread on a free loopback port; the page must load, decode live as a slider
moves under the keyboard, sample, load a test example from a click on the map, encode an upload,
run and scrub an interpolation, and never send a request anywhere but to its own server. A
1280x800 screenshot is saved under pytest's tmp folder and, when VAELAB_ARTIFACTS names a folder,
copied there.

Run as a script, it takes the README's screenshot of any run:

    python tests/test_serve_browser.py runs/demo docs/images/explorer.png
"""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
# See shared/DESIGN.md, "A real browser here": Playwright's own browser download does not work here.
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 800}
TIMEOUT_MS = 20_000


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = (f"Debian's chromium is not installed ({CHROMIUM} is missing): `make setup` installs it with "
               f"apt-get where that works, or run `apt-get install -y chromium` as root")
    if os.environ.get("CI"):  # CI must run this test: a missing browser there is a broken setup, not a skip
        pytest.fail(message)
    pytest.skip(message)


@contextlib.contextmanager
def serving(app):
    """Serve `app` with uvicorn in a thread on a free loopback port; yield its URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # port 0: the kernel picks a free one, with no window for another taker
    sock.listen(128)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the explorer's server did not start")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextlib.contextmanager
def browser_page():
    """A 1280x800 page of headless chromium, with every request's URL and every script error recorded."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(TIMEOUT_MS)
            page.requested, page.errors = [], []
            page.on("request", lambda r: page.requested.append(r.url))
            page.on("pageerror", lambda e: page.errors.append(str(e)))
            page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
            yield page
        finally:
            browser.close()


# --- reading the page ------------------------------------------------------------------------------------
PIXELS_JS = """(selector) => {
  const img = document.querySelector(selector);
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  return Array.from(ctx.getImageData(0, 0, canvas.width, canvas.height).data);
}"""


def image_pixels(page, selector: str = "#decoded") -> np.ndarray:
    return np.array(page.evaluate(PIXELS_JS, selector), dtype=np.uint8)


def version(page) -> int:
    return int(page.get_attribute("#decoded", "data-version") or 0)


def settled(page, after: int | None = None) -> None:
    """Wait until no request is in flight and, if given, the decoded image has changed since `after`.

    Predicates are written as functions: a bare expression would be run through eval, which the
    page's Content-Security-Policy forbids."""
    page.wait_for_function("() => document.body.dataset.busy === '0'")
    if after is not None:
        page.wait_for_function(f"() => Number(document.querySelector('#decoded').dataset.version || 0) > {after}")
        page.wait_for_function("() => document.body.dataset.busy === '0'")


def open_explorer(page, url: str) -> None:
    page.goto(url)
    page.wait_for_function("() => document.body.dataset.ready === '1'")
    settled(page, after=0)


def run_interpolation(page, to_index: int, steps: int = 10) -> None:
    page.fill("#end-b-index", str(to_index))
    page.dispatch_event("#end-b-index", "change")
    settled(page)
    page.fill("#steps", str(steps))
    page.click("#interp-btn")
    page.wait_for_function(f"() => document.querySelectorAll('#filmstrip img').length === {steps}")
    settled(page)


def only_local(requested: list[str], url: str) -> list[str]:
    """The requests that went anywhere but the page's own server (data: and blob: URLs stay in the page)."""
    return [u for u in requested if not u.startswith((url, "data:", "blob:"))]


# --- the test --------------------------------------------------------------------------------------------
def test_the_explorer_in_a_real_browser(tiny_run, tiny_torch_defaults, tmp_path):
    require_chromium()
    from vaelab.serve import create_app

    with serving(create_app(tiny_run)) as url, browser_page() as page:
        open_explorer(page, url)
        assert "tiny" in page.inner_text("#run-info")
        sliders = page.locator("#active-dims input[type=range]")
        assert sliders.count() + page.locator("#inactive-dims input[type=range]").count() == 2

        # a slider, moved with the keyboard, changes the decoded image
        slider = page.locator("input[type=range][id^=z-]").first
        before, v = image_pixels(page), version(page)
        slider.focus()
        page.keyboard.press("End")  # the slider's maximum
        settled(page, after=v)
        assert float(slider.input_value()) == float(slider.get_attribute("max"))
        assert not np.array_equal(image_pixels(page), before)

        # a random sample
        before, v = image_pixels(page), version(page)
        page.click("#sample-btn")
        settled(page, after=v)
        assert not np.array_equal(image_pixels(page), before)
        assert "prior sample" in page.inner_text("#status")

        # a click on the map loads the nearest test example into the sliders
        point = page.evaluate("window.vaelabExplorer.pointOnPage(7)")
        page.mouse.click(point["x"], point["y"])
        page.wait_for_function("() => document.querySelector('#status').textContent.startsWith('test #')")
        settled(page)
        loaded = int(page.input_value("#example-index"))
        where = page.evaluate(f"window.vaelabExplorer.pointOnPage({loaded})")
        assert abs(where["x"] - point["x"]) <= 10 and abs(where["y"] - point["y"]) <= 10

        # an uploaded image becomes the start of the path
        upload = io.BytesIO()
        Image.fromarray(np.tile(np.arange(0, 256, 32, dtype=np.uint8), (8, 1))).save(upload, format="PNG")
        page.set_input_files("#end-a-file", files=[{"name": "ramp.png", "mimeType": "image/png",
                                                    "buffer": upload.getvalue()}])
        page.wait_for_function("() => document.querySelector('#status').textContent === 'ramp.png: encoded'")

        # an interpolation, scrubbed to its last frame: the decoded image is that frame
        run_interpolation(page, to_index=4, steps=10)
        assert "10 frames" in page.inner_text("#status")
        scrub = page.locator("#interp-t")
        scrub.focus()
        page.keyboard.press("End")
        page.wait_for_function("() => document.querySelector('#interp-t-value').value === '10 / 10'")
        settled(page)
        assert np.array_equal(image_pixels(page), image_pixels(page, "#filmstrip img:last-child"))

        # the attribute vector's alpha slider
        page.locator("#alpha").focus()
        page.keyboard.press("End")
        settled(page)
        assert page.input_value("#alpha") == "3"

        shot = tmp_path / "explorer.png"
        page.screenshot(path=str(shot))
        if os.environ.get("VAELAB_ARTIFACTS"):
            folder = Path(os.environ["VAELAB_ARTIFACTS"])
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, folder / "explorer.png")
        assert Image.open(shot).size == (1280, 800)

        # the API's documentation page renders from the server's own copy of Swagger UI
        page.goto(url + "docs")
        page.wait_for_selector(".opblock-summary-path")
        assert "/api/decode" in page.inner_text("body")

        assert only_local(page.requested, url) == []
        assert page.errors == []


def take_screenshot(run: str, out: str) -> None:
    """The README's screenshot: a test example on the sliders, an interpolation, the map at 1280x800."""
    import torch

    from vaelab.serve import create_app

    torch.set_num_threads(1)
    with serving(create_app(run)) as url, browser_page() as page:
        open_explorer(page, url)
        run_interpolation(page, to_index=2, steps=12)
        page.locator("#interp-t").focus()
        for _ in range(5):  # part of the way along the path
            page.keyboard.press("ArrowRight")
        settled(page)
        page.select_option("#attribute-select", "ink")
        page.locator("#alpha").focus()
        for _ in range(5):  # alpha 0.5: thicker strokes, the same digit
            page.keyboard.press("ArrowRight")
        settled(page)
        page.locator("#interp-t").focus()
        page.screenshot(path=out)
        assert only_local(page.requested, url) == [], page.requested
    print(f"wrote {out}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python tests/test_serve_browser.py RUN OUT.png")
    take_screenshot(sys.argv[1], sys.argv[2])
