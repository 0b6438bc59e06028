"""The sections of an image (or table) run's report that need its model: prior samples, reconstructions,
a traversal of the most informative dimensions, the latent map. Each calls the library's own functions
(`Model.sample`, `Model.reconstruct`, `vaelab.latent`, `vaelab.viz`) and embeds what they draw."""
from __future__ import annotations

import torch

from ..latent.maps import manifold, scatter_codes
from ..latent.traverse import dimension_order, factors_carried, latent_statistics, traverse
from ..viz.grid import as_images, save_grid, save_labelled_rows, save_pairs
from .material import Material
from .page import drawn_png, figure, note

SAMPLES, SAMPLE_SEED = 64, 0
RECONSTRUCTIONS, PER_ROW = 16, 8
STATISTICS_EXAMPLES = 2000  # held-out examples behind the KL per dimension
TRAVERSED, SPAN, STEPS = 8, 3.0, 9
MAP_EXAMPLES = 2000
MANIFOLD_SIDE = 15


def prior_samples(m: Material, n: int = SAMPLES) -> tuple[bytes, str]:
    """A grid of n decoded prior draws (seed 0, temperature 1) and its caption; a conditional run gets
    one column per class."""
    model = m.model()
    nrow, labels = None, None
    if model.conditional:
        nrow, labels = model.num_classes, torch.arange(n) % model.num_classes
    images = as_images(model.sample(n, 1.0, SAMPLE_SEED, y=labels))
    caption = f"{n} draws z ~ N(0, I) decoded (the mean of p(x|z)), seed {SAMPLE_SEED}"
    return drawn_png(lambda path: save_grid(images, path, nrow=nrow)), caption + (
        "; one column per class" if nrow else "")


def samples_section(m: Material) -> str:
    png, caption = prior_samples(m)
    return figure(png, caption)


def reconstructions_section(m: Material) -> str:
    model = m.model()
    x, y = m.split("test", RECONSTRUCTIONS)
    recon = model.reconstruct(x, m.condition(y))
    png = drawn_png(lambda path: save_pairs(as_images(x), as_images(recon), path, per_row=PER_ROW))
    return figure(png, f"the first {len(x)} test examples, each row above their reconstructions: "
                       "the decoded posterior means")


def traversal_section(m: Material) -> str:
    model = m.model()
    split, x, y = m.held_out(STATISTICS_EXAMPLES)
    stats = latent_statistics(model, x, m.condition(y))
    dims = dimension_order(stats)[:TRAVERSED]
    label = torch.zeros(1, dtype=torch.long) if model.conditional else None
    rows = traverse(model, dims, torch.zeros(model.latent_dim), SPAN, STEPS, label)
    measure = "kl" if model.stochastic else "mu_variance"
    labels = [f"z{d}  {'KL' if model.stochastic else 'var'} {float(stats[measure][d]):.2f}"
              + ("" if stats["active"][d] else "  inactive") for d in dims]
    carried = factors_carried(model, m.splits(), "test", STATISTICS_EXAMPLES)
    if carried is not None:  # data with known factors: name what each active row moves
        labels = [f"{text}  {carried[d][0]}" if stats["active"][d] else text for text, d in zip(labels, dims)]
    header = f"each row: one dimension from -{SPAN:g} to +{SPAN:g}; the others at 0"
    images = as_images(rows.reshape(-1, *rows.shape[2:])).reshape(rows.shape)
    png = drawn_png(lambda path: save_labelled_rows(images, labels, path, header))
    ranked = "average KL(q(z_d|x) || N(0, 1))" if model.stochastic else "variance of the codes"
    caption = (f"the {len(dims)} most informative of {model.latent_dim} dimensions, ranked by {ranked} over "
               f"{len(x)} {split} examples; {int(stats['active'].sum())} active (variance of the posterior means "
               "above 0.01)" + ("; conditioned on class 0" if model.conditional else ""))
    return figure(png, caption)


def map_section(m: Material) -> str:
    model = m.model()
    x, y = m.split("test", MAP_EXAMPLES)
    mu, _ = model.encode_all(x, m.condition(y))
    names = m.splits().label_names
    labels = y.numpy() if y is not None else None
    title = f"{m.run.path.name}: {len(x)} test examples"
    png = drawn_png(lambda path: scatter_codes(mu.numpy(), labels, path, title,
                                               dict(enumerate(names)) if names else None))
    parts = [figure(png, "the posterior means of test examples, coloured by label"
                         + (" (two dimensions: the codes themselves)" if model.latent_dim == 2 else
                            " (projected to two dimensions by PCA, named on the plot)"), plot=True)]
    if model.latent_dim == 2 and len(model.shape) == 3:
        label = torch.zeros(1, dtype=torch.long) if model.conditional else None
        grid = as_images(manifold(model, MANIFOLD_SIDE, label))
        parts.append(figure(drawn_png(lambda path: save_grid(grid, path, nrow=MANIFOLD_SIDE)),
                            "the decoded manifold: z1 left to right, z2 bottom to top, at Gaussian quantiles"))
    elif model.latent_dim > 2:
        parts.append(note("For a 2-D picture of what the decoder makes of the latent space, train with "
                          "--latent-dim 2 (the decoded manifold) or see the traversal above."))
    return f'<div class="row">{"".join(parts)}</div>'
