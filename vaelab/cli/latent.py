"""The latent-space commands: interpolate, traverse, attribute, encode, neighbors, map.

Each calls a function of `vaelab.latent` on the run's model; this module only turns arguments into
examples (a split's index or an image file), draws the pictures and prints the figures.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from ..data import SPLITS
from ..errors import InputError
from ..latent.attributes import PROPERTIES, attribute_effect, attribute_walk, is_monotonic
from ..latent.maps import MAX_GRID, manifold, scatter_codes
from ..latent.paths import interpolate, step_distances
from ..latent.search import nearest_neighbors, save_latents
from ..latent.traverse import dimension_order, factors_carried, latent_statistics, traverse
from ..run import OUTPUTS, Run
from ..viz.grid import as_images, save_grid, save_labelled_rows
from .options import add_run_argument, default_of, floats, ints
from .output import add_out, out_path, writable

EXAMPLES = {
    "interpolate": """examples:
  vaelab interpolate runs/demo --from 3 --to 7 --steps 10 --out path.png     # test examples 3 and 7
  vaelab interpolate runs/demo --from a.png --to b.png --slerp --out path.png""",
    "traverse": """examples:
  vaelab traverse runs/demo --out sweep.png                    # every dimension, most informative first
  vaelab traverse runs/demo --dims 0,5 --span 2 --steps 7 --from 12 --out sweep.png""",
    "attribute": """examples:
  vaelab attribute runs/demo --attribute ink --alpha -2,-1,0,1,2 --out thick.png    # thick minus thin strokes
  vaelab attribute runs/demo --attribute label:7 --examples 0,1,2 --out sevens.png
  vaelab attribute runs/faces --attribute Smiling --attributes-file list_attr_celeba.txt --out smile.png""",
    "encode": """examples:
  vaelab encode runs/demo --out latents.npz                  # the run's test split: mu, logvar, labels
  vaelab encode runs/demo --data idx:~/fashion --split train --out fashion.npz""",
    "neighbors": """examples:
  vaelab neighbors runs/demo --query 0 --k 8 --out nn.png      # test example 0 against the training set
  vaelab neighbors runs/demo --query my_digit.png --k 8 --out nn.png""",
    "map": """examples:
  vaelab map runs/demo --out codes.png                       # test codes, PCA when the latent is not 2-D
  vaelab map runs/mnist-2d --manifold manifold.png --out codes.png""",
}
STATISTICS_EXAMPLES = 2000  # examples behind a traversal's KL per dimension
ATTRIBUTE_EXAMPLES = 10_000  # training codes behind an attribute vector


def register(commands) -> None:
    i = commands.add("interpolate", "Decode the latent path between two examples into a row of images.",
                     EXAMPLES["interpolate"], run_interpolate)
    add_run_argument(i)
    i.add_argument("--from", dest="a", required=True, help="an index of --split or an image file")
    i.add_argument("--to", dest="b", required=True, help="an index of --split or an image file")
    i.add_argument("--steps", type=int, default=default_of(interpolate, "steps"),
                   help="decoded frames, endpoints included")
    i.add_argument("--slerp", action="store_true", help="spherical instead of linear interpolation")
    _example_options(i, "interpolation")

    t = commands.add("traverse", "Sweep each latent dimension in turn, most informative (highest KL) first.",
                     EXAMPLES["traverse"], run_traverse)
    add_run_argument(t)
    t.add_argument("--dims", type=ints, help="dimensions to draw, e.g. 0,3,5 (default: all, sorted by KL)")
    t.add_argument("--span", type=float, default=default_of(traverse, "span"), help="sweep from -span to +span")
    t.add_argument("--steps", type=int, default=default_of(traverse, "steps"), help="images per dimension")
    t.add_argument("--from", dest="a", help="hold the other dimensions at mu of this example (default: zero)")
    _example_options(t, "traversal")

    a = commands.add("attribute", "Add an attribute vector mean(z | with) - mean(z | without) to examples' codes.",
                     EXAMPLES["attribute"], run_attribute)
    add_run_argument(a)
    a.add_argument("--attribute", required=True,
                   help="label:C (class C vs the rest), a measured property (ink: thick vs thin strokes, "
                        "top vs bottom quartile), or a column of --attributes-file")
    a.add_argument("--attributes-file", help="CelebA-style file (list_attr_celeba.txt) for a folder: run")
    a.add_argument("--alpha", type=floats, default=[-3.0, -1.5, 0.0, 1.5, 3.0], help="multiples of the vector to add")
    a.add_argument("--examples", type=ints, default=tuple(range(8)), help="test indices to draw (default 0..7)")
    a.add_argument("--measure", type=int, default=1000, help="test examples the printed figures average over")
    add_out(a, f"PNG file (default RUN/{OUTPUTS['attribute']})")

    e = commands.add("encode", "Write the posterior means, log-variances and labels of a split to an .npz file.",
                     EXAMPLES["encode"], run_encode)
    add_run_argument(e)
    e.add_argument("--split", default="test", choices=SPLITS)
    add_out(e, ".npz file", required=True)

    n = commands.add("neighbors", "Find an example's nearest neighbours in latent space (scikit-learn index).",
                     EXAMPLES["neighbors"], run_neighbors)
    add_run_argument(n)
    n.add_argument("--query", required=True, help="an index of --split or an image file")
    n.add_argument("--k", type=int, default=8, help="neighbours")
    n.add_argument("--index", default="train", choices=SPLITS, help="split to search")
    _example_options(n, "neighbors")

    m = commands.add("map", "Scatter a split's codes coloured by label; for a 2-D latent, also the decoded manifold.",
                     EXAMPLES["map"], run_map)
    add_run_argument(m)
    m.add_argument("--split", default="test", choices=SPLITS)
    m.add_argument("-n", type=int, default=5000, help="examples to plot")
    m.add_argument("--manifold", help="also write the decoded grid over Gaussian quantiles here (2-D latents)")
    m.add_argument("--grid", type=int, default=20, help="manifold images per side")
    add_out(m, f"PNG file (default RUN/{OUTPUTS['map']})")


def _example_options(p: argparse.ArgumentParser, output: str) -> None:
    p.add_argument("--split", default="test", choices=SPLITS, help="split the indices refer to")
    p.add_argument("--label", type=int, help="label of image-file examples, for conditional runs")
    add_out(p, f"PNG file (default RUN/{OUTPUTS[output]})")


# --- arguments -> examples -------------------------------------------------------------------------------
def _open(args, output: str):
    """(run, model, splits, out path), the output checked before anything is computed."""
    run = Run.open(args.run)
    out = out_path(args, run.output(output))
    return run, run.model(), run.data(args.data), out


def _example(spec: str, model, x, y, split: str, label: int | None):
    """An index of the split or an image file -> (x (1, *shape), y (1,) or None, a name for printing)."""
    if spec.lstrip("-").isdigit():
        i = int(spec)
        if not 0 <= i < len(x):
            raise InputError(f"index {i} is outside the {split} split (0..{len(x) - 1})")
        _refuse_label(model, label)
        return x[i:i + 1], (y[i:i + 1] if (y is not None and model.conditional) else None), f"{split} #{i}"
    path = Path(spec).expanduser()
    if not path.is_file():
        raise InputError(f"{spec!r} is neither an index of the {split} split (0..{len(x) - 1}) nor an image file")
    from ..data.folder import read_image

    if model.conditional and label is None:
        raise InputError(f"this run is conditional: give the label of {path.name} with --label")
    _refuse_label(model, label)
    crop = model.config.data.resize == "crop"
    return read_image(path, model.shape, crop)[None], (torch.tensor([label]) if label is not None else None), path.name


def _refuse_label(model, label) -> None:
    if label is not None and not model.conditional:
        raise InputError("--label is for conditional runs; this run is not conditional")


def _default_label(model, label):
    _refuse_label(model, label)
    return torch.tensor([label if label is not None else 0]) if model.conditional else None


# --- commands ------------------------------------------------------------------------------------------------
def run_interpolate(args) -> int:
    run, model, data, out = _open(args, "interpolation")
    x, y = data.split(args.split)
    xa, ya, name_a = _example(args.a, model, x, y, args.split, args.label)
    xb, yb, name_b = _example(args.b, model, x, y, args.split, args.label)
    frames, _ = interpolate(model, xa, xb, args.steps, args.slerp, ya, yb)
    d = step_distances(frames)
    row = torch.cat([xa.to(frames), frames, xb.to(frames)])  # the originals frame the decoded path
    save_grid(as_images(row), out, nrow=len(row))
    print(f"{'spherical' if args.slerp else 'linear'} path {name_a} -> {name_b}, {args.steps} frames: neighbouring "
          f"frames differ by mean {d.mean():.4f}, max {d.max():.4f} (mean absolute pixel difference)")
    print(f"wrote {out} (first and last images: the originals)")
    return 0


def run_traverse(args) -> int:
    run, model, data, out = _open(args, "traversal")
    x, y = data.split(args.split)
    y = y if model.conditional else None
    stats = latent_statistics(model, x[:STATISTICS_EXAMPLES], y[:STATISTICS_EXAMPLES] if y is not None else None)
    dims = list(args.dims) if args.dims else dimension_order(stats)
    if args.a is not None:
        xa, ya, name = _example(args.a, model, x, y, args.split, args.label)
        anchor = model.encode(xa, ya)[0][0]
    else:
        anchor, name, ya = torch.zeros(model.latent_dim), "z = 0", _default_label(model, args.label)
    rows = traverse(model, dims, anchor, args.span, args.steps, ya)
    measure = "KL" if model.stochastic else "var"
    labels = [f"z{d}  {measure} {float(stats['kl' if model.stochastic else 'mu_variance'][d]):.2f}"
              + ("" if stats["active"][d] else "  inactive") for d in dims]
    carried = factors_carried(model, data, args.split)
    if carried is not None:  # data with known factors: name what each active row moves
        labels = [f"{label}  {carried[d][0]} (MI {carried[d][1]:.2f})" if stats["active"][d] else label
                  for label, d in zip(labels, dims)]
    header = f"each row: one dimension from -{args.span:g} to +{args.span:g}; the others at {name}"
    save_labelled_rows(as_images(rows.reshape(-1, *rows.shape[2:])).reshape(rows.shape), labels, out, header)
    print(f"{len(dims)} dimensions drawn, most informative first; {int(stats['active'].sum())} of {model.latent_dim} "
          f"active (variance of mu over {min(len(x), STATISTICS_EXAMPLES)} {args.split} examples > 0.01)")
    for d in dims[:10]:
        print(f"  z{d}: KL {float(stats['kl'][d]):.3f} nats, var(mu) {float(stats['mu_variance'][d]):.3f}"
              + ("" if stats["active"][d] else "  (inactive)")
              + (f", most information about {carried[d][0]} ({carried[d][1]:.3f} nats)"
                 if carried and stats["active"][d] else ""))
    print(f"wrote {out}")
    return 0


def run_attribute(args) -> int:
    if len(args.alpha) < 2 or not all(math.isfinite(a) for a in args.alpha):
        raise InputError("give at least two finite --alpha values, e.g. --alpha -2,0,2")
    if args.measure < 1:
        raise InputError(f"--measure must be at least 1, got {args.measure}")
    run, model, data, out = _open(args, "attribute")
    walk = attribute_walk(model, data, args.attribute, list(args.examples), args.alpha, args.attributes_file,
                          ATTRIBUTE_EXAMPLES, progress=True)
    rows, v = walk["rows"], walk["vector"]
    header = f"{args.attribute}: z + alpha v, alpha = {', '.join(f'{a:g}' for a in args.alpha)}"
    save_labelled_rows(as_images(rows.reshape(-1, *rows.shape[2:])).reshape(rows.shape),
                       [f"test #{i}" for i in args.examples], out, header)
    print(f"attribute {args.attribute}: vector from {walk['with']} training codes with it and "
          f"{walk['without']} without; |v| = {v.norm():.3f}")
    x_test, y_test = data.split("test")
    _print_effect(model, x_test[:args.measure], y_test[:args.measure] if y_test is not None else None, v, args)
    print(f"wrote {out}")
    return 0


def _print_effect(model, x, y, v, args) -> None:
    """How the decoded images change with alpha: the property (when measurable) and the class kept."""
    if len(x) == 0:
        return
    prop = args.attribute if args.attribute in PROPERTIES else "ink"
    judge = None
    if y is not None and model.config.data.name == "mnist":
        from ..metrics.classifier import digit_classifier

        judge = digit_classifier()
    effect = attribute_effect(model, x, y, v, args.alpha, prop, judge)
    print(f"over {len(x)} test examples:   alpha    mean {prop}" + ("   class kept" if judge else ""))
    for row in effect:
        kept = f"   {row['class_kept']:10.1%}" if judge else ""
        print(f"{'':>29}{row['alpha']:7.2f}   {row[prop]:10.4f}{kept}")
    if args.attribute in PROPERTIES:
        ok = is_monotonic([row[prop] for row in sorted(effect, key=lambda r: r["alpha"])])
        print(f"{prop} rises monotonically with alpha over {len(effect)} values: {'yes' if ok else 'NO'}")


def run_encode(args) -> int:
    out = out_path(args)
    model = Run.open(args.run).model()
    mu, logvar, y = model.encode_split(args.split, args.data, progress=True)
    save_latents(out, mu, logvar, y)
    print(f"encoded {len(mu)} {args.split} examples into {model.latent_dim} dimensions: {out} "
          f"(arrays mu, logvar{', labels' if y is not None else ''}; numpy.load reads it)")
    return 0


def run_neighbors(args) -> int:
    run, model, data, out = _open(args, "neighbors")
    x, y = data.split(args.split)
    xq, yq, name = _example(args.query, model, x, y, args.split, args.label)
    x_index, y_index = data.split(args.index)
    if not 1 <= args.k <= len(x_index):
        raise InputError(f"--k must be between 1 and the {args.index} split's size {len(x_index)}, got {args.k}")
    mu_index, _ = model.encode_all(x_index, y_index, progress=True, desc=f"encode {args.index}")
    mu_q, _ = model.encode(xq, yq)
    dist, idx = nearest_neighbors(mu_index.numpy(), mu_q.cpu().numpy(), args.k)
    save_grid(as_images(torch.cat([xq, x_index[torch.as_tensor(idx[0])]])), out, nrow=args.k + 1)
    print(f"{args.k} nearest {args.index} examples to {name} (Euclidean distance between posterior means):")
    for rank, (i, d) in enumerate(zip(idx[0].tolist(), dist[0].tolist()), 1):
        label = f"  label {int(y_index[i])}" if y_index is not None else ""
        print(f"  {rank:2d}. {args.index} #{i:<6d} distance {d:.3f}{label}")
    print(f"wrote {out} (first image: the query)")
    return 0


def run_map(args) -> int:
    if args.n < 1:
        raise InputError(f"-n must be at least 1, got {args.n}")
    run, model, data, out = _open(args, "map")
    if args.manifold:
        if model.latent_dim != 2:
            raise InputError(f"--manifold needs a 2-D latent; this run has {model.latent_dim} dimensions "
                             "(the scatter uses PCA for those)")
        if not 2 <= args.grid <= MAX_GRID:
            raise InputError(f"--grid must lie in 2..{MAX_GRID}, got {args.grid}")
        grid_out = writable(args.manifold, "manifold", replace=args.force)
    x, y = data.split(args.split)
    x, y = x[:args.n], (y[:args.n] if y is not None else None)
    mu, _ = model.encode_all(x, y)
    title = f"{run.path.name}: {len(x)} {args.split} examples"
    names = dict(enumerate(data.label_names)) if data.label_names else None  # class folders, text labels
    print(f"wrote {scatter_codes(mu.numpy(), y.numpy() if y is not None else None, out, title, names)}")
    if args.manifold:
        grid = manifold(model, args.grid, _default_label(model, None))
        print(f"wrote {save_grid(as_images(grid), grid_out, nrow=args.grid)} "
              f"(z1 left to right, z2 bottom to top, at Gaussian quantiles)")
    return 0
