"""denoise and inpaint on the tiny run: what they print and draw, and how they refuse bad input."""
from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from vaelab.cli import main

from conftest import TINY_TEST
from test_cli import assert_command_refused, assert_refused, grid_size, vaelab_cli

pytestmark = pytest.mark.usefixtures("tiny_torch_defaults")


def smoke_denoise(tiny_run, tiny_idx, tmp_path, capsys):
    out = tmp_path / "d.png"
    assert main(["denoise", str(tiny_run), "--noise", "gaussian:0.5", "-n", "5", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"{TINY_TEST} test images, noise gaussian:0.5" in text
    db = {name: float(v) for name, v in
          re.findall(r"^  (noisy input|VAE, MAP|VAE, decoded|median) .*?(-?\d+\.\d\d) dB$", text, re.M)}
    assert set(db) == {"noisy input", "VAE, MAP", "VAE, decoded", "median"}
    gain = float(re.search(r"the VAE \(MAP\) gains ([+-]\d+\.\d\d) dB", text).group(1))
    assert gain == pytest.approx(db["VAE, MAP"] - db["noisy input"], abs=0.011) and "sigma 0.5" in text
    assert Image.open(out).size == grid_size(5, 3)  # noisy, denoised, clean rows


def smoke_inpaint(tiny_run, tiny_idx, tmp_path, capsys):
    out = tmp_path / "i.png"
    assert main(["inpaint", str(tiny_run), "--mask", "left", "--method", "both", "--steps", "5", "-n", "4",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "50% missing" in text
    errors = re.findall(r"^  (VAE, optimised z|VAE, iterated|mean training image|nearest training image)\S*.*?"
                        r"(\d\.\d{4})$", text, re.M)
    assert len(errors) == 4
    assert Image.open(out).size == grid_size(4, 4)  # masked, optimize, iterate, clean
    pixels = np.asarray(Image.open(out))
    assert (pixels[4:20, 4:12] == 128).all()  # the masked row shows the missing left half grey


APP_SMOKE = {"denoise": smoke_denoise, "inpaint": smoke_inpaint}


@pytest.mark.parametrize("args, message", [
    (["denoise", "--noise", "gauss:0.5"], "unknown noise 'gauss:0.5'"),
    (["denoise", "--noise", "gaussian:x"], "'x' is not a number"),
    (["inpaint", "--mask", "middle"], "unknown mask 'middle'"),
    (["inpaint", "--mask", "nomask.png"], "mask file not found"),
    (["denoise", "--noise", "gaussian:0.5", "--measure", "0"], "--measure must be at least 1, got 0"),
])
def test_apps_refuse_bad_input(tiny_run, tmp_path, args, message):
    assert_command_refused(tiny_run, tmp_path, args, message)


def test_mask_file_of_the_wrong_size(tiny_run, tmp_path):
    Image.fromarray(np.full((5, 5), 255, dtype=np.uint8)).save(tmp_path / "m.png")
    proc = vaelab_cli("inpaint", tiny_run, "--mask", tmp_path / "m.png", "--out", tmp_path / "o.png", cwd=tmp_path)
    assert_refused(proc, "is 5x5 pixels; the images are 8x8")
