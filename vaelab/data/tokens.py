"""Molecule strings as token sequences (SMILES or SELFIES) and the vocabulary that numbers them.

A sequence VAE reads and writes tokens, not characters: "Cl" is one atom, not C then l. SELFIES
(Krenn et al. 2020) is the alternative representation in which every token string decodes to a molecule.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

import torch

from ..errors import InputError, excerpt
from ..extras import module

# Schwaller et al. 2019 ("Molecular Transformer"): bracket atoms whole, two-letter halogens, two-digit ring
# closures, then single atoms, bonds and digits; "@@" outside brackets is kept whole too.
SMILES_PATTERN = re.compile(
    r"(\[[^\]]+]|Br?|Cl?|N|O|S|P|F|I|b|c|n|o|s|p|\(|\)|\.|=|#|-|\+|\\|/|:|~|@@|@|\?|>|\*|\$|%\d{2}|\d)"
)

# One SELFIES symbol, or the "." between disconnected fragments (split_selfies glues stray text onto symbols).
_SELFIES_SYMBOL = re.compile(r"\[[^\[\]]+]|\.")

REPRESENTATIONS = ("smiles", "selfies")

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
SPECIALS = (PAD, BOS, EOS)  # ids 0, 1, 2


def _first_line(e: BaseException) -> str:
    """SELFIES errors span lines; InputError messages are one line."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def tokenize_smiles(smiles: str) -> list[str]:
    """SMILES tokens by SMILES_PATTERN; a character the pattern does not cover is an error, not dropped."""
    if not isinstance(smiles, str):
        raise InputError(f"expected a SMILES string, got {type(smiles).__name__}")
    if not smiles:
        raise InputError("cannot tokenize an empty SMILES")
    tokens: list[str] = []
    pos = 0
    for m in SMILES_PATTERN.finditer(smiles):
        if m.start() != pos:
            break
        tokens.append(m.group(0))
        pos = m.end()
    if "".join(tokens) != smiles:
        raise InputError(f"cannot tokenize SMILES {excerpt(smiles)}: unrecognised text {smiles[pos:pos + 10]!r} "
                         f"at position {pos}")
    return tokens


def to_selfies(smiles: str) -> str:
    """The SELFIES string of a SMILES (selfies.encoder); InputError when it cannot be encoded."""
    selfies = module("mol", "selfies")

    if not isinstance(smiles, str) or not smiles.strip():
        raise InputError(f"cannot encode {excerpt(smiles)} as SELFIES: not a SMILES string")
    try:
        out = selfies.encoder(smiles)
    except Exception as e:  # selfies.EncoderError, and anything RDKit-free parsing throws
        raise InputError(f"cannot encode SMILES {excerpt(smiles)} as SELFIES: {_first_line(e)}") from e
    if out is None:  # selfies < 2 returned None instead of raising
        raise InputError(f"cannot encode SMILES {excerpt(smiles)} as SELFIES")
    return out


def from_selfies(selfies_string: str) -> str:
    """The SMILES of a SELFIES string (selfies.decoder); InputError when it is malformed."""
    selfies = module("mol", "selfies")

    try:
        return selfies.decoder(selfies_string)
    except Exception as e:
        raise InputError(f"cannot decode SELFIES {excerpt(selfies_string)}: {_first_line(e)}") from e


def tokenize_selfies(selfies_string: str) -> list[str]:
    """SELFIES symbols (selfies.split_selfies) and "."; text outside brackets, which split_selfies drops or
    glues onto the next symbol, is an error."""
    selfies = module("mol", "selfies")

    try:
        tokens = list(selfies.split_selfies(selfies_string))
    except Exception as e:
        raise InputError(f"cannot split SELFIES {excerpt(selfies_string)}: {_first_line(e)}") from e
    stray = next((t for t in tokens if not _SELFIES_SYMBOL.fullmatch(t)), None)
    if stray is not None or "".join(tokens) != selfies_string:
        raise InputError(f"cannot split SELFIES {excerpt(selfies_string)}: text outside [brackets]")
    return tokens


def _check_representation(representation: str) -> None:
    if representation not in REPRESENTATIONS:
        raise InputError(f"unknown representation {representation!r}; choose one of {', '.join(REPRESENTATIONS)}")


def tokenize(smiles: str, representation: str) -> list[str]:
    """Tokens of a SMILES in the given representation (for selfies: encoded first, then split)."""
    _check_representation(representation)
    if representation == "smiles":
        return tokenize_smiles(smiles)
    return tokenize_selfies(to_selfies(smiles))


def detokenize(tokens: Sequence[str], representation: str) -> str:
    """The SMILES a token sequence stands for; "" when SELFIES tokens do not decode (generated output
    is scored as invalid, not raised on)."""
    _check_representation(representation)
    text = "".join(tokens)
    if representation == "smiles":
        return text
    selfies = module("mol", "selfies")

    try:
        return selfies.decoder(text) or ""
    except selfies.DecoderError:
        return ""


def longest(token_lists: Iterable[Sequence[str]]) -> int:
    """The max_len that fits every sequence: the longest one plus its EOS."""
    lengths = [len(t) for t in token_lists]
    if not lengths:
        raise InputError("no token sequences to measure")
    return max(lengths) + 1


class Vocabulary:
    """Token <-> id, with PAD=0, BOS=1, EOS=2 then the regular tokens sorted (so a vocabulary built from
    the same data is the same whatever the order of the molecules). Knows its representation, so a saved
    model decodes its tokens the way they were made."""

    def __init__(self, tokens: Sequence[str], representation: str = "smiles"):
        _validate(tokens, representation)
        self._tokens = list(tokens)
        self.representation = representation
        self._index = {t: i for i, t in enumerate(self._tokens)}

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], representation: str = "smiles") -> Vocabulary:
        """The vocabulary of every token seen in token_lists."""
        _check_representation(representation)
        seen: set[str] = set()
        for tokens in token_lists:
            seen.update(tokens)
        clash = seen.intersection(SPECIALS)
        if clash:
            raise InputError(f"the data contains the special token {min(clash)!r}")
        return cls([*SPECIALS, *sorted(seen)], representation)

    @property
    def tokens(self) -> list[str]:
        """All tokens in id order (a copy)."""
        return list(self._tokens)

    def __len__(self) -> int:
        return len(self._tokens)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocabulary):
            return NotImplemented
        return self._tokens == other._tokens and self.representation == other.representation

    __hash__ = None  # equal by content, like a list

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} tokens, {self.representation})"

    def index(self, token: str) -> int:
        """The id of a token."""
        try:
            return self._index[token]
        except (KeyError, TypeError):
            raise InputError(f"token {token!r} is not in the vocabulary") from None

    def encode(self, token_lists: Sequence[Sequence[str]], max_len: int) -> torch.Tensor:
        """LongTensor (N, max_len): each row is its tokens, EOS, then PAD. No BOS: the decoder prepends it."""
        if isinstance(max_len, bool) or int(max_len) != max_len or max_len < 1:
            raise InputError(f"max_len must be a positive integer, got {max_len!r}")
        max_len = int(max_len)
        eos = self._index[EOS]
        rows = []
        for i, tokens in enumerate(token_lists):
            if len(tokens) + 1 > max_len:
                raise InputError(f"sequence {i} has {len(tokens)} tokens + EOS = {len(tokens) + 1}, "
                                 f"more than max_len {max_len}")
            ids = [self.index(t) for t in tokens]
            ids.append(eos)
            ids.extend([self._index[PAD]] * (max_len - len(ids)))
            rows.append(ids)
        if not rows:
            return torch.zeros((0, max_len), dtype=torch.long)
        return torch.tensor(rows, dtype=torch.long)

    def decode(self, ids: torch.Tensor) -> list[list[str]]:
        """Token lists of a (N, T) id tensor: each row up to its first EOS, PAD and BOS left out."""
        ids = torch.as_tensor(ids)
        if ids.dim() != 2:
            raise InputError(f"decode expects ids of shape (N, T), got {tuple(ids.shape)}")
        if ids.dtype.is_floating_point or ids.dtype == torch.bool or ids.dtype.is_complex:
            raise InputError(f"decode expects integer ids, got {ids.dtype}")
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= len(self)):
            raise InputError(f"token ids must lie in [0, {len(self) - 1}], got {int(ids.min())}..{int(ids.max())}")
        pad, bos, eos = (self._index[t] for t in SPECIALS)
        out = []
        for row in ids.tolist():
            tokens = []
            for i in row:
                if i == eos:
                    break
                if i != pad and i != bos:
                    tokens.append(self._tokens[i])
            out.append(tokens)
        return out

    def to_json(self) -> str:
        """{"tokens": [...], "representation": ...}: saved beside a model's weights."""
        return json.dumps({"tokens": self._tokens, "representation": self.representation})

    @classmethod
    def from_json(cls, text: str) -> Vocabulary:
        """Read `to_json`'s text back, checking it (a hand-edited or truncated file must not load)."""
        try:
            data = json.loads(text)
        except (ValueError, TypeError, RecursionError) as e:  # also nesting too deep and numbers too long to read
            raise InputError(f"vocabulary is not valid JSON: {e}") from None
        if not isinstance(data, dict) or "tokens" not in data or "representation" not in data:
            raise InputError('vocabulary JSON must be an object with "tokens" and "representation"')
        return cls(data["tokens"], data["representation"])


def _validate(tokens: Any, representation: Any) -> None:
    """A usable vocabulary: a list of distinct strings starting with the specials, a known representation."""
    if not isinstance(representation, str):
        raise InputError(f"vocabulary representation must be a string, got {representation!r}")
    _check_representation(representation)
    if not isinstance(tokens, (list, tuple)) or not all(isinstance(t, str) for t in tokens):
        raise InputError("vocabulary tokens must be a list of strings")
    if "" in tokens:
        raise InputError("vocabulary tokens must not be empty strings")
    if tuple(tokens[:3]) != SPECIALS:
        raise InputError(f"vocabulary must start with {', '.join(SPECIALS)} (ids 0, 1, 2)")
    if len(set(tokens)) != len(tokens):
        dup = next(t for i, t in enumerate(tokens) if t in tokens[:i])
        raise InputError(f"vocabulary token {dup!r} appears twice")
