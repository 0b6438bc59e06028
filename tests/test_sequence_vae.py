"""The sequence VAE: GRU encoder/decoder maths, free bits, and a tiny model that learns molecules."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from vaelab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vaelab.data.molecules import molecule_splits
from vaelab.distributions import DiagonalGaussian
from vaelab.metrics.likelihood import evaluate
from vaelab.mol.chem import canonical
from vaelab.mol.model import MoleculeModel, reconstruction_accuracy
from vaelab.mol.optimize import fit_property_head, latent_ascent
from vaelab.data.tokens import Vocabulary
from vaelab.models import VAE
from vaelab.nets.gru import EOS, PAD, GRUDecoder, GRUEncoder
from vaelab.train.trainer import train

MOLECULES = [ln.strip() for ln in (Path(__file__).parent / "data" / "molecules.smi").read_text().splitlines()[1:]]


def _ids():
    return torch.tensor([[5, 6, 7, EOS, PAD, PAD], [3, EOS, PAD, PAD, PAD, PAD], [4, 4, 4, 4, 5, EOS]])


def test_encoder_reads_each_sequence_up_to_its_own_end():
    """Two one-way GRUs over padded rows == running each direction on the unpadded sequence alone."""
    torch.manual_seed(0)
    encoder = GRUEncoder(10, 8, 16, 6)
    x = _ids()
    out = encoder(x)
    for i, row in enumerate(x):
        seq = row[row != PAD][None]
        h_forward = encoder.forward_gru(encoder.embed(seq))[0][0, -1]
        h_backward = encoder.backward_gru(encoder.embed(seq.flip(1)))[0][0, -1]
        torch.testing.assert_close(out[i], encoder.out(torch.cat([h_forward, h_backward])), atol=1e-6, rtol=0)
    x2 = x.clone()
    x2[0, 4:] = 9  # what lies after EOS must not matter... unless it is not padding: then it is read
    assert not torch.allclose(encoder(x2)[0], out[0])


def test_log_prob_is_the_sum_of_next_token_log_probabilities_up_to_eos():
    torch.manual_seed(1)
    decoder = GRUDecoder(10, 8, 16, 4, max_len=6).eval()
    x, z = _ids(), torch.randn(3, 4)
    logits = decoder.logits(z, x)
    expected = []
    for i, row in enumerate(x):
        n = int((row != PAD).sum())  # tokens + EOS
        expected.append(torch.log_softmax(logits[i, :n], -1).gather(1, row[:n, None]).sum())
    torch.testing.assert_close(decoder(z).log_prob(x), torch.stack(expected))
    # leading sample axes: (K, B, L) latents against (B, T) sequences
    zk = torch.randn(5, 3, 4)
    lp = decoder(zk).log_prob(x)
    assert lp.shape == (5, 3)
    torch.testing.assert_close(lp[2], decoder(zk[2]).log_prob(x))


def test_greedy_decoding_is_deterministic_stops_at_eos_and_pads_after():
    torch.manual_seed(2)
    decoder = GRUDecoder(10, 8, 16, 4, max_len=12).eval()
    z = torch.randn(64, 4)
    a, b = decoder.generate(z, temperature=0), decoder.generate(z, temperature=0)
    assert torch.equal(a, b) and a.shape == (64, 12)
    for row in a.tolist():
        if EOS in row:
            assert all(t == PAD for t in row[row.index(EOS) + 1:])
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(decoder.generate(z, 1.0, g1), decoder.generate(z, 1.0, g2))


def test_free_bits_stop_charging_for_kl_below_the_floor_and_report_the_true_kl():
    config = ModelConfig(arch="mlp", shape=(4,), latent_dim=3, hidden=(8,), likelihood="gaussian", free_bits=0.5)
    model = VAE(config)
    x = torch.randn(16, 4)
    terms = model(x, generator=torch.Generator().manual_seed(0))
    qz = model.posterior(x)
    torch.testing.assert_close(terms.reg, qz.kl().mean())  # reported: the true KL
    kl_dims = qz.kl_per_dim().mean(0)
    floored = kl_dims.clamp(min=0.5).sum()
    torch.testing.assert_close(terms.loss - terms.recon, floored)
    assert terms.loss - terms.recon >= terms.reg - 1e-6


def _splits(representation: str, molecules=MOLECULES):
    texts = {"train": [canonical(s) for s in molecules[:160]], "val": [canonical(s) for s in molecules[160:180]],
             "test": [canonical(s) for s in molecules[180:]]}
    return molecule_splits(texts, representation, "smiles")


def _config(splits, epochs: int, **model) -> RunConfig:
    defaults = dict(latent_dim=8, hidden=(64,), embed_dim=32, word_dropout=0.0)
    return RunConfig(
        data=DataConfig(name="arrays", binarize="none"),
        model=ModelConfig(arch="gru", likelihood="categorical", shape=splits.shape,
                          vocab_size=len(Vocabulary.from_json(splits.vocabulary)), **{**defaults, **model}),
        train=TrainConfig(epochs=epochs, batch_size=16, lr=5e-3, seed=0, device="cpu"))


@pytest.fixture(scope="module")
def overfitted():
    """A tiny model trained on 8 molecules (train = val) until it reconstructs them. The test split
    holds all 200 test molecules, so that the vocabulary and maximum length cover every one."""
    eight = [canonical(s) for s in MOLECULES[:8]]
    few = molecule_splits({"train": eight * 8, "val": eight, "test": [canonical(s) for s in MOLECULES]},
                          "selfies", "smiles")
    # Free bits keep z in use: without them this model collapses to a language model of the eight
    # (recon ~ log 8 nats, reconstruction accuracy ~0.4); with 1 nat per dimension it gets all eight.
    config = _config(few, 40, latent_dim=8, hidden=(128,), free_bits=1.0)
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, lr=1e-2))
    model = train(config, few, progress=False)
    return MoleculeModel(model.network, model.config, Vocabulary.from_json(few.vocabulary)), few


def test_a_tiny_model_overfits_a_handful_of_molecules_and_reconstructs_them(overfitted):
    mvae, few = overfitted
    molecules = few.texts["val"]
    assert reconstruction_accuracy(mvae, molecules) >= 0.875
    assert all(canonical(s) is not None for s in mvae.sample(20, generator=torch.Generator().manual_seed(0)))


def test_iwae_bound_is_no_worse_than_the_elbo_for_sequences(overfitted):
    mvae, few = overfitted
    r = evaluate(mvae, few, "val", iwae_k=20)
    assert r["nll_iwae"] <= r["elbo"] + 1e-6
    assert r["bits_per_dim"] is None and r["active_units"] >= 1


def test_latent_ascent_raises_the_predicted_property(overfitted):
    mvae, few = overfitted
    head, info = fit_property_head(mvae, MOLECULES[:100], "logp")
    assert info["molecules"] > 50
    seeds = few.texts["val"][:4]
    start = head(mvae.encode(seeds)[0]).detach()
    candidates = latent_ascent(mvae, head, seeds, steps=20, decode_every=10, lr=0.1)
    assert len(candidates) == 8
    final = torch.tensor([c["predicted"] for c in candidates[4:]])
    assert (final > start).all()


def test_word_dropout_training_resumes_to_the_same_weights(tmp_path):
    splits = _splits("smiles")
    straight = train(_config(splits, 2, word_dropout=0.3), splits, tmp_path / "a", progress=False)
    train(_config(splits, 1, word_dropout=0.3), splits, tmp_path / "b", progress=False)
    resumed = train(_config(splits, 2, word_dropout=0.3), splits, tmp_path / "b", resume=True, progress=False)
    for key, value in straight.network.state_dict().items():
        torch.testing.assert_close(resumed.network.state_dict()[key], value, rtol=0, atol=1e-6)
    assert json.loads((tmp_path / "a" / "vocab.json").read_text())["representation"] == "smiles"


def test_posterior_of_a_sequence_model_is_diagonal_gaussian():
    splits = _splits("smiles")
    model = VAE(_config(splits, 1).model)
    qz = model.posterior(splits.train[:5])
    assert isinstance(qz, DiagonalGaussian) and qz.mu.shape == (5, 8) and qz.logvar.shape == (5, 8)
