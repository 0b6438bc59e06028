"""Bits-back compression: decompress(compress(x)) == x bit for bit, on hundreds of images and on the
edge cases, at about the model's -ELBO; files from another model, damaged or foreign files and
inputs the run cannot code are refused in one line, with nothing written."""
from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import torch

import vaelab
from vaelab.bitsback import coder
from vaelab.bitsback.container import pack, unpack
from vaelab.cli import main
from vaelab.data.binarize import fixed_binarization
from vaelab.data.splits import Splits
from vaelab.errors import InputError, ResourceError
from vaelab.io import save_tensors
from vaelab.metrics.likelihood import evaluate

from conftest import TINY_TRAIN_ARGS

pytest.importorskip("constriction")


@pytest.fixture(scope="module")
def binary_images(tiny_run) -> np.ndarray:
    """350 binary 8x8 images: the tiny run's training and test images, binarized once."""
    splits = vaelab.Run.open(tiny_run).data()
    x = torch.cat([splits.split("train")[0], splits.split("test")[0]])
    return fixed_binarization(x).numpy().astype(np.uint8)


@pytest.fixture(scope="module")
def byte_run(tiny_idx, tmp_path_factory):
    out = tmp_path_factory.mktemp("bytes") / "run"
    args = [a for a in TINY_TRAIN_ARGS if a not in ("--likelihood", "bernoulli")]
    assert main(["train", "--data", f"idx:{tiny_idx}", *args, "--likelihood", "discretized-logistic",
                 "--binarize", "none", "--out", str(out)]) == 0
    return out


def test_the_batches_grow_with_what_the_stack_can_lend_and_cover_every_image(tiny_run, binary_images):
    header, _ = unpack(vaelab.compress(tiny_run, binary_images), "data")
    batches = header["batches"]
    assert batches[0] == 1 and sum(batches) == len(binary_images) and max(batches) <= coder.BATCH
    assert batches[:3] == sorted(batches[:3]) and len(batches) < len(binary_images) / 10
    with pytest.raises(ResourceError, match="batch sizes do not add up"):
        coder.check_plan([1, 2], len(binary_images))


def test_hundreds_of_binary_images_come_back_bit_for_bit_at_about_the_elbo(tiny_run, binary_images):
    data = vaelab.compress(tiny_run, binary_images)
    back = vaelab.decompress(tiny_run, data)
    assert back.dtype == np.uint8 and np.array_equal(back, binary_images)
    assert vaelab.compress(tiny_run, binary_images) == data  # the same bytes every time
    # the code costs the negative ELBO: here the run's own estimate of it on the same images
    model = vaelab.load(tiny_run)
    elbo_bits = _elbo_bits(model, binary_images)
    _, words = unpack(data, "data")  # the code itself: less the header and the seed words that come back
    code_bits = 32 * (len(words) - len(coder.seed_words(model.latent_dim)))
    assert code_bits / len(binary_images) == pytest.approx(elbo_bits, rel=0.015)
    assert 8 * len(data) / len(binary_images) < 1.2 * elbo_bits  # the whole file: its ~350-byte header weighs here


def _elbo_bits(model, images: np.ndarray) -> float:
    """The mean negative ELBO of binary images, in bits, from the run's own evaluation."""
    x = torch.from_numpy(images).float()
    splits = Splits(train=x[:1], val=x[:0], test=x)
    return evaluate(model, splits, "test", iwae_k=1, n=len(x), seed=0)["elbo"] / math.log(2)


def test_the_posterior_is_decoded_on_its_window_and_given_back_exactly(tiny_run):
    """Step 1 samples q(z|x) from the stack's bits: the samples follow q (a posterior over the whole grid
    would decode some 1 in 3,000 of them anywhere on it), and putting them back restores the stack."""
    import constriction

    bits = coder.BitsBack(vaelab.Run.open(tiny_run).network())
    words = np.random.default_rng(3).integers(0, 2**32, 200_000, dtype=np.uint32)
    edge = coder.LATENT_RANGE
    mu = np.concatenate([np.full(200_000, 0.3), [edge, -edge, edge - 0.4, 0.0]])  # windows at the grid's edges
    sd = np.concatenate([np.full(200_000, 5.0), [100.0, 3.0, 0.01, 1e4]])
    stack = constriction.stream.stack.AnsCoder(words)
    z = bits._take(stack, mu, sd)
    assert np.abs(z).max() <= edge and np.abs(z[:200_000] - 0.3).max() < 8 * 5.0
    assert z[:200_000].std() == pytest.approx(math.sqrt(5.0**2 + 1 / 12), rel=0.02)
    bits._give_back(stack, z, mu, sd)
    assert np.array_equal(stack.get_compressed(), words)


@pytest.mark.parametrize("case", ["one", "black", "white", "odd-count"])
def test_edge_cases_come_back(tiny_run, binary_images, case):
    images = {"one": binary_images[:1], "black": np.zeros((3, 1, 8, 8), np.uint8),
              "white": np.ones((3, 1, 8, 8), np.uint8), "odd-count": binary_images[:37]}[case]
    assert np.array_equal(vaelab.decompress(tiny_run, vaelab.compress(tiny_run, images)), images)


def test_8_bit_images_come_back_under_a_discretized_logistic(byte_run, tiny_idx_arrays):
    images = tiny_idx_arrays[1]["test_images"][:, None][:150]  # (150, 1, 8, 8) uint8 0..255
    data = vaelab.compress(byte_run, images)
    assert np.array_equal(vaelab.decompress(byte_run, data), images)
    assert len(data) < images.size  # fewer than 8 bits a pixel


@pytest.mark.parametrize("which", ["binary", "bytes"])
def test_the_importance_weights_use_the_runs_own_likelihood(tiny_run, byte_run, binary_images, tiny_idx_arrays, which):
    run = tiny_run if which == "binary" else byte_run
    images = binary_images[:20] if which == "binary" else tiny_idx_arrays[1]["test_images"][:20, None]
    network = vaelab.Run.open(run).network().eval()
    bits = coder.BitsBack(network)
    with torch.no_grad():
        decoded = network.decoder(torch.randn(len(images), network.config.latent_dim), None)
        own = network.likelihood(decoded).log_prob(torch.from_numpy(images / (bits.pixels.levels - 1)).float())
    assert bits.pixels.log_likelihood(images, decoded) == pytest.approx(own.double().numpy(), rel=1e-4)  # float32 sums


def test_importance_samples_come_back_and_code_about_the_iwae_bound(tiny_run, binary_images):
    """Monte Carlo bits-back (Ruan et al. 2021): K draws per image, the chosen one by its weight."""
    data = vaelab.compress(tiny_run, binary_images, samples=8)
    assert np.array_equal(vaelab.decompress(tiny_run, data), binary_images)
    header, words = unpack(data, "data")
    assert header["samples"] == 8
    model = vaelab.load(tiny_run)
    x = torch.from_numpy(binary_images).float()
    iwae = evaluate(model, Splits(train=x[:1], val=x[:0], test=x), "test", iwae_k=8, n=len(x), seed=0)
    code_bits = 32 * (len(words) - len(coder.seed_words(model.latent_dim))) / len(binary_images)
    assert code_bits == pytest.approx(iwae["nll_iwae"] / math.log(2), rel=0.03)
    assert code_bits < iwae["elbo"] / math.log(2)  # below what one draw per image approaches
    for edge in (binary_images[:1], binary_images[:37]):
        assert np.array_equal(vaelab.decompress(tiny_run, vaelab.compress(tiny_run, edge, samples=3)), edge)


def test_8_bit_images_come_back_with_importance_samples(byte_run, tiny_idx_arrays):
    images = tiny_idx_arrays[1]["test_images"][:, None][:40]
    assert np.array_equal(vaelab.decompress(byte_run, vaelab.compress(byte_run, images, samples=4)), images)


@pytest.mark.parametrize("edit", ["samples", "batches"])
def test_a_header_that_does_not_match_its_code_is_refused_not_a_crash(tiny_run, binary_images, edit):
    """Decoded with other settings than it was coded with, a window or an index meets a symbol its model
    cannot hold (constriction's KeyError): that is a wrong decoding, refused like a damaged file."""
    header, words = unpack(vaelab.compress(tiny_run, binary_images[:60], samples=8), "data")
    assert len(header["batches"]) > 2
    changed = {"samples": 4} if edit == "samples" else {"batches": header["batches"][::-1]}
    with pytest.raises(ResourceError, match="did not decode to where it began"):
        vaelab.decompress(tiny_run, pack({**header, **changed}, words))


@pytest.mark.parametrize("samples", [1, 3])
def test_a_model_that_computes_other_numbers_is_refused_not_a_crash(tiny_run, binary_images, monkeypatch, samples):
    """Another machine's arithmetic moves q(z|x): a latent then falls outside its window, a symbol the
    model cannot hold (constriction's KeyError), refused in one line as a wrong decoding."""
    data = vaelab.compress(tiny_run, binary_images[:40], samples=samples)
    posterior = coder.BitsBack._posterior

    def moved(self, x):
        mu, sd = posterior(self, x)
        return mu + 300, np.full_like(sd, 0.5)  # narrow windows far from where the latents were coded

    monkeypatch.setattr(coder.BitsBack, "_posterior", moved)
    with pytest.raises(ResourceError, match="did not decode to where it began"):
        vaelab.decompress(tiny_run, data)


@pytest.mark.parametrize("samples", [0, 257, 2.0, True])
def test_a_sample_count_out_of_range_is_refused(tiny_run, binary_images, samples):
    with pytest.raises(InputError, match="samples must be a whole number"):
        vaelab.compress(tiny_run, binary_images[:2], samples=samples)


def test_values_are_taken_as_files_and_arrays_hold_them(tiny_run, binary_images):
    again = vaelab.decompress(tiny_run, vaelab.compress(tiny_run, binary_images[:5] * 255))  # 0/255, as PNGs
    assert np.array_equal(again, binary_images[:5])
    assert np.array_equal(vaelab.decompress(tiny_run, vaelab.compress(tiny_run, binary_images[0].astype(bool))),
                          binary_images[:1])


@pytest.mark.parametrize("images,fragment", [
    (np.full((2, 1, 8, 8), 0.5), "binary pixels (Bernoulli): images must hold only 0 and 1"),
    (np.full((2, 1, 8, 8), 7, np.uint8), "images must hold only 0 and 1"),
    (np.zeros((2, 1, 9, 9), np.uint8), "expected images of shape (1, 8, 8)"),
    (np.zeros((0, 1, 8, 8), np.uint8), "expected images of shape (1, 8, 8)"),
])
def test_images_the_run_cannot_code_are_refused(tiny_run, images, fragment):
    with pytest.raises(InputError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        vaelab.compress(tiny_run, images)


def test_damaged_foreign_and_other_model_files_are_refused(tiny_run, byte_run, binary_images, tmp_path):
    data = vaelab.compress(tiny_run, binary_images[:50])
    for damaged, fragment in [(data[:-3], "truncated or damaged"), (data[:20], "truncated or damaged"),
                              (b"GIF89a" + data[6:], "not a file vaelab compress wrote"),
                              (data[:-4] + bytes(4), "checksum")]:
        with pytest.raises(ResourceError, match=fragment):
            vaelab.decompress(tiny_run, damaged)
    other = shutil.copytree(tiny_run, tmp_path / "other")
    weights = vaelab.Run.open(other).weights_file()
    state = vaelab.load(other).network.state_dict()
    name = next(iter(state))
    state[name] = state[name] + 1e-3  # one weight moved: another model, though of the same shape
    save_tensors(state, weights)
    with pytest.raises(ResourceError, match="compressed with another model"):
        vaelab.decompress(other, data)
    header, words = unpack(data, "data")
    with pytest.raises(ResourceError, match="sample count"):
        vaelab.decompress(tiny_run, pack({**header, "samples": 0}, words))


def test_a_continuous_likelihood_cannot_code_losslessly(tiny_idx, tmp_path):
    out = tmp_path / "gauss"
    args = [a for a in TINY_TRAIN_ARGS if a not in ("--likelihood", "bernoulli")]
    assert main(["train", "--data", f"idx:{tiny_idx}", *args, "--likelihood", "gaussian-learned-pixel",
                 "--binarize", "none", "--out", str(out)]) == 0
    with pytest.raises(InputError, match="density over continuous values"):
        vaelab.compress(out, np.zeros((1, 1, 8, 8), np.uint8))


def refused(capsys, *args) -> str:
    assert main([str(a) for a in args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def test_the_commands_round_trip_a_split_and_refuse_cleanly(tiny_run, tmp_path, capsys):
    packed, back = tmp_path / "test.vbb", tmp_path / "back"
    assert main(["compress", str(tiny_run), "--split", "test", "--out", str(packed)]) == 0
    assert "bits per dimension" in capsys.readouterr().out
    assert main(["decompress", str(tiny_run), str(packed), "--out", str(back), "--png"]) == 0
    splits = vaelab.Run.open(tiny_run).data()
    expected = fixed_binarization(splits.split("test")[0]).numpy().astype(np.uint8)
    assert np.array_equal(np.load(back / "images.npy"), expected)
    assert len(list(back.glob("*.png"))) == len(expected)
    # refusals: one line, nothing written
    assert "already exists; add --force" in refused(capsys, "decompress", tiny_run, packed, "--out", back)
    (tmp_path / "junk.vbb").write_bytes(b"junk")
    assert "not a file vaelab compress wrote" in refused(capsys, "decompress", tiny_run, tmp_path / "junk.vbb",
                                                         "--out", tmp_path / "junk")
    assert not (tmp_path / "junk").exists()
    assert "INPUT" in refused(capsys, "compress", tiny_run, "--out", tmp_path / "x.vbb")
    assert not (tmp_path / "x.vbb").exists()
    np.save(tmp_path / "grey.npy", np.full((2, 1, 8, 8), 0.5))
    assert "only 0 and 1" in refused(capsys, "compress", tiny_run, tmp_path / "grey.npy", "--out", tmp_path / "g.vbb")
    assert "--samples must lie in" in refused(capsys, "compress", tiny_run, "--split", "test", "--samples", "0",
                                              "--out", tmp_path / "s.vbb")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["back", "grey.npy", "junk.vbb", "test.vbb"]


def smoke_compress(tiny_run, tiny_idx, tmp_path, capsys):
    assert main(["compress", str(tiny_run), "--split", "test", "-n", "5", "--out", str(tmp_path / "x.vbb")]) == 0
    assert "wrote" in capsys.readouterr().out


def smoke_decompress(tiny_run, tiny_idx, tmp_path, capsys):
    smoke_compress(tiny_run, tiny_idx, tmp_path, capsys)
    assert main(["decompress", str(tiny_run), str(tmp_path / "x.vbb"), "--out", str(tmp_path / "back")]) == 0
    assert np.load(tmp_path / "back" / "images.npy").shape == (5, 1, 8, 8)


COMPRESS_SMOKE = {"compress": smoke_compress, "decompress": smoke_decompress}


def test_force_replaces_only_a_folder_decompress_wrote(tiny_run, binary_images, tmp_path, capsys):
    packed, out = tmp_path / "x.vbb", tmp_path / "out"
    packed.write_bytes(vaelab.compress(tiny_run, binary_images[:3]))
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    line = refused(capsys, "decompress", tiny_run, packed, "--out", out, "--force")
    assert "holds files decompress did not write" in line and (out / "notes.txt").read_text() == "mine"
    (out / "notes.txt").unlink()
    assert main(["decompress", str(tiny_run), str(packed), "--out", str(out), "--force"]) == 0
    assert np.array_equal(np.load(out / "images.npy"), binary_images[:3])
