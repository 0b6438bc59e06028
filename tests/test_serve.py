"""`vaelab serve`: the explorer's JSON API (FastAPI's TestClient), its refusals, and the command itself.

Every endpoint's answer is checked against the vaelab function it stands for (model.decode,
model.sample, latent.paths.interpolate, latent.attributes.apply_vector, ...), so the page shows
what the commands print. The page in a real browser: test_serve_browser.py.
"""
from __future__ import annotations

import base64
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

import vaelab
from vaelab.cli import main, parser
from vaelab.data.folder import read_image
from vaelab.errors import InputError, VaelabError
from vaelab.latent.attributes import apply_vector, attribute_vector, measure, quartile_masks
from vaelab.latent.maps import project_2d
from vaelab.latent.paths import interpolate
from vaelab.latent.traverse import dimension_order, latent_statistics
from vaelab.serve import create_app
from vaelab.serve.access import ANY_ADDRESS, LOOPBACK_NAMES, access_for, allowed_hosts, is_loopback
from vaelab.serve.app import MAX_BODY_BYTES, MAX_UPLOAD_BYTES

from conftest import TINY_CLASSES, TINY_TEST, as_values, tiny_torch

pytestmark = pytest.mark.usefixtures("tiny_torch_defaults")


# --- fixtures and helpers -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def served(tiny_run):
    """(TestClient, model, splits) of the explorer over the shared tiny run (2-D latent, labels 0..2)."""
    with tiny_torch():
        client = TestClient(create_app(tiny_run))
    model = vaelab.load(tiny_run)
    return client, model, as_values(model.run.data())


@pytest.fixture(scope="module")
def served_conditional(tiny_conditional_run):
    """The same for a conditional run with a 3-D latent: labels go into the decoder, the map is a PCA."""
    run = tiny_conditional_run
    with tiny_torch():
        client = TestClient(create_app(run))
    model = vaelab.load(run)
    return client, model, as_values(model.run.data())


def pixels(png: bytes | str) -> np.ndarray:
    """A PNG (bytes, or a data URL) as uint8 pixels."""
    if isinstance(png, str):
        assert png.startswith("data:image/png;base64,")
        png = base64.b64decode(png.split(",", 1)[1])
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return np.asarray(image)


def as_pixels(x: torch.Tensor) -> np.ndarray:
    """(1, H, W) values in [0, 1] -> the grey levels vaelab.viz.grid draws."""
    return (x.clamp(0, 1)[0].numpy() * 255 + 0.5).astype(np.uint8)


def assert_same_image(png, x: torch.Tensor) -> None:
    np.testing.assert_allclose(pixels(png).astype(int), as_pixels(x).astype(int), atol=1)


def png_bytes(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, format="PNG")
    return buffer.getvalue()


def refused(response, status: int, fragment: str) -> str:
    """A JSON 4xx whose detail is one readable string."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail
    assert fragment in detail, detail
    return detail


# --- the API against the functions it stands for ------------------------------------------------------------
def test_info_sorts_dimensions_by_kl_and_lists_the_attributes(served):
    client, model, data = served
    info = client.get("/api/info").json()
    assert info["shape"] == [1, 8, 8] and info["latent_dim"] == 2 and info["examples"] == TINY_TEST
    assert info["conditional"] is False and info["labelled"] is True and info["stochastic"] is True
    stats = latent_statistics(model, data.test)
    assert [d["dim"] for d in info["dimensions"]] == dimension_order(stats)
    for d in info["dimensions"]:
        assert d["kl"] == pytest.approx(float(stats["kl"][d["dim"]]), rel=1e-5)
        assert d["active"] == bool(stats["active"][d["dim"]]) and d["span"] >= 3
    assert [a["name"] for a in info["attributes"]] == ["ink"] + [f"label:{c}" for c in range(TINY_CLASSES)]


def test_example_and_decode_give_the_models_numbers(served):
    client, model, data = served
    e = client.get("/api/examples/3").json()
    mu, logvar = model.encode(data.test[3:4])
    np.testing.assert_allclose(e["mu"], mu[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(e["logvar"], logvar[0].numpy(), atol=1e-5)
    assert e["index"] == 3 and e["label"] == int(data.test_labels[3])
    assert_same_image(e["image"], data.test[3])
    assert_same_image(e["reconstruction"], model.decode(mu)[0])

    r = client.post("/api/decode", json={"z": e["mu"]})  # decode(mu of a test image) is model.decode(mu)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert_same_image(r.content, model.decode(mu)[0])
    as_json = client.post("/api/decode", json={"z": e["mu"], "format": "base64"}).json()
    assert base64.b64decode(as_json["image"].split(",", 1)[1]) == r.content  # the same PNG, base64


def test_encode_an_upload_like_an_image_file(served, tmp_path):
    client, model, data = served
    grey = as_pixels(data.test[5])
    r = client.post("/api/encode", files={"file": ("five.png", png_bytes(grey), "image/png")})
    assert r.status_code == 200, r.text
    mu, _ = model.encode(data.test[5:6])
    np.testing.assert_allclose(r.json()["mu"], mu[0].numpy(), atol=1e-3)  # the PNG rounds pixels to 1/255
    assert_same_image(r.json()["image"], data.test[5])

    # a colour image of another size: converted as `vaelab interpolate --from FILE` converts it
    rgb = np.random.default_rng(0).integers(0, 256, size=(20, 13, 3), dtype=np.uint8)
    (tmp_path / "rgb.png").write_bytes(png_bytes(rgb))
    r = client.post("/api/encode", files={"file": ("rgb.png", png_bytes(rgb), "image/png")})
    assert r.status_code == 200, r.text
    x = read_image(tmp_path / "rgb.png", model.shape)
    expected_mu, expected_logvar = model.encode(x[None])
    np.testing.assert_allclose(r.json()["mu"], expected_mu[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(r.json()["logvar"], expected_logvar[0].numpy(), atol=1e-5)
    assert pixels(r.json()["image"]).shape == (8, 8)
    assert_same_image(r.json()["reconstruction"], model.decode(expected_mu)[0])


def test_sample_draws_what_model_sample_draws(served):
    client, model, _ = served
    r = client.post("/api/sample", json={"n": 3, "temperature": 0.7, "seed": 5}).json()
    assert r["seed"] == 5 and np.array(r["z"]).shape == (3, 2)
    expected = model.sample(3, 0.7, torch.Generator().manual_seed(5))
    for image, x in zip(r["images"], expected):
        assert_same_image(image, x)
    fresh = client.post("/api/sample", json={}).json()  # no seed: a fresh one, returned so the draw can be repeated
    again = client.post("/api/sample", json={"seed": fresh["seed"]}).json()
    assert again["z"] == fresh["z"] and len(fresh["images"]) == 1


def test_interpolate_follows_latent_paths(served):
    client, model, data = served
    for spherical in (False, True):
        r = client.post("/api/interpolate", json={"from": {"index": 0}, "to": {"index": 4}, "steps": 6,
                                                   "spherical": spherical}).json()
        frames, z = interpolate(model, data.test[0:1], data.test[4:5], 6, spherical)
        np.testing.assert_allclose(r["z"], z.numpy(), atol=1e-5)
        assert len(r["images"]) == 6 and len(r["step_distances"]) == 5
        for image, frame in zip(r["images"], frames):
            assert_same_image(image, frame)
    r = client.post("/api/interpolate", json={"from": {"z": [0.0, 0.0]}, "to": {"index": 4}, "steps": 3}).json()
    mu4 = model.encode(data.test[4:5])[0][0]
    np.testing.assert_allclose(r["z"], [[0, 0], (mu4 / 2).tolist(), mu4.tolist()], atol=1e-5)


def test_attribute_vectors_are_those_of_vaelab_attribute(served):
    client, model, data = served
    train, train_labels = data.train[:10_000], data.train_labels[:10_000]
    mu_train, _ = model.encode_all(train)
    z = model.encode(data.test[2:3])[0]
    cases = {"ink": quartile_masks(measure("ink", train)), "label:1": (train_labels == 1, train_labels != 1)}
    for name, (with_it, without_it) in cases.items():
        v = attribute_vector(mu_train, with_it, without_it)
        r = client.post("/api/attribute", json={"z": z[0].tolist(), "attribute": name, "alpha": 1.5}).json()
        np.testing.assert_allclose(r["z"], (z[0] + 1.5 * v).numpy(), atol=1e-5)
        assert_same_image(r["image"], apply_vector(model, z, v, [1.5])[0, 0])


def test_map_of_a_2d_latent_is_the_codes_themselves(served):
    client, model, data = served
    m = client.get("/api/map").json()
    mu, _ = model.encode_all(data.test)
    assert m["method"] == "posterior means" and m["axes"] == ["z1", "z2"]
    np.testing.assert_allclose(m["points"], mu.numpy(), atol=1e-4)
    assert m["labels"] == data.test_labels.tolist()


def test_a_conditional_run_takes_labels_and_maps_by_pca(served_conditional):
    client, model, data = served_conditional
    info = client.get("/api/info").json()
    assert info["conditional"] is True and info["classes"] == TINY_CLASSES
    assert [a["name"] for a in info["attributes"]] == ["ink"]  # the class is the decoder's input here
    m = client.get("/api/map").json()
    mu, _ = model.encode_all(data.test, data.test_labels)
    points, method, axes = project_2d(mu.numpy())
    assert m["method"] == method and m["axes"] == list(axes) and method.startswith("PCA of 3-D")
    np.testing.assert_allclose(np.abs(m["points"]), np.abs(points), atol=1e-4)  # a component's sign is arbitrary

    e = client.get("/api/examples/7").json()  # encoded with its own label
    y = data.test_labels[7:8]
    np.testing.assert_allclose(e["mu"], model.encode(data.test[7:8], y)[0][0].numpy(), atol=1e-5)
    r = client.post("/api/decode", json={"z": e["mu"], "label": 1})
    assert_same_image(r.content, model.decode(torch.tensor([e["mu"]]), torch.tensor([1]))[0])
    refused(client.post("/api/decode", json={"z": e["mu"]}), 422, "needs a label")
    refused(client.post("/api/decode", json={"z": e["mu"], "label": 5}), 422, "labels must lie in 0..2")
    s = client.post("/api/sample", json={"n": 2, "seed": 1, "label": 2}).json()
    expected = model.sample(2, 1.0, torch.Generator().manual_seed(1), y=torch.tensor([2, 2]))
    assert_same_image(s["images"][1], expected[1])
    upload = png_bytes(as_pixels(data.test[7]))
    r = client.post("/api/encode", files={"file": ("x.png", upload, "image/png")}, data={"label": str(int(y))})
    np.testing.assert_allclose(r.json()["mu"], e["mu"], atol=1e-3)
    refused(client.post("/api/encode", files={"file": ("x.png", upload, "image/png")}), 422, "needs a label")


# --- refusals -----------------------------------------------------------------------------------------------
NAN_BODY = b'{"z": [NaN, 0]}'  # Python's JSON reader accepts these literals, so the server must check
BAD_REQUESTS = [
    ("post", "/api/decode", {"json": {"z": [0, 0, 0]}}, 422, "z has 3 values; this run's latent has 2 dimensions"),
    ("post", "/api/decode", {"content": NAN_BODY}, 422, "z[0] is nan, not a finite number"),
    ("post", "/api/decode", {"content": b'{"z": [0, -Infinity]}'}, 422, "z[1] is -inf, not a finite number"),
    ("post", "/api/decode", {"json": {"z": [0, 1e6]}}, 422, "z[1] = 1e+06 is outside [-100, 100]"),
    ("post", "/api/decode", {"json": {"z": [0, 0], "label": 1}}, 422, "not conditional"),
    ("post", "/api/decode", {"json": {"z": [0, 0], "format": "jpeg"}}, 422, "format:"),
    ("post", "/api/decode", {"json": {"label": None}}, 422, "z: Field required"),
    ("post", "/api/decode", {"content": b"{not json"}, 422, "JSON decode error"),
    ("post", "/api/decode", {"json": {"z": ["a", 0]}}, 422, "z.0:"),
    ("get", "/api/examples/100", {}, 404, "test example 100 does not exist (0..99)"),
    ("get", "/api/examples/-1", {}, 404, "test example -1 does not exist"),
    ("get", "/api/examples/first", {}, 422, "index:"),
    ("post", "/api/interpolate", {"json": {"from": {"index": 0, "z": [0, 0]}, "to": {"index": 1}}}, 422,
     "give either index or z"),
    ("post", "/api/interpolate", {"json": {"from": {"index": 0}, "to": {"index": 100}}}, 404, "test example 100"),
    ("post", "/api/interpolate", {"json": {"from": {"index": 0}, "to": {"z": [0]}}}, 422, "to.z has 1 values"),
    ("post", "/api/interpolate", {"json": {"from": {"index": 0}, "to": {"index": 1}, "steps": 1}}, 422, "steps:"),
    ("post", "/api/interpolate", {"json": {"from": {"index": 0}, "to": {"index": 1}, "steps": 65}}, 422, "steps:"),
    ("post", "/api/sample", {"json": {"temperature": 0}}, 422, "temperature:"),
    ("post", "/api/sample", {"content": b'{"temperature": NaN}'}, 422, "temperature:"),
    ("post", "/api/sample", {"json": {"n": 1000}}, 422, "n:"),
    ("post", "/api/attribute", {"json": {"z": [0, 0], "attribute": "ink", "alpha": 100}}, 422, "alpha:"),
    ("post", "/api/attribute", {"json": {"z": [0, 0], "attribute": "Smiling", "alpha": 1}}, 422,
     "unknown attribute 'Smiling'; this run has: ink, label:0"),
    ("post", "/api/encode", {"files": {"file": ("notes.txt", b"just text", "image/png")}}, 422,
     "upload 'notes.txt': not a readable image"),
    ("post", "/api/encode", {"files": {"file": ("empty.png", b"", "image/png")}}, 422, "the upload is empty"),
    ("post", "/api/encode", {"data": {"label": "1"}}, 422, "file: Field required"),
    ("get", "/api/nothing", {}, 404, "Not Found"),
]


@pytest.mark.parametrize("method, path, kwargs, status, fragment", BAD_REQUESTS,
                         ids=[f"{m} {p} {s} {f[:24]}" for m, p, _, s, f in BAD_REQUESTS])
def test_bad_requests_are_refused_in_json(served, method, path, kwargs, status, fragment):
    client, _, _ = served
    if "content" in kwargs:
        kwargs = {**kwargs, "headers": {"content-type": "application/json"}}
    refused(getattr(client, method)(path, **kwargs), status, fragment)


def test_uploads_are_limited_in_bytes_and_pixels(served):
    client, _, _ = served
    too_many_bytes = b"\x89PNG" + bytes(MAX_UPLOAD_BYTES)  # within the body limit, over the file limit
    refused(client.post("/api/encode", files={"file": ("big.png", too_many_bytes, "image/png")}), 413,
            f"at most {MAX_UPLOAD_BYTES} are accepted")
    refused(client.post("/api/encode", files={"file": ("huge.png", bytes(MAX_BODY_BYTES), "image/png")}), 413,
            "request body is larger than")  # refused from its Content-Length, before it is read
    chunks = (bytes(500_000) for _ in range(6))  # no Content-Length: counted as it streams in
    refused(client.post("/api/decode", content=chunks, headers={"content-type": "application/json"}), 413,
            "request body is larger than")

    # a decompression bomb: 25 megapixels in a few kB, refused from its header before decoding
    bomb = io.BytesIO()
    Image.new("1", (5000, 5000)).save(bomb, format="PNG")
    assert len(bomb.getvalue()) < 100_000
    refused(client.post("/api/encode", files={"file": ("bomb.png", bomb.getvalue(), "image/png")}), 413,
            "5000x5000 pixels")


def test_the_page_and_docs_need_nothing_from_the_internet(served):
    client, _, _ = served
    page = client.get("/")
    assert page.status_code == 200 and "vaelab explorer" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]  # the browser enforces it
    for name in ("app.js", "style.css"):
        r = client.get(f"/static/{name}")
        assert r.status_code == 200 and not re.search(r"https?://", r.text), name
    assert not re.search(r"https?://", page.text)
    docs = client.get("/docs")
    assert docs.status_code == 200 and not re.search(r"(src|href)=['\"]?https?://", docs.text)
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    assert set(client.get("/openapi.json").json()["paths"]) >= {"/api/decode", "/api/encode", "/api/sample",
                                                                "/api/interpolate", "/api/attribute", "/api/info"}
    # names are looked up, never joined to a path
    for path in ("/static/index.html", "/static/..%2Fapp.py", "/static/%2E%2E/app.py", "/docs-assets/index.html"):
        assert client.get(path).status_code == 404, path


def test_the_server_binds_loopback_unless_told_otherwise(tiny_run, capsys):
    args = parser().parse_args(["serve", "RUN"])
    assert args.host == "127.0.0.1" and args.port == 8000
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")
    with socket.socket() as taken:  # a port in use: one line at once, before the slow start
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", str(tiny_run), "--port", str(port)]) == 2
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and err[0].startswith(f"vaelab serve: error: cannot listen on 127.0.0.1:{port}: ")
    # on loopback, other Host headers are refused: a web page elsewhere cannot reach it by DNS rebinding
    client = TestClient(create_app(tiny_run, allowed_hosts=LOOPBACK_NAMES), base_url="http://127.0.0.1:8000")
    assert client.get("/api/info").status_code == 200
    for host in ("localhost:8000", "[::1]:8000", "127.0.0.2", "LOCALHOST."):
        assert client.get("/api/info", headers={"host": host}).status_code == 200, host
    for host in ("attacker.example:8000", "192.168.1.2:8000", "localhost.attacker.example", "", "[::1"):
        refused(client.get("/api/info", headers={"host": host}), 400, "this server does not answer to Host")


def test_runs_that_are_not_images_are_refused(tmp_path, capsys):
    from test_table import write_table

    write_table(tmp_path / "t.csv")
    run = tmp_path / "table"
    assert main(["train", "--data", f"csv:{tmp_path / 't.csv'}", "--label-column", "kind", "--model", "mlp", "--hidden", "8",
                 "--latent-dim", "2", "--likelihood", "gaussian-learned", "--epochs", "1", "--batch-size", "32",
                 "--val-size", "10", "--quiet", "--out", str(run)]) == 0
    with pytest.raises(VaelabError, match=r"examples have shape \(3,\), which is not an image"):
        create_app(run)
    capsys.readouterr()
    assert main(["serve", str(run), "--port", "0"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("vaelab serve: error:") and "not an image" in err[0]


# --- the command, as a user runs it (registered in test_cli's smoke tests) --------------------------------------
def _first_line(stream, timeout: float) -> str:
    """The first line of a subprocess's output, or "" after `timeout` seconds (never hangs)."""
    line = []
    reader = threading.Thread(target=lambda: line.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return line[0] if line else ""


def smoke_serve(tiny_run, tiny_idx, tmp_path, capsys):
    """`vaelab serve RUN --port 0`: prints its loopback URL, serves the page and the API, stops on Ctrl+C."""
    assert main(["serve", str(tmp_path / "missing"), "--port", "0"]) == 2  # refused before anything listens
    err = capsys.readouterr().err
    assert err.startswith("vaelab serve: error: run folder not found") and err.count("\n") == 1
    assert main(["serve", str(tiny_run), "--port", "70000"]) == 2
    assert "--port must be between 0 and 65535" in capsys.readouterr().err

    env = {**os.environ, "OMP_NUM_THREADS": "1", "VAELAB_CACHE": str(tmp_path / "cache")}
    proc = subprocess.Popen([sys.executable, "-m", "vaelab", "serve", str(tiny_run), "--port", "0"], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = _first_line(proc.stdout, timeout=60)
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert found, (line, proc.poll())
        url = found.group(0)
        with urllib.request.urlopen(url, timeout=10) as r:
            assert b"<title>vaelab explorer</title>" in r.read()
        with urllib.request.urlopen(url + "api/info", timeout=10) as r:
            assert json.load(r)["run"] == Path(tiny_run).name
        proc.send_signal(signal.SIGINT)  # Ctrl+C
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert out.strip().endswith("stopped") and "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.parametrize("endpoint,body", [
    ("/api/decode", {"z": [0.0, 0.0, 0.0], "label": 2**70}),
    ("/api/sample", {"n": 1, "label": -1}),
    ("/api/attribute", {"z": [0.0, 0.0, 0.0], "attribute": "ink", "alpha": 1.0, "label": 2**63}),
])
def test_a_label_out_of_range_is_a_422_not_a_500(served_conditional, endpoint, body):
    client, _, _ = served_conditional
    r = client.post(endpoint, json=body)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/json"), r.text


def test_an_unknown_attribute_is_not_echoed_whole(served):
    client, _, _ = served
    r = client.post("/api/attribute", json={"z": [0.0, 0.0], "attribute": "x" * 1_000_000, "alpha": 1.0})
    assert r.status_code == 422 and len(r.content) < 2000, len(r.content)


def test_refusals_quote_only_an_excerpt_of_the_request(served):
    client, _, _ = served
    detail = refused(client.post("/api/decode", json={"z": [0, 0], "format": "x" * 100_000}), 422, "format: ")
    assert "(got 'xxxx" in detail and "(100,000 characters)" in detail and len(detail) < 300
    detail = refused(client.post("/api/decode", json={"z": ["a"] * 65_536}), 422, "z.0: ")
    assert detail.endswith("and 65533 more") and len(detail) < 600  # three errors, not 65,536
    refused(client.post("/api/decode", json={"z": [0, 0], "label": True}), 422, "label: ")  # true is not 1
    refused(client.post("/api/sample", json={"n": "2"}), 422, "n: ")  # nor "2" 2
    refused(client.get("/static/" + "x" * 5000), 404, "... (5,000 characters)")
    refused(client.put("/api/decode"), 405, "Method Not Allowed")


def test_a_bug_is_a_json_500_without_a_traceback(served, monkeypatch):
    client, _, _ = served
    model = client.app.state.explorer.model

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals /home/someone/model.py")

    monkeypatch.setattr(model, "decode", broken)
    quiet = TestClient(client.app, raise_server_exceptions=False)
    r = quiet.post("/api/decode", json={"z": [0, 0]})
    assert r.status_code == 500 and r.headers["content-type"].startswith("application/json")
    assert r.json() == {"detail": "internal error (RuntimeError); the server's log has the details"}


def test_a_conditional_runs_schema_names_its_classes_and_sizes(served_conditional):
    client, model, _ = served_conditional
    bodies = client.get("/openapi.json").json()["components"]["schemas"]
    assert bodies["DecodeRequest"]["properties"]["label"]["maximum"] == model.num_classes - 1
    decode = bodies["DecodeRequest"]
    assert "label" in decode["required"] and decode["properties"]["z"]["maxItems"] == 3
    assert bodies["Refusal"]["required"] == ["detail"] and "HTTPValidationError" not in bodies
    refused(client.post("/api/sample", json={"label": 3}), 422, "labels must lie in 0..2, got 3")


# --- who may send requests: the Host header and the access token -------------------------------------------
TOKEN = "test-token-0123456789"


@pytest.fixture(scope="module")
def guarded(tiny_run):
    """The explorer as `vaelab serve --host 0.0.0.0 --token TOKEN --allow-host *.lab.example` makes it."""
    hosts, token = access_for("0.0.0.0", TOKEN, ["*.lab.example"])
    with tiny_torch():
        return create_app(tiny_run, allowed_hosts=hosts, token=token)


def test_off_loopback_every_request_needs_the_token(guarded):
    client = TestClient(guarded, base_url="http://192.168.1.2:8000")
    for path in ("/", "/api/info", "/static/app.js", "/docs", "/openapi.json"):
        refused(client.get(path), 403, "needs its access token")
    refused(client.get("/api/info", params={"token": "wrong-token-000"}), 403, "needs its access token")
    refused(client.get("/api/info", headers={"authorization": "Bearer " + TOKEN[:-1]}), 403, "access token")
    refused(client.post("/api/decode", json={"z": [0, 0]}), 403, "access token")  # before the body is read
    assert client.get("/api/info", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert "set-cookie" not in client.get("/api/info", headers={"authorization": f"Bearer {TOKEN}"}).headers

    # the printed URL: the page opened with ?token= sets a cookie, and its own requests carry it from then on
    page = client.get("/", params={"token": TOKEN})
    assert page.status_code == 200 and "vaelab explorer" in page.text
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("vaelab-token-8000=" + TOKEN) and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert client.get("/api/info").status_code == 200 and client.post("/api/decode", json={"z": [0, 0]}).content
    assert "set-cookie" not in client.get("/api/info", params={"token": TOKEN}).headers  # already set
    client.cookies.set("vaelab-token-8000", "stale-token-00")
    refused(client.get("/api/info"), 403, "access token")
    schema = client.get("/openapi.json", headers={"authorization": f"Bearer {TOKEN}"}).json()
    assert schema["security"] == [{"token": []}] and "403" in schema["paths"]["/api/decode"]["post"]["responses"]


def test_the_page_opened_from_the_printed_url_keeps_working_in_a_browser(guarded):
    """The page's own requests (relative fetches, /docs's schema) carry the token in the cookie."""
    from test_serve_browser import browser_page, only_local, open_explorer, require_chromium, serving, settled

    require_chromium()
    with serving(guarded) as url, browser_page() as page:
        assert page.goto(url).status == 403  # the bare URL: refused
        open_explorer(page, f"{url}?token={TOKEN}")  # the printed one: loads, decodes, draws the map
        page.click("#sample-btn")
        page.wait_for_function("() => document.querySelector('#status').textContent.startsWith('prior sample')")
        settled(page)
        page.goto(url + "docs")
        page.wait_for_selector(".opblock-summary-path")
        assert only_local(page.requested, url) == []
        assert [e for e in page.errors if "403" not in e] == []  # the bare URL's refusal is the only error


def test_off_loopback_only_this_machines_names_and_addresses_are_answered(guarded):
    bearer = {"authorization": f"Bearer {TOKEN}"}
    client = TestClient(guarded)
    for host in (socket.gethostname(), "10.1.2.3:8000", "[fe80::1]:8000", "localhost", "explorer.lab.example"):
        assert client.get("/api/info", headers={**bearer, "host": host}).status_code == 200, host
    for host in ("attacker.example", "lab.example.attacker.example", "testserver"):
        refused(client.get("/api/info", headers={**bearer, "host": host}), 400, "does not answer to Host")


def test_the_access_settings_of_vaelab_serve():
    args = parser().parse_args(["serve", "RUN", "--host", "0.0.0.0", "--token", TOKEN, "--allow-host", "a.example",
                                "--allow-host", "10.0.0.0/8"])
    assert (args.host, args.token, args.allow_host) == ("0.0.0.0", TOKEN, ["a.example", "10.0.0.0/8"])
    hosts, token = access_for("0.0.0.0")
    assert len(token) >= 32 and token != access_for("0.0.0.0")[1]  # a fresh one each start
    assert socket.gethostname() in hosts and set(ANY_ADDRESS) <= set(hosts)
    assert access_for("192.168.1.2")[0][-1] == "192.168.1.2"  # bound to one address: that one, not any
    assert access_for("127.0.0.1") == (LOOPBACK_NAMES, None)  # loopback: as before, no token unless given
    assert access_for("::1", TOKEN) == (LOOPBACK_NAMES, TOKEN)
    assert allowed_hosts("localhost", ["x.example"]) == [*LOOPBACK_NAMES, "x.example"]
    with pytest.raises(InputError, match="token: the token must have at least 8 characters"):
        access_for("0.0.0.0", "short")
    with pytest.raises(InputError, match="token:"):
        access_for("0.0.0.0", "has spaces and ; semicolons")
    with pytest.raises(InputError, match="allow_host: 'a b' is not a host name"):
        access_for("0.0.0.0", None, ["a b"])


def test_vaelab_serve_off_loopback_prints_a_url_with_a_fresh_token(tiny_run, monkeypatch, capsys):
    """The command with --host 0.0.0.0, bound to loopback instead (no test listens on every address)."""
    import uvicorn

    import vaelab.cli.serve as command

    real_bind, served_apps = command.bind, []
    monkeypatch.setattr(command, "bind", lambda host, port: real_bind("127.0.0.1", 0))
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets: served_apps.append(self.config.app))
    assert main(["serve", str(tiny_run), "--host", "0.0.0.0", "--port", "0"]) == 0
    out = capsys.readouterr().out
    token = re.search(r"http://127\.0\.0\.1:\d+/\?token=([\w-]+) ", out).group(1)
    assert out.count(token) == 1 and "requests need the token" in out
    client = TestClient(served_apps[0], base_url="http://127.0.0.1:8000")
    refused(client.get("/api/info"), 403, "access token")
    assert client.get("/api/info", params={"token": token}).status_code == 200
