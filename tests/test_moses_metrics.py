"""The MOSES metrics (vaelab.mol.moses_metrics, fcd, similarity, reference, moses_table) against their
definitions (Polykovskiy et al. 2020, and MOSES's code, which produced its published tables), on small
hand-checked cases; FCD against fcd_torch's own FCD. The full MOSES test sets are under @slow."""
from __future__ import annotations

import json
import math
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rdkit")
pytest.importorskip("fcd_torch")

from vaelab.data.smiles import rdkit_mol  # noqa: E402
from vaelab.mol import fcd, moses_table, reference  # noqa: E402
from vaelab.mol.moses_metrics import (  # noqa: E402
    cosine_similarity, count_fragments, count_scaffolds, filter_hits, filter_smarts, fragments,
    nearest_neighbour_similarity, passes_filters, property_values, scaffold, wasserstein,
)
from vaelab.mol.chem import internal_diversity, morgan_fingerprints  # noqa: E402
from vaelab.mol.similarity import fingerprint_matrix, pack, tanimoto_aggregate, unpack  # noqa: E402

MOLECULES = Path(__file__).parent / "data" / "molecules.smi"
SMILES = MOLECULES.read_text().split()[1:]  # 200 MOSES molecules (the first line is a header)
MOSES_KEYS = ["valid", "unique@1000", "unique@10000", "FCD/Test", "SNN/Test", "Frag/Test", "Scaf/Test",
              "FCD/TestSF", "SNN/TestSF", "Frag/TestSF", "Scaf/TestSF", "IntDiv", "IntDiv2", "Filters",
              "logP", "SA", "QED", "weight", "Novelty"]  # MOSES's get_all_metrics, in its order


def mols(smiles):
    return [rdkit_mol(s) for s in smiles]


def tanimoto(a: str, b: str) -> float:
    from rdkit import DataStructs

    fa, fb = morgan_fingerprints([a, b])
    return DataStructs.TanimotoSimilarity(fa, fb)


@pytest.fixture(scope="module")
def two_sets():
    """Statistics of two disjoint sets of MOSES molecules (ChemNet runs once for the module)."""
    a, b = SMILES[:30], SMILES[100:140]
    sa, sb = reference.statistics(a), reference.statistics(b)
    return a, b, sa, sb, fcd.frechet_distance(sa.fcd_mu, sa.fcd_sigma, sb.fcd_mu, sb.fcd_sigma)


# FCD ----------------------------------------------------------------------------------------------

def test_fcd_equals_fcd_torchs_own_fcd(two_sets):
    from fcd_torch import FCD

    a, b, sa, sb, ours = two_sets  # sqrtm of 512 x 512 singular matrices takes seconds: few FCDs here
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fcd_torch's np.row_stack and sqrtm(disp=)
        theirs = FCD(device="cpu", n_jobs=1)(gen=a, ref=b)
    assert ours == pytest.approx(theirs, rel=1e-6) and ours > 1


def test_fcd_gaussian_is_mean_and_sample_covariance():
    acts = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    mu, sigma = fcd.gaussian(acts)
    assert np.allclose(mu, acts.mean(0)) and np.allclose(sigma, np.cov(acts.T))
    assert fcd.gaussian(acts[:1]) is None  # undefined for one molecule
    assert fcd.frechet_distance(np.zeros(2), np.eye(2), np.array([3.0, 4.0]), np.eye(2)) == pytest.approx(25)


# Tanimoto, SNN, IntDiv --------------------------------------------------------------------------------

def test_fingerprints_and_similarities_match_rdkit():
    from rdkit import DataStructs
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)
    smiles = SMILES[:30]
    bits = fingerprint_matrix(mols(smiles))
    assert bits.shape == (30, 1024) and np.array_equal(unpack(pack(bits)), bits)
    fps = [gen.GetFingerprint(m) for m in mols(smiles)]
    sims = np.array([DataStructs.BulkTanimotoSimilarity(f, fps[:10]) for f in fps])  # (30 gen, 10 ref)
    assert np.allclose(tanimoto_aggregate(bits[:10], bits, agg="max"), sims.max(1))
    assert np.allclose(tanimoto_aggregate(bits[:10], bits, agg="mean", p=2), (sims ** 2).mean(1))


def test_snn_of_a_set_against_itself_is_one_and_against_another_its_nearest_neighbour():
    bits = fingerprint_matrix(mols(SMILES[:40]))
    assert nearest_neighbour_similarity(bits, bits) == pytest.approx(1.0)
    t = tanimoto("CCOc1ccccc1", "CCCOc1ccccc1")
    ref = fingerprint_matrix(mols(["CCOc1ccccc1", "C1CCNCC1"]))
    gen = fingerprint_matrix(mols(["CCCOc1ccccc1", "CCOc1ccccc1"]))
    assert nearest_neighbour_similarity(ref, gen) == pytest.approx((t + 1) / 2)
    empty = np.zeros((1, 1024), dtype=np.uint8)  # two molecules without heavy atoms: similarity 1 (MOSES)
    assert nearest_neighbour_similarity(empty, empty) == 1.0


def test_int_div_of_identical_molecules_is_zero_and_of_two_is_known():
    assert internal_diversity(["c1ccccc1CC"] * 4) == pytest.approx(0.0)
    assert internal_diversity(["c1ccccc1CC"] * 4, p=2) == pytest.approx(0.0)
    a, b = "CCOc1ccccc1", "C1CCNCC1"
    t = tanimoto(a, b)
    assert internal_diversity([a, b]) == pytest.approx((1 - t) / 2)  # 1 - (1 + t + t + 1) / 4
    assert internal_diversity([a, b], p=2) == pytest.approx(1 - math.sqrt((1 + t * t) / 2))


# Frag, Scaf ----------------------------------------------------------------------------------------

def test_brics_fragments_and_murcko_scaffolds():
    assert sorted(fragments(rdkit_mol("CCOC(=O)c1ccccc1"))) == ["[1*]C([6*])=O", "[16*]c1ccccc1", "[3*]O[3*]",
                                                                "[4*]CC"]
    assert scaffold(rdkit_mol("c1ccc(cc1)Cc1ccccc1")) == "c1ccc(Cc2ccccc2)cc1"
    assert scaffold(rdkit_mol("Cc1ccccc1")) is None  # one ring: MOSES counts scaffolds of 2 rings or more
    assert scaffold(rdkit_mol("CCO")) is None


def test_frag_and_scaf_of_identical_counts_are_one():
    m = mols(SMILES[:50])
    frags, scafs = count_fragments(m), count_scaffolds(m)
    assert sum(scafs.values()) > 10
    assert cosine_similarity(frags, frags) == pytest.approx(1.0)
    assert cosine_similarity(scafs, scafs) == pytest.approx(1.0)
    assert cosine_similarity(count_fragments(m + m), frags) == pytest.approx(1.0)  # proportions, not counts


def test_cosine_similarity_by_hand():
    assert cosine_similarity({"a": 1, "b": 1}, {"a": 1}) == pytest.approx(1 / math.sqrt(2))
    assert cosine_similarity({"a": 3}, {"b": 2}) == 0.0
    assert cosine_similarity({"a": 1, "b": 2}, {"a": 2, "b": 1}) == pytest.approx(4 / 5)
    assert cosine_similarity({}, {"a": 1}) is None  # MOSES: NaN


# Filters -------------------------------------------------------------------------------------------

def test_filters_are_mosess_lists():
    names = [name for name, _ in filter_smarts()]
    assert len(names) == 22 + 480 and names[0] == "MCF1" and "ene_rhod_A(235)" in names


@pytest.mark.parametrize("smiles, hit", [
    ("O=C1NC(=S)SC1=Cc1ccccc1", "ene_rhod_A(235)"),  # a benzylidene rhodanine (PAINS)
    ("O=C1C=CC(=O)C=C1", "quinone_A(370)"),          # p-benzoquinone (PAINS)
    ("Oc1ccccc1O", "catechol_A(92)"),                # catechol (PAINS)
    ("c1ccccc1N=Nc1ccccc1", "azo_A(324)"),           # azobenzene (PAINS)
    ("C=CC#N", "MCF1"),                              # acrylonitrile, a Michael acceptor (MCF)
])
def test_known_pains_and_mcf_hits_fail(smiles, hit):
    mol = rdkit_mol(smiles)
    assert hit in filter_hits(mol) and not passes_filters(mol)


@pytest.mark.parametrize("smiles", ["C[N+](C)(C)C", "CCP", "C1CCCCCCC1"])  # charge, phosphorus, an 8-ring
def test_charges_other_atoms_and_large_rings_fail(smiles):
    assert not passes_filters(rdkit_mol(smiles))


def test_clean_molecules_pass():
    assert all(passes_filters(m) for m in mols(["CCOC(=O)c1ccccc1", "O=C(O)c1ccccc1N", *SMILES[:40]]))
    assert moses_table.fraction_passing(["CCOC(=O)c1ccccc1", "Oc1ccccc1O"]) == 0.5


# Properties ----------------------------------------------------------------------------------------

def test_properties_and_their_wasserstein_distances():
    values = property_values(mols(["CCO", "c1ccccc1"]))
    assert values["weight"] == pytest.approx([46.069, 78.114], abs=1e-3)
    assert 0 < values["QED"][0] < 1 and 1 <= values["SA"][0] <= 10
    assert values["logP"][1] == pytest.approx(1.6866, abs=1e-3)  # Crippen
    x = [1.0, 2.0, 5.0]
    assert wasserstein(x, x) == 0.0
    assert wasserstein(x, [v + 0.5 for v in x]) == pytest.approx(0.5)
    assert wasserstein([0.0], [1.0, 3.0]) == pytest.approx(2.0)  # mean distance to the point mass
    assert wasserstein([], x) is None


# The table -----------------------------------------------------------------------------------------

def test_the_table_has_mosess_keys_and_definitions(two_sets):
    a, b, sa, sb, d_ab = two_sets
    generated = [*a, "C(C", "Xx"]  # 30 valid of 32
    table = moses_table.moses_table(generated, {"Test": sb, "TestSF": sa}, training=set(a[:15]))
    assert [k for k in table if k in MOSES_KEYS] == MOSES_KEYS
    assert table["valid"] == pytest.approx(30 / 32) and table["Novelty"] == pytest.approx(0.5)
    assert table["SNN/TestSF"] == pytest.approx(1.0) and table["Frag/TestSF"] == pytest.approx(1.0)
    assert table["Scaf/TestSF"] == pytest.approx(1.0) and table["FCD/TestSF"] == pytest.approx(0, abs=1e-3)
    assert table["FCD/Test"] == pytest.approx(d_ab)  # the generated set is `a`
    assert table["logP"] == pytest.approx(wasserstein(sb.properties["logP"], sa.properties["logP"]))
    assert table["IntDiv2"] <= table["IntDiv"] and table["Filters"] == 1.0


def test_the_table_of_nothing_valid_is_undefined_not_an_error(two_sets):
    table = moses_table.moses_table(["C(C", "Xx"], {"Test": two_sets[3]}, training=None)
    assert table["valid"] == 0.0 and table["n"] == 2
    assert all(table[k] is None for k in ("FCD/Test", "SNN/Test", "IntDiv", "IntDiv2", "Filters", "weight"))


# The cache -----------------------------------------------------------------------------------------

def test_reference_statistics_are_cached_without_pickle_and_read_back(tmp_path, monkeypatch):
    monkeypatch.setenv("VAELAB_CACHE", str(tmp_path / "cache"))
    smiles = SMILES[:12]
    first = reference.cached_statistics("demo", smiles)
    files = sorted(p.name for p in (tmp_path / "cache" / "mol-metrics").iterdir())
    assert [Path(f).suffix for f in files] == [".json", ".npz"]
    with np.load(tmp_path / "cache" / "mol-metrics" / files[1], allow_pickle=False) as arrays:
        assert arrays["fingerprints"].shape == (12, 128)  # packed bits
    monkeypatch.setattr(reference, "statistics", lambda *a, **k: pytest.fail("recomputed"))
    again = reference.cached_statistics("demo", smiles)
    assert again.n == 12 and np.array_equal(again.fingerprints, first.fingerprints)
    assert np.allclose(again.fcd_sigma, first.fcd_sigma) and again.scaffolds == first.scaffolds
    assert all(np.array_equal(again.properties[k], first.properties[k]) for k in first.properties)
    json_file = tmp_path / "cache" / "mol-metrics" / files[0]
    json_file.write_text("{truncated")  # a damaged cache is computed afresh
    monkeypatch.undo()
    monkeypatch.setenv("VAELAB_CACHE", str(tmp_path / "cache"))
    assert reference.cached_statistics("demo", smiles).fragments == first.fragments
    assert json.loads(json_file.read_text())["molecules"] == 12


def test_moses_novelty_counts_the_training_set_in_both_spellings(tmp_path, monkeypatch):
    import gzip

    from vaelab.data import molecules

    train = tmp_path / "train.csv.gz"
    with gzip.open(train, "wt") as f:
        f.write("SMILES\nOCC\nc1ccccc1\n")  # OCC: ethanol as MOSES's older RDKit might have written it
    monkeypatch.setenv("VAELAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(molecules, "moses_path", lambda name: train)
    assert moses_table.moses_training_set() == {"OCC", "CCO", "c1ccccc1"}
    monkeypatch.setattr(moses_table, "_respell", lambda *a: pytest.fail("not cached"))
    assert "CCO" in moses_table.moses_training_set()


def test_without_the_extra_the_table_is_todays_metrics_and_a_line(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "fcd_torch", None)  # as if fcd_torch were not installed
    result = {"validity": 1.0, "unique@1000": 1.0, "novelty": 0.5, "int_div": 0.8, "n": 3, "samples": ["CCO"],
              "kl": 2.0}
    out = moses_table.with_moses_table(result, ["CCO"], moses=False, training=set())
    assert list(out)[:4] == ["valid", "unique@1000", "Novelty", "IntDiv"] and out["kl"] == 2.0
    assert "FCD/Test" not in out and "pip install 'vaelab[mol-metrics]'" in out["missing"]


# The full MOSES test sets ----------------------------------------------------------------------------

@pytest.mark.slow
def test_moses_test_sets_statistics(tmp_path, monkeypatch):
    """About 80 minutes on one CPU core (ChemNet over 352,300 molecules), then cached."""
    monkeypatch.setenv("VAELAB_CACHE", str(tmp_path / "cache"))
    refs = moses_table.moses_references(progress=True)
    assert (refs["Test"].n, refs["TestSF"].n) == (176_074, 176_226)
    test_smiles = [s for s in SMILES if rdkit_mol(s) is not None][:100]  # MOSES test molecules
    table = moses_table.moses_table(test_smiles, refs, training=None)
    assert table["Filters"] == 1.0  # MOSES's sets were cut with these same filters
    assert table["SNN/Test"] == pytest.approx(1.0)  # each is in the test set
    assert Counter(refs["Test"].scaffolds).most_common(1)[0][1] > 1
