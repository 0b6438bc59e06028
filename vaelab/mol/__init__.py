"""Molecules: tokens, chemistry (RDKit), the sequence VAE's data and metrics."""
