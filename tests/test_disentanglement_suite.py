"""The disentanglement_lib set (BetaVAE score, SAP, modularity, explicitness, IRS, DCI from boosted trees)
on synthetic codes whose answer the definitions fix, as library functions and through `vaelab disentangle`.

Four codes of the same factors: a copy (each factor in a dimension of its own), a rotation of it
(every dimension mixes every factor), pure noise, and a split (factor 0 cut into a coarse and a
fine part, each in its own dimension). The command sees them through a stand-in run whose encoder
returns the code and whose data are the factors themselves.
"""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import tiny_torch

from vaelab.cli import main
from vaelab.data.splits import Splits
from vaelab.errors import InputError
from vaelab.metrics.disentanglement import dci, mutual_information_gap
from vaelab.metrics.disentanglement_suite import beta_vae_score, explicitness, irs, modularity, sap_score

pytestmark = pytest.mark.usefixtures("tiny_torch_defaults")

SIZES = (6, 3, 4, 5)  # factor 0 has 6 values: the split code cuts it into 3 coarse x 2 fine
N = 1000
VOTES = {"train_votes": 1000, "eval_votes": 500}
CHANCE = 1 / len(SIZES)  # the BetaVAE score's, naming one of the factors


def _factors(n: int = N, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(s, size=n) for s in SIZES], -1)


def _codes(factors: np.ndarray) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    copy = factors / (np.array(SIZES) - 1) + 0.01 * rng.standard_normal(factors.shape)
    rotation = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]]) / 2  # each axis to all four
    coarse, fine = factors[:, :1] // 2 / 2, factors[:, :1] % 2  # 0, 0.5, 1 and 0, 1: together factor 0
    split = np.concatenate([coarse, fine, copy[:, 1:]], 1) + 0.01 * rng.standard_normal((len(factors), 5))
    return {"copy": copy, "rotated": copy @ rotation, "noise": rng.standard_normal(factors.shape), "split": split}


@pytest.fixture(scope="module")
def codes():
    factors = _factors()
    return factors, _codes(factors)


@pytest.fixture(scope="module")
def scores(codes):
    """Every metric of every code, computed once by the library (DCI: from the command's reports)."""
    factors, c = codes
    return {name: {"mig": mutual_information_gap(code, factors), "beta_vae": beta_vae_score(code, factors, **VOTES),
                   "sap": sap_score(code, factors), "modularity": modularity(code, factors),
                   "explicitness": explicitness(code, factors), "irs": irs(code, factors)}
            for name, code in c.items()}


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """`vaelab disentangle --json` of every code, through a stand-in run (see `factor_run`)."""
    out = tmp_path_factory.mktemp("reports")
    found = {}
    with pytest.MonkeyPatch.context() as patch, tiny_torch():
        for name in ("copy", "rotated", "noise", "split"):
            factor_run(patch, lambda f, name=name: _codes(f)[name])
            assert main(["disentangle", "stand-in", "--json", "--out", str(out / f"{name}.json")]) == 0
            found[name] = json.loads((out / f"{name}.json").read_text())
    return found


def test_a_copy_of_the_factors_scores_at_or_near_each_maximum(scores, reports):
    s, r = scores["copy"], reports["copy"]
    assert s["beta_vae"]["beta_vae_score"] > 0.98
    # SAP per factor: thresholds on the factor's own dimension are exact (balanced accuracy 1); the
    # next best dimension is at chance, 1 / values: the gap's ceiling is 1 - 1 / values.
    for gap, values in zip(s["sap"]["per_factor"], SIZES):
        assert 1 - 1 / values - 0.1 < gap <= 1 - 1 / values + 0.05
    assert s["modularity"]["modularity"] > 0.97
    assert s["explicitness"]["explicitness"] > 0.9
    assert s["irs"]["irs"] > 0.9 and s["irs"]["active_dims"] == len(SIZES)
    assert r["dci_model"] == "gbt" and r["dci_disentanglement"] > 0.9 and r["dci_completeness"] > 0.9
    assert r["dci_informativeness"] > 0.97
    assert (np.array(r["dci_importance"]).argmax(0) == np.arange(len(SIZES))).all()  # factor j read from code j


def test_a_rotation_loses_what_reads_single_dimensions_and_keeps_what_reads_the_whole_code(scores, reports):
    copy, rotated = scores["copy"], scores["rotated"]
    assert rotated["sap"]["sap"] < 0.15  # no single dimension predicts a factor much better than another
    assert rotated["modularity"]["modularity"] < copy["modularity"]["modularity"] - 0.15
    assert reports["rotated"]["dci_disentanglement"] < reports["copy"]["dci_disentanglement"] - 0.4
    assert rotated["irs"]["irs"] < copy["irs"]["irs"] - 0.3  # fixing one factor leaves each dimension moving
    assert rotated["mig"]["mig"] < copy["mig"]["mig"] - 0.5
    # A linear classifier on the whole code (explicitness) does not see a rotation. The BetaVAE
    # score's reads the mean |difference| of each dimension: with every axis an equal mix of all
    # four factors, which one was held fixed still shows, but far less clearly than in the copy.
    assert rotated["explicitness"]["explicitness"] == pytest.approx(copy["explicitness"]["explicitness"], abs=0.03)
    assert CHANCE + 0.1 < rotated["beta_vae"]["beta_vae_score"] < copy["beta_vae"]["beta_vae_score"] - 0.3


def test_noise_scores_at_chance_or_the_floor(scores, reports):
    s, r = scores["noise"], reports["noise"]
    assert s["beta_vae"]["beta_vae_score"] < CHANCE + 0.15
    assert s["sap"]["sap"] < 0.05 and s["mig"]["mig"] < 0.05
    assert s["explicitness"]["explicitness"] == pytest.approx(0.5, abs=0.06)  # AUC of a guess
    assert r["dci_disentanglement"] < 0.1 and r["dci_informativeness"] < 0.45
    # IRS of noise is not 0: a group's 0.99 quantile of |z - mean| (about 2.6 std) is compared with the
    # largest deviation over all examples (about 3.3 std at this N).
    assert s["irs"]["irs"] < 0.45 < scores["copy"]["irs"]["irs"] - 0.4
    # Modularity does not ask how much a dimension knows: noise's few (biased) nats are spread over
    # the factors unevenly, so it sits in the middle, below a copy's.
    assert s["modularity"]["modularity"] < scores["copy"]["modularity"]["modularity"] - 0.2


def test_a_factor_split_over_two_dimensions_loses_its_gaps_and_stays_modular(scores, reports):
    copy, split = scores["copy"], scores["split"]
    assert split["sap"]["per_factor"][0] < copy["sap"]["per_factor"][0] - 0.4
    assert split["mig"]["per_factor"][0] < copy["mig"]["per_factor"][0] - 0.5
    np.testing.assert_allclose(split["sap"]["per_factor"][1:], copy["sap"]["per_factor"][1:], atol=0.05)
    assert split["modularity"]["modularity"] > 0.95  # each dimension still knows one factor only
    assert reports["split"]["dci_disentanglement"] > 0.9  # the same from the importances' side
    completeness = reports["split"]["dci_completeness_per_factor"][0]
    assert completeness < reports["copy"]["dci_completeness_per_factor"][0] - 0.3
    assert split["irs"]["irs"] > 0.85  # fixing factor 0 fixes both of its dimensions


def test_continuous_sap_reads_the_r_squared_of_a_line(codes):
    factors, c = codes
    flags = [True] * len(SIZES)
    copy = sap_score(c["copy"], factors, continuous=flags)
    assert copy["sap"] > 0.98 and copy["continuous"] == flags  # R^2 1 on its dimension, 0 on the others
    assert sap_score(c["rotated"], factors, continuous=flags)["sap"] < 0.6


FOREST_AT_BDEBD5D = (0.36224048967868333, 0.3751997186909178, 0.8479166666666667)


def test_the_forest_dci_is_the_one_vaelab_published():
    """--dci-model forest reproduces the earlier tables: these are the figures of the code before the
    gradient-boosted default (commit bdebd5d's `dci`) on this input."""
    factors = _factors(600, seed=5)
    c = _codes(factors)
    code = c["copy"] + 0.5 * c["rotated"]  # partly mixed: every figure in the middle of its range
    forest = dci(code, factors, seed=3, model="forest")
    assert (forest["disentanglement"], forest["completeness"], forest["informativeness"]) == pytest.approx(
        FOREST_AT_BDEBD5D, abs=1e-9)


def test_bad_input_is_refused(codes):
    factors, c = codes
    with pytest.raises(InputError, match="same N"):
        sap_score(c["copy"][:10], factors)
    with pytest.raises(InputError, match="one flag per factor"):
        sap_score(c["copy"], factors, continuous=[True])
    with pytest.raises(InputError, match="dci_model"):
        dci(c["copy"], factors, model="svm")
    with pytest.raises(InputError, match="two or more factors"):
        beta_vae_score(c["copy"], factors[:, :1])
    with pytest.raises(InputError, match="NaN"):
        irs(np.full(factors.shape, np.nan), factors)
    with pytest.raises(InputError, match="too few"):
        explicitness(c["copy"][:2], factors[:2])


# --- through `vaelab disentangle` -------------------------------------------------------------------------
class CodeEncoder:
    """A stand-in model: the data are the factors, and the code is a fixed function of them."""

    def __init__(self, transform):
        self.transform = transform

    def encode_all(self, x: torch.Tensor):
        mu = torch.from_numpy(self.transform(x.numpy().astype(np.int64)))
        return mu, torch.full_like(mu, 2 * np.log(0.01))  # narrow posteriors


def factor_run(monkeypatch, transform):
    """`vaelab disentangle` on a stand-in run whose data are `_factors()` and whose code is `transform` of them."""
    factors = _factors()
    x = torch.from_numpy(factors).float()
    splits = Splits(train=x, val=x, test=x, name="factors", factors={s: torch.from_numpy(factors)
                                                                     for s in ("train", "val", "test")},
                    factor_names=tuple(f"f{j}" for j in range(len(SIZES))))
    fake = SimpleNamespace(path="stand-in", model=lambda: CodeEncoder(transform), data=lambda name=None: splits)
    monkeypatch.setattr("vaelab.cli.factors.Run.open", lambda path: fake)


def disentangle(capsys, *args: str) -> dict:
    assert main(["disentangle", "stand-in", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_command_reports_the_librarys_numbers_under_stable_keys(reports, codes):
    factors, c = codes
    copy, split = reports["copy"], reports["split"]
    assert copy["n"] == N and copy["factors"] == ["f0", "f1", "f2", "f3"]
    for key in ("mig", "mig_posterior", "factor_vae_score", "beta_vae_score", "dci_disentanglement", "dci_completeness",
                "dci_informativeness", "sap_score", "modularity", "explicitness", "irs"):
        assert 0 <= copy[key] <= 1, key
    for key in ("sap_per_factor", "dci_completeness_per_factor", "dci_informativeness_per_factor",
                "explicitness_per_factor", "mig_per_factor"):
        assert len(copy[key]) == len(SIZES), key
    for key in ("modularity_per_dimension", "irs_per_dimension", "dci_disentanglement_per_dimension"):
        assert len(copy[key]) == len(SIZES) and len(split[key]) == len(SIZES) + 1, key
    assert np.array(copy["sap_matrix"]).shape == (len(SIZES), len(SIZES))
    for name, report in reports.items():  # all N examples, seed 0: the library's figures exactly
        assert report["sap_score"] == sap_score(c[name], factors)["sap"], name
        assert report["irs"] == irs(c[name], factors)["irs"], name
        assert report["modularity"] == modularity(c[name], factors)["modularity"], name
        assert report["explicitness"] == explicitness(c[name], factors)["explicitness"], name
    assert copy["beta_vae_score"] == beta_vae_score(c["copy"], factors)["beta_vae_score"]
    d = dci(c["copy"], factors)
    assert copy["dci_disentanglement"] == d["disentanglement"] and copy["dci_importance"] == d["importance"]


def test_the_forest_option_and_the_table(monkeypatch, capsys, codes, reports):
    from vaelab.cli.factors import table

    factors, _ = codes
    factor_run(monkeypatch, lambda f: _codes(f)["copy"])
    forest = disentangle(capsys, "--dci-model", "forest", "-n", "400")
    keep = np.sort(np.random.default_rng(0).choice(N, 400, replace=False))  # the command's example subset
    expected = dci(_codes(factors[keep])["copy"], factors[keep], seed=0, model="forest")  # what it encoded
    assert forest["dci_model"] == "forest" and forest["dci_disentanglement"] == expected["disentanglement"]
    assert forest["dci_importance"] == expected["importance"]
    assert "DCI disentanglement      " + f"{forest['dci_disentanglement']:.3f}   (random forest)" in table(forest)
    text = table(reports["copy"])  # what the command prints without --json
    for line in ("BetaVAE score            1.000", "DCI disentanglement      ", "(gradient-boosted trees)",
                 "SAP                      0.7", "modularity               1.000", "explicitness             0.9",
                 "IRS                      0.9", "SAP per factor           f0 0.8", "explicitness per factor  f0 "):
        assert line in text, line


def test_refusals_are_one_line_and_exit_2(monkeypatch, capsys, tmp_path):
    factor_run(monkeypatch, lambda f: f.astype(float))
    with pytest.raises(SystemExit) as stop:
        main(["disentangle", "stand-in", "--dci-model", "svm"])
    assert stop.value.code == 2
    assert "invalid choice: 'svm'" in _one_line(capsys)
    # a run whose data has no known factors
    x = torch.zeros(20, 4)
    monkeypatch.setattr("vaelab.cli.factors.Run.open", lambda path: SimpleNamespace(
        path="stand-in", model=lambda: CodeEncoder(lambda f: f.astype(float)),
        data=lambda name=None: Splits(train=x, val=x, test=x, name="tiny")))
    assert main(["disentangle", "stand-in"]) == 2
    assert "the tiny data has no known factors" in _one_line(capsys)


def _one_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == "" and len(lines) == 1 and lines[0].startswith("vaelab disentangle"), captured.err
    return lines[0]


def test_a_dsprites_run_end_to_end_and_a_factor_file_of_the_wrong_shape(tmp_path, capsys):
    from test_factors import DSPRITES_TRAIN, _fake_original

    from vaelab.run import Run

    run = tmp_path / "sprites"
    assert main(["train", *DSPRITES_TRAIN, "--out", str(run)]) == 0  # 600 sprites: 60 test examples, 4-D code
    capsys.readouterr()
    assert main(["disentangle", str(run), "--json", "--dci-model", "forest"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 60 and report["dci_model"] == "forest"
    for key in ("beta_vae_score", "sap_score", "modularity", "explicitness", "irs", "dci_disentanglement"):
        assert 0 <= report[key] <= 1, key
    assert len(report["sap_per_factor"]) == 5 and len(report["irs_per_dimension"]) == 4
    # the random-forest DCI of the command is the library's on the run's own codes (vaelab's earlier DCI)
    x, _ = Run.open(run).data().split("test")
    mu, _ = Run.open(run).model().encode_all(x)
    forest = dci(mu.numpy(), Run.open(run).data().factors["test"].numpy(), seed=0, model="forest")
    assert report["dci_disentanglement"] == forest["disentanglement"]
    assert report["dci_informativeness"] == forest["informativeness"]
    # a factor file of the wrong shape: one line, exit 2, before any measuring
    _fake_original(tmp_path / "bad.npz", latents_classes=np.zeros((240, 5), int))
    assert main(["disentangle", str(run), "--data", f"dsprites:{tmp_path / 'bad.npz'}"]) == 2
    assert "'latents_classes' must have shape (240, 6)" in _one_line(capsys)
