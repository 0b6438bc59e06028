"""RDKit wrappers: canonical forms, validity, properties, diversity and the generation metrics."""
from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("rdkit")

from vaelab.errors import InputError
from vaelab.mol.chem import (
    PROPERTIES,
    canonical,
    canonical_many,
    generation_metrics,
    internal_diversity,
    is_valid,
    morgan_fingerprints,
    property_values,
)

BAD = ["C1CC", "c1ccc", "C(C", "Xx", "", "C%", "   ", "CC O"]
DIVERSE = ["CCO", "c1ccccc1", "CC(=O)Oc1ccccc1C(=O)O", "C1CCNCC1", "O=C=O", "ClC(Cl)(Cl)Cl",
           "CN1C=NC2=C1C(=O)N(C(=O)N2C)C", "NCC(=O)O"]


def test_canonical_kekule_and_aromatic_agree():
    assert canonical("C1=CC=CC=C1") == canonical("c1ccccc1") == "c1ccccc1"
    assert canonical("OCC") == canonical("CCO")
    assert canonical("  CCO ") == "CCO"  # surrounding whitespace is not part of the molecule


def test_canonical_keeps_stereo():
    assert canonical("C[C@H](N)C(=O)O") != canonical("C[C@@H](N)C(=O)O")
    assert "@" in canonical("C[C@H](N)C(=O)O")


@pytest.mark.parametrize("smiles", BAD)
def test_bad_smiles_are_invalid(smiles):
    assert not is_valid(smiles)
    assert canonical(smiles) is None


def test_canonical_many_keeps_order_and_gaps():
    assert canonical_many(["OCC", "C(C", "c1ccccc1"]) == ["CCO", None, "c1ccccc1"]


def test_non_string_is_an_input_error():
    with pytest.raises(InputError):
        is_valid(None)


def test_property_values():
    logp = property_values(["CCO", "c1ccccc1", "C(C"], "logp")
    assert logp.dtype == np.float64 and logp.shape == (3,)
    assert logp[1] == pytest.approx(1.69, abs=0.01)  # Crippen logP of benzene: 1.6866
    assert logp[0] == pytest.approx(-0.0014, abs=0.01)  # ethanol
    assert math.isnan(logp[2])
    qed = property_values(["CCO", "c1ccccc1", "Xx"], "qed")
    assert 0 < qed[0] < 1 and 0 < qed[1] < 1 and math.isnan(qed[2])
    assert set(PROPERTIES) == {"qed", "logp"}


def test_unknown_property_names_the_choices():
    with pytest.raises(InputError, match="logp.*qed"):
        property_values(["CCO"], "mass")


def test_morgan_fingerprints_skip_invalid():
    fps = morgan_fingerprints(["CCO", "C(C", "c1ccccc1"], radius=2, n_bits=512)
    assert len(fps) == 2 and fps[0].GetNumBits() == 512
    assert fps[0].GetNumOnBits() > 0


def test_internal_diversity():
    assert internal_diversity(["c1ccccc1"] * 5) == pytest.approx(0.0)
    assert internal_diversity(["CCO", "OCC"]) == pytest.approx(0.0)  # same molecule, two spellings
    d1, d2 = internal_diversity(DIVERSE), internal_diversity(DIVERSE, p=2)
    assert d1 > 0.5 and 0 < d2 < 1
    assert d2 <= d1 + 1e-12  # the power mean with p = 2 weighs similar pairs up: IntDiv_2 <= IntDiv_1


def test_internal_diversity_matches_the_definition():
    from rdkit import DataStructs

    fps = morgan_fingerprints(DIVERSE)
    sims = np.array([[DataStructs.TanimotoSimilarity(a, b) for b in fps] for a in fps])
    for p in (1, 2):  # MOSES's code: the p-th root per molecule, then the mean (the paper's formula for p = 1)
        assert internal_diversity(DIVERSE, p=p) == pytest.approx(1 - np.mean(np.mean(sims ** p, axis=1) ** (1 / p)))
    assert internal_diversity(DIVERSE) == pytest.approx(1 - np.mean(sims))


def test_internal_diversity_counts_every_valid_molecule_repeats_included():
    from rdkit import DataStructs

    fps = morgan_fingerprints(["CCO", "c1ccccc1"])
    t = DataStructs.TanimotoSimilarity(fps[0], fps[1])
    # CCO twice and benzene once: 9 ordered pairs, 5 of them of the same molecule (similarity 1)
    assert internal_diversity(["CCO", "OCC", "c1ccccc1", "C(C"]) == pytest.approx(1 - (5 + 4 * t) / 9)


def test_internal_diversity_refuses_nothing_valid_and_bad_p():
    with pytest.raises(InputError):
        internal_diversity(["C(C"])
    with pytest.raises(InputError):
        internal_diversity(DIVERSE, p=0)


def test_generation_metrics_exact_values():
    generated = ["CCO", "OCC", "c1ccccc1", "C1=CC=CC=C1", "C(C", "CCN", "Xx", "CCCC"]
    # valid: 6 of 8; canonical valid: CCO, CCO, c1ccccc1, c1ccccc1, CCN, CCCC -> 4 distinct
    training = {"CCO", "c1ccccc1"}
    m = generation_metrics(generated, training, ks=(3, 6, 100))
    assert m["validity"] == pytest.approx(6 / 8)
    assert m["unique@3"] == pytest.approx(2 / 3)  # first 3 valid: CCO, CCO, c1ccccc1
    assert m["unique@6"] == pytest.approx(4 / 6)
    assert "unique@3_n" not in m and "unique@6_n" not in m
    assert m["unique@100"] == pytest.approx(4 / 6) and m["unique@100_n"] == 6
    assert m["novelty"] == pytest.approx(2 / 4)  # CCN and CCCC are new
    # IntDiv over every valid molecule, repeats included, as MOSES computes it
    assert m["int_div"] == pytest.approx(internal_diversity(["CCO", "CCO", "c1ccccc1", "c1ccccc1", "CCN", "CCCC"]))
    assert m["int_div"] != pytest.approx(internal_diversity(["CCO", "c1ccccc1", "CCN", "CCCC"]))
    assert m["n"] == 8


def test_generation_metrics_default_keys():
    m = generation_metrics(["CCO", "CCN"], None)
    assert set(m) == {"validity", "unique@1000", "unique@10000", "novelty", "int_div", "n",
                      "unique@1000_n", "unique@10000_n"}
    assert m["novelty"] is None and m["unique@1000_n"] == 2 and m["unique@1000"] == 1.0


def test_generation_metrics_nothing_valid_and_empty():
    m = generation_metrics(["C(C", "Xx"], {"CCO"}, ks=(10,))
    assert m["validity"] == 0.0 and m["unique@10"] is None and m["unique@10_n"] == 0
    assert m["novelty"] is None and m["int_div"] is None
    with pytest.raises(InputError):
        generation_metrics([], None)
    with pytest.raises(InputError):
        generation_metrics(["CCO"], None, ks=(0,))
