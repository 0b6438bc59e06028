"""Token sequences: the SMILES regex, SELFIES round trips, and the Vocabulary's ids and JSON form."""
from __future__ import annotations

import json

import pytest
import torch

from vaelab.errors import InputError
from vaelab.data.tokens import (
    BOS,
    EOS,
    PAD,
    REPRESENTATIONS,
    SMILES_PATTERN,
    Vocabulary,
    detokenize,
    from_selfies,
    longest,
    to_selfies,
    tokenize,
    tokenize_selfies,
    tokenize_smiles,
)

# Drug-like molecules (MOSES test set and well-known drugs), with stereo, charges, isotopes, %nn closures.
SMILES = [
    "CC1C2CCC(C2)C1CN(CCO)C(=O)c1ccc(Cl)cc1",
    "COc1ccc(-c2cc(=O)c3c(O)c(OC)c(OC)cc3o2)cc1O",
    "CCOC(=O)c1ncn2c1CN(C)C(=O)c1cc(F)ccc1-2",
    "Clc1ccccc1-c1nc(-c2ccncc2)no1",
    "Cc1[nH]cnc1Cc1nc(-c2ccccc2)cs1",
    "CCCn1c(=O)c2[nH]c(C3CCC(=O)C3)nc2n(CCC)c1=O",
    "O=C(CN1C(=O)c2ccccc2S1(=O)=O)Nc1ccc(O)cc1",
    "CCN1c2ncccc2NC(=O)c2cc(Br)cnc21",
    "CC(C(=O)NC1CC1)S(=O)(=O)c1ccccc1Br",
    "COc1ccc(-c2cc(C(F)(F)F)n3nc(C(N)=O)cc3n2)cc1",
    "Fc1ccccc1CSc1nnnn1-c1ccc2c(c1)OCO2",
    "CN(C)c1ncnc2c1ncn2C1OC(CO)C(O)C1O",
    "CC(=O)Oc1ccccc1C(=O)O",
    "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",
    "CC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O",
    "C[C@H](N)C(=O)O",
    "N[C@@H](Cc1ccccc1)C(=O)O",
    "OC[C@H]1O[C@@H](O)[C@H](O)[C@@H](O)[C@@H]1O",
    "CC1(C)S[C@@H]2[C@H](NC(=O)Cc3ccccc3)C(=O)N2[C@H]1C(=O)O",
    "C/C=C/C(=O)O",
    "F/C=C\\F",
    "C[N+](C)(C)C",
    "[O-][N+](=O)c1ccccc1",
    "CC(=O)[O-].[Na+]",
    "c1ccc2c(c1)[nH]c1ccccc12",
    "C1CC2CCC3CCCC4CCC(C1)C2C34",
    "C%10CCCCC%10",
    "O=S(=O)(N)c1cc(Cl)c(NCc2ccco2)cc1C(=O)O",
    "CC[C@H](C)[C@H](NC(=O)C)C(=O)N",
    "Brc1ccc(I)cc1",
    "C#CCN(C)[C@H](C)Cc1ccccc1",
    "[2H]C([2H])([2H])Oc1ccccc1",
]


@pytest.mark.parametrize("token", ["Cl", "Br", "[nH]", "[C@@H]", "%10", "@@", "[O-]", "[2H]", "[N+]"])
def test_multi_character_tokens_stay_whole(token):
    assert token in tokenize_smiles(f"C{token}C" if token != "%10" else "C%10CC%10")


def test_tokenize_smiles_examples():
    assert tokenize_smiles("C[C@@H](Cl)Br") == ["C", "[C@@H]", "(", "Cl", ")", "Br"]
    assert tokenize_smiles("C%10CCC%10") == ["C", "%10", "C", "C", "C", "%10"]
    assert tokenize_smiles("CC@@C") == ["C", "C", "@@", "C"]
    assert tokenize_smiles("c1ccccc1") == ["c", "1", "c", "c", "c", "c", "c", "1"]
    assert SMILES_PATTERN.findall("BrCl") == ["Br", "Cl"]


@pytest.mark.parametrize("smiles", SMILES)
def test_smiles_tokens_join_back(smiles):
    tokens = tokenize(smiles, "smiles")
    assert "".join(tokens) == smiles and detokenize(tokens, "smiles") == smiles


@pytest.mark.parametrize("bad", ["C C", "CXc", "C%1", "C\nC"])
def test_untokenizable_smiles_names_the_molecule(bad):
    with pytest.raises(InputError, match="cannot tokenize SMILES") as info:
        tokenize_smiles(bad)
    assert repr(bad) in str(info.value) and "\n" not in str(info.value)


def test_empty_smiles_is_refused():
    with pytest.raises(InputError):
        tokenize_smiles("")


def test_selfies_round_trip_gives_the_same_molecule():
    chem = pytest.importorskip("vaelab.mol.chem")
    pytest.importorskip("rdkit")
    for smiles in SMILES:
        tokens = tokenize(smiles, "selfies")
        assert all(t == "." or (t.startswith("[") and t.endswith("]")) for t in tokens)
        assert tokenize_selfies(to_selfies(smiles)) == tokens
        assert chem.canonical(detokenize(tokens, "selfies")) == chem.canonical(smiles), smiles
        assert chem.canonical(from_selfies(to_selfies(smiles))) == chem.canonical(smiles)


def test_selfies_errors():
    with pytest.raises(InputError):
        to_selfies("C(C")
    with pytest.raises(InputError):
        to_selfies("C(C)(C)(C)(C)C")  # five bonds on carbon break SELFIES' constraints
    with pytest.raises(InputError):
        from_selfies("[C][=C")
    with pytest.raises(InputError):
        tokenize_selfies("[C]x[C]")  # split_selfies would glue the x onto the next symbol
    with pytest.raises(InputError):
        tokenize_selfies("[C][C]x")  # ... or drop it
    assert tokenize_selfies("[C].[O]") == ["[C]", ".", "[O]"]
    assert detokenize(["[C]", "[Xx]"], "selfies") == ""  # generated garbage scores as invalid
    assert detokenize([], "selfies") == ""


def test_unknown_representation():
    assert REPRESENTATIONS == ("smiles", "selfies")
    with pytest.raises(InputError, match="smiles, selfies"):
        tokenize("CCO", "inchi")
    with pytest.raises(InputError):
        detokenize(["C"], "inchi")


def test_vocabulary_layout():
    vocab = Vocabulary.build([["C", "O"], ["c", "C", "Cl"]])
    assert vocab.tokens == [PAD, BOS, EOS, "C", "Cl", "O", "c"]
    assert (vocab.index(PAD), vocab.index(BOS), vocab.index(EOS)) == (0, 1, 2)
    assert len(vocab) == 7 and vocab.representation == "smiles"
    assert Vocabulary.build([["c", "C", "Cl"], ["C", "O"]]) == vocab  # order of the data does not matter
    with pytest.raises(InputError, match="'Br'"):
        vocab.index("Br")


def test_vocabulary_encode_decode_round_trip():
    token_lists = [tokenize(s, "smiles") for s in SMILES]
    vocab = Vocabulary.build(token_lists)
    max_len = longest(token_lists)
    assert max_len == max(len(t) for t in token_lists) + 1
    ids = vocab.encode(token_lists, max_len)
    assert ids.dtype == torch.long and ids.shape == (len(SMILES), max_len)
    assert BOS not in [vocab.tokens[i] for i in ids.flatten().tolist()]
    row = ids[0].tolist()
    n = len(token_lists[0])
    assert row[n] == vocab.index(EOS) and all(i == 0 for i in row[n + 1:])
    assert vocab.decode(ids) == token_lists
    assert [detokenize(t, "smiles") for t in vocab.decode(ids)] == SMILES


def test_decode_stops_at_eos_and_skips_pad_and_bos():
    vocab = Vocabulary.build([["C", "O"]])
    c, o = vocab.index("C"), vocab.index("O")
    ids = torch.tensor([[1, c, 0, o, 2, c, c], [c, c, c, c, c, c, c], [2, c, 0, 0, 0, 0, 0]])
    assert vocab.decode(ids) == [["C", "O"], ["C"] * 7, []]
    with pytest.raises(InputError):
        vocab.decode(torch.tensor([[len(vocab)]]))
    with pytest.raises(InputError):
        vocab.decode(torch.tensor([c, o]))


def test_encode_errors():
    vocab = Vocabulary.build([["C", "O"]])
    assert vocab.encode([["C", "O"]], 3).tolist() == [[3, 4, 2]]
    with pytest.raises(InputError, match=r"sequence 1 .*3 .*max_len 3"):
        vocab.encode([["C"], ["C", "O", "C"]], 3)
    with pytest.raises(InputError, match="'N'"):
        vocab.encode([["C", "N"]], 5)
    assert vocab.encode([], 4).shape == (0, 4)
    with pytest.raises(InputError):
        longest([])


def test_vocabulary_json_round_trip():
    vocab = Vocabulary.build([tokenize(s, "selfies") for s in SMILES[:5]], representation="selfies")
    text = vocab.to_json()
    assert json.loads(text)["representation"] == "selfies"
    again = Vocabulary.from_json(text)
    assert again == vocab and again.tokens == vocab.tokens and again.representation == "selfies"


@pytest.mark.parametrize("text", [
    "not json",
    "[]",
    '{"tokens": ["<pad>", "<bos>", "<eos>", "C"]}',
    '{"tokens": ["<bos>", "<pad>", "<eos>", "C"], "representation": "smiles"}',
    '{"tokens": ["<pad>", "<bos>", "<eos>", "C", "C"], "representation": "smiles"}',
    '{"tokens": ["<pad>", "<bos>", "<eos>", 3], "representation": "smiles"}',
    '{"tokens": "C", "representation": "smiles"}',
    '{"tokens": ["<pad>", "<bos>", "<eos>", "C"], "representation": "inchi"}',
])
def test_corrupt_vocabulary_json_is_refused(text):
    with pytest.raises(InputError):
        Vocabulary.from_json(text)
