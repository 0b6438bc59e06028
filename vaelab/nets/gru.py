"""Recurrent encoder and decoder for token sequences (molecules written as SMILES or SELFIES).

The encoder reads the whole sequence with a bidirectional GRU. The decoder is a GRU language model
that sees z twice, through its initial state and as part of its input at every step (Bowman et al.
2016; Gomez-Bombarelli et al. 2018), so it has a harder time ignoring the latent code. p(x|z) is
autoregressive: `TokenSequence` is that distribution, with a teacher-forced `log_prob` and
greedy (`mean`) or temperature `sample` decoding of a whole batch of latents at once.

A row of token ids is the sequence's tokens, then EOS, then PAD up to max_len; BOS is never
stored: the decoder puts it in front itself.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import InputError
from ..registry import Architecture, architectures
from ..shard import rand_rows

PAD, BOS, EOS = 0, 1, 2  # fixed ids of the special tokens (vaelab.data.tokens.Vocabulary)


class GRUEncoder(nn.Module):
    """A bidirectional GRU over the tokens up to EOS; its two last states give mu and logvar.

    Written as two one-way GRUs over padded batches instead of one packed bidirectional GRU: the
    backward one reads each sequence reversed within its own length (padding stays at the end),
    so both last states sit at index length - 1. Same maths; packed sequences are slow on a CPU
    (docs/design-notes.md).
    """

    def __init__(self, vocab_size: int, embed_dim: int, hidden: int, out_features: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        self.forward_gru = nn.GRU(embed_dim, hidden, batch_first=True)
        self.backward_gru = nn.GRU(embed_dim, hidden, batch_first=True)
        self.out = nn.Linear(2 * hidden, out_features)

    def forward(self, x: Tensor) -> Tensor:  # (B, T) token ids -> (B, out_features)
        lengths = (x != PAD).sum(1, keepdim=True).clamp(min=1)  # (B, 1), EOS included
        positions = torch.arange(x.shape[1], device=x.device)[None]
        within = positions < lengths
        reversed_x = x.gather(1, torch.where(within, lengths - 1 - positions, positions))
        last = (lengths - 1)[:, :, None].expand(-1, 1, self.out.in_features // 2)
        h_forward = self.forward_gru(self.embed(x))[0].gather(1, last)[:, 0]
        h_backward = self.backward_gru(self.embed(reversed_x))[0].gather(1, last)[:, 0]
        return self.out(torch.cat([h_forward, h_backward], -1))


class GRUDecoder(nn.Module):
    def __init__(self, vocab_size: int, embed_dim: int, hidden: int, latent_dim: int, max_len: int,
                 word_dropout: float = 0.0):
        super().__init__()
        self.max_len, self.word_dropout = max_len, word_dropout
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        self.init = nn.Linear(latent_dim, hidden)
        self.gru = nn.GRU(embed_dim + latent_dim, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab_size)

    def forward(self, z: Tensor, generator: torch.Generator | None = None) -> "TokenSequence":
        return TokenSequence(self, z, generator)

    def logits(self, z: Tensor, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Teacher forcing: z (N, L), x (N, T) -> next-token logits (N, T, V).

        Word dropout (Bowman et al. 2016), in training only: a share of the true previous tokens is
        replaced by PAD (whose embedding is zero), so the decoder must lean on z to fill the gaps.
        """
        inputs = torch.cat([torch.full_like(x[:, :1], BOS), x[:, :-1]], 1)
        if self.training and self.word_dropout > 0:
            drop = rand_rows(tuple(inputs.shape), generator, inputs.device) < self.word_dropout
            drop[:, 0] = False  # BOS always stays
            inputs = inputs.masked_fill(drop, PAD)
        steps = torch.cat([self.embed(inputs), z[:, None].expand(-1, x.shape[1], -1)], -1)
        out, _ = self.gru(steps, torch.tanh(self.init(z))[None].contiguous())
        return self.out(out)

    @torch.no_grad()
    def generate(self, z: Tensor, temperature: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """Decode a batch of latents (N, L) -> token ids (N, max_len); temperature 0 is greedy."""
        n = len(z)
        h = torch.tanh(self.init(z))[None].contiguous()
        token = torch.full((n,), BOS, dtype=torch.long, device=z.device)
        out = torch.full((n, self.max_len), PAD, dtype=torch.long, device=z.device)
        done = torch.zeros(n, dtype=torch.bool, device=z.device)
        for t in range(self.max_len):
            step, h = self.gru(torch.cat([self.embed(token), z], -1)[:, None], h)
            logits = self.out(step[:, 0])
            if temperature == 0:
                token = logits.argmax(-1)
            else:
                scaled = logits.float() / temperature
                # a temperature so small that logits / T overflow samples greedily, its limit (a where: no GPU sync)
                probs = torch.where(torch.isfinite(scaled).all(-1, keepdim=True), torch.softmax(scaled, -1),
                                    F.one_hot(logits.argmax(-1), logits.shape[-1]).float())
                token = torch.multinomial(probs, 1, generator=generator)[:, 0]
            token = token.masked_fill(done, PAD)
            out[:, t] = token
            done |= token == EOS
            if t % 8 == 7 and bool(done.all()):  # checked now and then: each check syncs a GPU
                break
        return out


class TokenSequence:
    """p(x|z) over token sequences: a product of next-token categoricals, summed up to and including EOS.

    z may carry leading sample axes (K, B, L); x is (B, T) and is broadcast over them.
    """

    def __init__(self, decoder: GRUDecoder, z: Tensor, generator: torch.Generator | None = None):
        self.decoder, self.z, self.generator = decoder, z, generator

    def log_prob(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        lead = self.z.shape[:-1]
        x = x.expand(*lead, x.shape[-1]).reshape(-1, x.shape[-1])
        logits = self.decoder.logits(self.z.reshape(-1, self.z.shape[-1]), x, self.generator)
        nll = F.cross_entropy(logits.transpose(1, 2).float(), x, reduction="none")  # (N, T)
        keep = x != PAD if mask is None else (x != PAD) & mask.bool().expand_as(x)
        return -(nll * keep).sum(-1).reshape(lead)

    @property
    def mean(self) -> Tensor:
        """The greedy decoding (the most likely token at each step), not the true mode of p(x|z)."""
        return self._decode(0.0, None)

    def sample(self, generator: torch.Generator | None = None, temperature: float = 1.0) -> Tensor:
        return self._decode(temperature, generator)

    def _decode(self, temperature: float, generator: torch.Generator | None) -> Tensor:
        lead = self.z.shape[:-1]
        ids = self.decoder.generate(self.z.reshape(-1, self.z.shape[-1]), temperature, generator)
        return ids.reshape(*lead, ids.shape[-1])


MAX_TOKENS = 10_000  # a sequence's max_len: ten times the longest SMILES vaelab reads (MAX_SMILES_LENGTH)


def build_gru(config, out_features: int):
    if not (config.vocab_size >= 4 and len(config.shape) == 1 and len(config.hidden) == 1 and config.embed_dim >= 1
            and config.num_classes == 0):
        raise InputError("a gru model needs vocab_size >= 4, shape (max_len,), one hidden width and no classes")
    if config.shape[0] > MAX_TOKENS:
        raise InputError(f"a gru model reads sequences of at most {MAX_TOKENS:,} tokens, not {config.shape[0]:,}",
                         "shape")
    hidden, max_len = config.hidden[0], config.shape[0]
    return (
        GRUEncoder(config.vocab_size, config.embed_dim, hidden, out_features),
        GRUDecoder(config.vocab_size, config.embed_dim, hidden, config.latent_dim, max_len, config.word_dropout),
    )


architectures.register("gru")(Architecture(build_gru, reads_tokens=True))
