"""What the latent space lets you do: paths, traversals, attribute arithmetic, maps, export and search."""
