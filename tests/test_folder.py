"""Image folders (`--data folder:DIR`): layouts, decoding, sizes, splits, refusals; CelebA attribute files."""
from __future__ import annotations

import json
import re
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vaelab.config import DataConfig, RunConfig
from vaelab.data import load_splits, parse_data_spec, relabel
from vaelab.data import folder as folder_module
from vaelab.data.folder import attribute_mask, read_attribute_file, split_names
from vaelab.errors import VaelabError

SIDE = 6


def level(i: int) -> int:
    """A grey level that identifies image i (distinct for i < 64)."""
    return (i * 4) % 256


def write_image(path: Path, value: int, mode: str = "L", size: tuple[int, int] = (SIDE, SIDE)) -> None:
    """A flat image of one grey level (RGB: the level in R, fixed G and B), so its pixels name it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    if mode == "RGB":
        pixels = np.empty((h, w, 3), dtype=np.uint8)
        pixels[..., 0], pixels[..., 1], pixels[..., 2] = value, 10, 200
        Image.fromarray(pixels, mode="RGB").save(path)
    else:
        Image.fromarray(np.full((h, w), value, dtype=np.uint8), mode="L").save(path)


def flat_folder(root: Path, n: int, mode: str = "L", suffix: str = ".png") -> list[str]:
    names = [f"img{i:03d}{suffix}" for i in range(n)]
    for i, name in enumerate(names):
        write_image(root / name, level(i), mode)
    return names


def load(path, **kw):
    return load_splits(DataConfig(name="folder", path=str(path), **{"val_size": 1000, **kw}))


def first_values(x: torch.Tensor) -> list[int]:
    """Channel 0's grey level of each image, in 0..255 (a folder's splits hold uint8 levels)."""
    assert x.dtype == torch.uint8
    return [int(v) for v in x[:, 0, 0, 0]]


# --- layouts ---------------------------------------------------------------------------------------
def test_data_spec_names_the_folder_dataset(tmp_path):
    assert parse_data_spec(f"folder:{tmp_path}") == ("folder", str(tmp_path))
    with pytest.raises(VaelabError, match="needs a path"):
        DataConfig(name="folder")


def test_flat_folder_has_no_labels(tmp_path):
    names = flat_folder(tmp_path, 40)
    (tmp_path / "notes.txt").write_text("not an image")  # other files are ignored
    (tmp_path / ".hidden.png").write_bytes(b"junk")  # so are hidden ones (macOS ._x.png and the like)
    data = load(tmp_path)
    assert data.name == "folder" and data.shape == (1, SIDE, SIDE)
    assert data.train_labels is None and data.val_labels is None and data.test_labels is None
    assert sorted(sum(data.files.values(), [])) == names
    for split in ("train", "val", "test"):
        x, _ = data.split(split)
        assert x.dtype == torch.float32 and x.is_contiguous() and len(x) == len(data.files[split])
        # held as uint8 levels, read as pixel / 255 exactly; each row is the file the files field names
        levels = getattr(data, split)
        assert levels.dtype == torch.uint8 and torch.equal(x, levels.float() / 255)
        assert first_values(levels) == [level(names.index(f)) for f in data.files[split]]


def test_class_subfolders_give_sorted_labels(tmp_path):
    for c, cls in enumerate(["zebra", "cat", "dog"]):  # sorted: cat=0, dog=1, zebra=2
        for i in range(12):
            write_image(tmp_path / cls / (f"sub/{i}.png" if i % 3 == 0 else f"{i}.png"), level(c * 12 + i))
    (tmp_path / "empty").mkdir()  # a folder without images is no class
    data = load(tmp_path)
    classes = ["cat", "dog", "zebra"]
    for split in ("train", "val", "test"):
        _, y = data.split(split)
        assert y.dtype == torch.int64
        assert y.tolist() == [classes.index(f.split("/")[0]) for f in data.files[split]]
    assert set(data.train_labels.tolist()) == {0, 1, 2} and data.label_names == tuple(classes)
    assert "cat/sub/0.png" in sum(data.files.values(), [])


def test_a_folder_with_other_classes_is_numbered_as_the_run_numbered_them(tmp_path):
    """A run saved cat, dog, zebra; a folder of dogs, zebras and wolves gets dog 1, zebra 2, wolf 3."""
    for c, cls in enumerate(["dog", "zebra", "wolf"]):
        for i in range(12):
            write_image(tmp_path / cls / f"{i}.png", level(c * 12 + i))
    data = relabel(load(tmp_path), ["cat", "dog", "zebra"])
    assert data.label_names == ("cat", "dog", "zebra", "wolf")
    for split in ("train", "val", "test"):
        _, y = data.split(split)
        assert y.tolist() == [data.label_names.index(f.split("/")[0]) for f in data.files[split]]


def test_mixed_layout_is_refused(tmp_path):
    flat_folder(tmp_path, 3)
    write_image(tmp_path / "cls" / "a.png", 1)
    with pytest.raises(VaelabError, match="both images .* and class folders"):
        load(tmp_path)


def test_empty_and_missing_folders_are_refused(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(VaelabError, match="no image files"):
        load(tmp_path)
    with pytest.raises(VaelabError, match="image folder not found"):
        load(tmp_path / "nowhere")


# --- decoding --------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode,suffix,channels", [
    ("L", ".png", 1), ("L", ".bmp", 1), ("RGB", ".png", 3), ("RGB", ".BMP", 3), ("RGB", ".webp", 3),
])
def test_channels_follow_the_image_modes(tmp_path, mode, suffix, channels):
    flat_folder(tmp_path, 12, mode, suffix)
    data = load(tmp_path)
    assert data.shape == (channels, SIDE, SIDE) and data.train.is_contiguous()
    if suffix != ".webp":  # lossless: exact values
        x = torch.cat([data.train, data.val, data.test])
        names = sum((data.files[s] for s in ("train", "val", "test")), [])
        assert first_values(x) == [level(int(n[3:6])) for n in names]
        if channels == 3:
            assert {int(v) for v in x[:, 1].flatten()} == {10}


def test_one_colour_image_makes_every_image_rgb(tmp_path):
    flat_folder(tmp_path, 12, "L")
    write_image(tmp_path / "zz-colour.png", 7, "RGB")
    data = load(tmp_path)
    assert data.shape == (3, SIDE, SIDE)
    everything = torch.cat([data.train, data.val, data.test])
    grey = [i for i, f in enumerate(sum((data.files[s] for s in ("train", "val", "test")), [])) if f != "zz-colour.png"]
    assert torch.equal(everything[grey, 0], everything[grey, 1])
    assert torch.equal(everything[grey, 0], everything[grey, 2])


def test_other_grey_modes(tmp_path):
    Image.fromarray(np.full((SIDE, SIDE), 65535 // 2, dtype=np.uint16)).save(tmp_path / "a16.png")  # 16-bit grey
    Image.new("1", (SIDE, SIDE), 1).save(tmp_path / "b1.png")
    Image.new("LA", (SIDE, SIDE), (100, 0)).save(tmp_path / "cla.png")
    data = load(tmp_path)
    assert data.shape == (1, SIDE, SIDE)
    x = {f: round(float(v) * 255) for s in ("train", "val", "test")
         for f, v in zip(data.files[s], data.split(s)[0][:, 0, 0, 0])}
    assert x == {"a16.png": 127, "b1.png": 255, "cla.png": 100}


def test_mixed_sizes_are_refused_unless_resized(tmp_path):
    flat_folder(tmp_path, 10)
    write_image(tmp_path / "img005.png", 3, size=(SIDE + 2, SIDE))
    with pytest.raises(VaelabError, match=r"img005.png is 8x6 pixels but img000.png is 6x6.*give image_size N"):
        load(tmp_path)
    data = load(tmp_path, image_size=4)
    assert data.shape == (1, 4, 4)
    flat = torch.cat([data.split(s)[0] for s in ("train", "val", "test")])
    assert float(flat.min()) >= 0 and float(flat.max()) <= 1
    # a flat image stays flat when resized bilinearly
    assert all(torch.all(img == img[0, 0, 0]) for img in flat)


def test_image_size_in_the_config(tmp_path):
    config = DataConfig(name="folder", path=str(tmp_path), image_size=32)
    run = RunConfig(data=config)
    assert RunConfig.from_json(run.to_json()).data == config
    assert json.loads(run.to_json())["data"]["image_size"] == 32
    assert RunConfig.from_dict({"data": {"name": "mnist"}}).data.image_size is None  # older configs
    for bad in (0, -3, 2.5):
        with pytest.raises(VaelabError, match="image size must be an integer in 1..4096"):
            DataConfig(name="folder", path="x", image_size=bad)
    with pytest.raises(VaelabError, match="only to the folder dataset"):
        DataConfig(name="idx", path="x", image_size=8)


@pytest.mark.parametrize("damage", [
    lambda raw: raw[: len(raw) // 2],  # truncated
    lambda raw: b"not an image at all",
    lambda raw: b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n",  # EPS in disguise: never handed to Ghostscript
], ids=["truncated", "garbage", "eps"])
def test_corrupt_file_is_named(tmp_path, damage):
    flat_folder(tmp_path, 10)
    bad = tmp_path / "img004.png"
    bad.write_bytes(damage(bad.read_bytes()))
    with pytest.raises(VaelabError, match="img004.png: not a readable image"):
        load(tmp_path)


def test_decompression_bomb_is_refused_from_its_header(tmp_path, monkeypatch):
    flat_folder(tmp_path, 3)
    monkeypatch.setattr(folder_module, "MAX_PIXELS", SIDE * SIDE - 1)
    with pytest.raises(VaelabError, match="img000.png: 6x6 pixels is more than the 35 allowed"):
        load(tmp_path)


# --- splits ----------------------------------------------------------------------------------------
def test_splits_are_deterministic_disjoint_and_follow_the_rule(tmp_path):
    names = flat_folder(tmp_path, 60)
    a, b = load(tmp_path, val_size=4), load(tmp_path, val_size=4)
    assert a.files == b.files and all(torch.equal(x, y) for x, y in
                                      zip((a.train, a.val, a.test), (b.train, b.val, b.test)))
    sets = [set(a.files[s]) for s in ("train", "val", "test")]
    assert sum(map(len, sets)) == len(names) and set().union(*sets) == set(names)
    assert all(files == sorted(files) for files in a.files.values())
    assert a.files["test"] == [n for n in names if zlib.crc32(n.encode()) % 10 == 9]
    rest = len(names) - len(a.files["test"])
    assert len(a.files["val"]) == min(4, rest // 10)
    assert len(load(tmp_path, val_size=0).val) == 0
    assert len(load(tmp_path, val_size=10_000).val) == rest // 10  # at most a tenth of the rest


def test_test_membership_does_not_depend_on_the_other_files():
    names = [f"{i:05d}.jpg" for i in range(500)]
    test = {names[i] for i in split_names(names, 50)["test"]}
    assert 25 < len(test) < 75  # about a tenth
    more = sorted(names + [f"new{i}.jpg" for i in range(100)])
    assert test == {more[i] for i in split_names(more, 50)["test"]} & set(names)


def test_validation_is_spread_over_the_classes():
    names = [f"{c}/{i:03d}.png" for c in "abcd" for i in range(100)]
    val = [names[i] for i in split_names(names, 20)["val"]]
    assert len(val) == 20 and {n[0] for n in val} == set("abcd")


def test_all_in_test_is_refused(tmp_path):
    name = next(f"{i}.png" for i in range(100) if zlib.crc32(f"{i}.png".encode()) % 10 == 9)
    write_image(tmp_path / name, 5)
    with pytest.raises(VaelabError, match="all fall in the test split"):
        load(tmp_path)


# --- attribute files -------------------------------------------------------------------------------
ATTRS = """3
Smiling  Male Eyeglasses
000001.jpg  1 -1 -1
000002.jpg -1  1 -1
000003.jpg  1  1  1
"""


@pytest.mark.parametrize("text", [ATTRS, ATTRS.split("\n", 1)[1], ATTRS + "\n\n"],
                         ids=["count", "no-count", "blank-end"])
def test_attribute_file(tmp_path, text):
    path = tmp_path / "list_attr_celeba.txt"
    path.write_text(text)
    names, files, values = read_attribute_file(path)
    assert names == ["Smiling", "Male", "Eyeglasses"]
    assert files == ["000001.jpg", "000002.jpg", "000003.jpg"]
    assert values.dtype == torch.int8
    assert values.tolist() == [[1, -1, -1], [-1, 1, -1], [1, 1, 1]]


@pytest.mark.parametrize("text,message", [
    ("", "no attributes"),
    ("5\n", "no attributes"),
    ("A B\nx.jpg 1\n", r":2: expected a file name and 2 values, got 1"),
    ("2\nA B\nx.jpg 1 -1\ny.jpg 1 -1 1\n", r":4: expected a file name and 2 values, got 3"),
    ("A B\nx.jpg 1 0\n", r":2: value '0' for B; expected 1 or -1"),
    ("A B\nx.jpg 1 yes\n", r":2: value 'yes' for B"),
    ("A B\nx.jpg 1 1\nx.jpg 1 1\n", r":3: x.jpg is already listed on line 2"),
    ("A A\n", r":1: attribute 'A' is named twice"),
    ("3\nA B\nx.jpg 1 1\n", r":1: the count line says 3 images but the file lists 1"),
])
def test_bad_attribute_files_are_refused(tmp_path, text, message):
    path = tmp_path / "attrs.txt"
    path.write_text(text)
    with pytest.raises(VaelabError, match=message) as info:
        read_attribute_file(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_attribute_file(tmp_path):
    with pytest.raises(VaelabError, match="cannot read the attribute file"):
        read_attribute_file(tmp_path / "nope.txt")


def test_attribute_mask(tmp_path):
    path = tmp_path / "attrs.txt"
    path.write_text(ATTRS)
    table = read_attribute_file(path)
    split = ["img/000003.jpg", "000002.jpg", "000001.jpg", "other/unlisted.jpg"]  # by path, by base name, or absent
    assert attribute_mask(*table, "Smiling", split).tolist() == [True, False, True, False]
    assert attribute_mask(*table, "Male", split).tolist() == [True, True, False, False]
    assert attribute_mask(*table, "Eyeglasses", split).dtype == torch.bool
    assert attribute_mask(*table, "Smiling", []).tolist() == []
    with pytest.raises(VaelabError, match="unknown attribute 'Bald'; the file has 3: Smiling, Male, Eyeglasses"):
        attribute_mask(*table, "Bald", split)
    with pytest.raises(VaelabError, match="none of the split's 2 files"):
        attribute_mask(*table, "Smiling", ["a.jpg", "b/c.jpg"])


def test_attribute_mask_on_a_folder_split(tmp_path):
    """The attribute file next to the images is ignored by the loader and matches its files field."""
    images = tmp_path / "celeba"
    names = flat_folder(images / "img_align_celeba", 30, suffix=".png")
    lines = [f"{n} {1 if i % 3 == 0 else -1}" for i, n in enumerate(names)]
    (images / "list_attr_celeba.txt").write_text(f"{len(names)}\nThird\n" + "\n".join(lines) + "\n")
    data = load(images, val_size=2)
    table = read_attribute_file(images / "list_attr_celeba.txt")
    for split in ("train", "val", "test"):
        mask = attribute_mask(*table, "Third", data.files[split])
        expected = [names.index(f.split("/")[-1]) % 3 == 0 for f in data.files[split]]
        assert mask.tolist() == expected


# --- the command line ------------------------------------------------------------------------------
from test_cli import assert_refused, vaelab_cli  # noqa: E402  (the user's view: a real subprocess)


def test_train_on_a_folder_through_the_cli(tmp_path):
    for i in range(40):
        write_image(tmp_path / "images" / f"{i:02d}.png", level(i), "RGB")
    out = tmp_path / "run"
    proc = vaelab_cli("train", "--data", f"folder:{tmp_path / 'images'}", "--model", "mlp", "--latent-dim", 2,
                      "--epochs", 1, "--batch-size", 8, "--val-size", 4, "--likelihood", "cbernoulli",
                      "--binarize", "none", "--device", "cpu", "--out", out, "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["data"]["name"] == "folder" and config["data"]["path"] == str(tmp_path / "images")
    assert config["model"]["shape"] == [3, SIDE, SIDE]

    proc = vaelab_cli("train", "--data", "folder:/nonexistent", "--model", "mlp", "--out", tmp_path / "run2",
                      "--quiet", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.splitlines() == ["vaelab train: error: image folder not found: /nonexistent"]
    assert not (tmp_path / "run2").exists()


def test_attribute_vector_from_a_celeba_style_file(tmp_path):
    """Bright images carry the attribute: adding its vector must brighten the decoded images."""
    images = tmp_path / "images"
    lines = []
    for i in range(120):
        bright = i % 2 == 0
        write_image(images / f"{i:03d}.png", 200 + i % 40 if bright else 20 + i % 40)
        lines.append(f"{i:03d}.png {'1' if bright else '-1'} {'1' if i % 3 == 0 else '-1'}")
    (images / "list_attr_celeba.txt").write_text(f"{len(lines)}\nBright Third\n" + "\n".join(lines) + "\n")
    run = tmp_path / "run"
    proc = vaelab_cli("train", "--data", f"folder:{images}", "--model", "mlp", "--latent-dim", 2, "--hidden", "32",
                      "--epochs", 30, "--batch-size", 16, "--lr", "0.01", "--val-size", 8, "--likelihood",
                      "cbernoulli", "--binarize", "none", "--device", "cpu", "--out", run, "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = vaelab_cli("attribute", run, "--attribute", "Bright", "--attributes-file", images / "list_attr_celeba.txt",
                      "--alpha", "-1,0,1", "--examples", "0,1", "--out", tmp_path / "a.png", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "vector from" in proc.stdout and "ink rises monotonically with alpha over 3 values: yes" not in proc.stdout
    inks = [float(v) for v in re.findall(r"^\s+-?\d\.\d\d\s+(\d\.\d{4})", proc.stdout, re.M)]
    assert len(inks) == 3 and inks[0] < inks[1] < inks[2]  # brighter with alpha
    proc = vaelab_cli("attribute", run, "--attribute", "Smiling", "--attributes-file",
                      images / "list_attr_celeba.txt", "--out", tmp_path / "b.png", cwd=tmp_path)
    assert_refused(proc, "unknown attribute 'Smiling'", "Bright, Third")


def test_the_latent_map_names_the_class_folders(tmp_path, monkeypatch):
    from vaelab.cli import latent as latent_cli
    from vaelab.cli import main

    for c, cls in enumerate(["cat", "dog"]):
        for i in range(20):
            write_image(tmp_path / "pets" / cls / f"{i}.png", level(c * 20 + i))
    run = tmp_path / "run"
    assert main(["train", "--data", f"folder:{tmp_path / 'pets'}", "--model", "mlp", "--hidden", "8",
                 "--latent-dim", "2", "--epochs", "1", "--batch-size", "4", "--val-size", "4", "--quiet",
                 "--out", str(run)]) == 0
    legends = []
    monkeypatch.setattr(latent_cli, "scatter_codes", lambda *a: legends.append(a[4]) or a[2])
    assert main(["map", str(run), "--split", "train", "--out", str(tmp_path / "map.png")]) == 0
    assert legends == [{0: "cat", 1: "dog"}]
