"""The latent-space commands: interpolate, traverse, attribute, encode, neighbors, map.

Each is a thin layer over a function of `vaelab.latent`; this module only turns arguments into
tensors (test-set indices or image files), draws the pictures and prints the figures.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from .errors import VaelabError

EPILOGS = {
    "interpolate": """examples:
  vaelab interpolate runs/demo --from 3 --to 7 --steps 10 --out path.png     # test examples 3 and 7
  vaelab interpolate runs/demo --from a.png --to b.png --slerp --out path.png""",
    "traverse": """examples:
  vaelab traverse runs/demo --out traverse.png                 # every dimension, most informative first
  vaelab traverse runs/demo --dims 0,5 --span 2 --steps 7 --from 12 --out traverse.png""",
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
  vaelab map runs/demo --out map.png                         # test codes, PCA when the latent is not 2-D
  vaelab map runs/mnist-2d --manifold manifold.png --out map.png""",
}


def _floats(text: str) -> list[float]:
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def add_commands(command, ints) -> None:
    """Register the latent commands; `command(name, help)` makes a subparser with the epilog of `name`."""
    i = command("interpolate", "Decode the latent path between two examples into a row of images.")
    i.add_argument("run", help="run folder")
    i.add_argument("--from", dest="a", required=True, help="a test-set index or an image file")
    i.add_argument("--to", dest="b", required=True, help="a test-set index or an image file")
    i.add_argument("--steps", type=int, default=10, help="decoded frames, endpoints included (default 10)")
    i.add_argument("--slerp", action="store_true", help="spherical instead of linear interpolation")
    _example_options(i)
    i.add_argument("--out", help="PNG file (default RUN/interpolation.png)")

    t = command("traverse", "Sweep each latent dimension in turn, most informative (highest KL) first.")
    t.add_argument("run", help="run folder")
    t.add_argument("--dims", type=ints, help="dimensions to draw, e.g. 0,3,5 (default: all, sorted by KL)")
    t.add_argument("--span", type=float, default=3.0, help="sweep from -span to +span (default 3)")
    t.add_argument("--steps", type=int, default=9, help="images per dimension (default 9)")
    t.add_argument("--from", dest="a", help="hold the other dimensions at mu of this example (default: zero)")
    _example_options(t)
    t.add_argument("--out", help="PNG file (default RUN/traversal.png)")

    a = command("attribute", "Add an attribute vector mean(z | with) - mean(z | without) to examples' codes.")
    a.add_argument("run", help="run folder")
    a.add_argument("--attribute", required=True,
                   help="label:C (class C vs the rest), a measured property (ink: thick vs thin strokes, "
                        "top vs bottom quartile), or a column of --attributes-file")
    a.add_argument("--attributes-file", help="CelebA-style file (list_attr_celeba.txt) for a folder: run")
    a.add_argument("--alpha", type=_floats, default=[-3.0, -1.5, 0.0, 1.5, 3.0],
                   help="multiples of the vector to add (default -3,-1.5,0,1.5,3)")
    a.add_argument("--examples", type=ints, default=tuple(range(8)), help="test indices to draw (default 0..7)")
    a.add_argument("--measure", type=int, default=1000,
                   help="test examples the printed figures average over (default 1000)")
    a.add_argument("--out", help="PNG file (default RUN/attribute.png)")

    e = command("encode", "Write the posterior means, log-variances and labels of a split to an .npz file.")
    e.add_argument("run", help="run folder")
    e.add_argument("--data", help="another dataset spec (mnist, idx:DIR, folder:DIR); default: the run's own")
    e.add_argument("--split", default="test", choices=["train", "val", "test"])
    e.add_argument("--out", required=True, help=".npz file")

    n = command("neighbors", "Find an example's nearest neighbours in latent space (scikit-learn index).")
    n.add_argument("run", help="run folder")
    n.add_argument("--query", required=True, help="a test-set index or an image file")
    n.add_argument("--k", type=int, default=8, help="neighbours (default 8)")
    n.add_argument("--index", default="train", choices=["train", "val", "test"],
                   help="split to search (default train)")
    _example_options(n)
    n.add_argument("--out", help="PNG file: the query, then its neighbours (default RUN/neighbors.png)")

    m = command("map", "Scatter the test codes coloured by label; for a 2-D latent, also the decoded manifold.")
    m.add_argument("run", help="run folder")
    m.add_argument("--split", default="test", choices=["train", "val", "test"])
    m.add_argument("-n", type=int, default=5000, help="examples to plot (default 5000)")
    m.add_argument("--manifold", help="also write the decoded grid over Gaussian quantiles here (2-D latents)")
    m.add_argument("--grid", type=int, default=20, help="manifold images per side (default 20)")
    m.add_argument("--out", help="PNG file (default RUN/latent_map.png)")


def _example_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--split", default="test", choices=["train", "val", "test"],
                   help="split the indices refer to (default test)")
    p.add_argument("--label", type=int, help="label of image-file examples, for conditional runs")


# --- arguments -> tensors ----------------------------------------------------------------------------
def _run(path):
    from .cli_common import load_run
    from .data import load_splits

    model = load_run(path)
    return model, load_splits(model.run_config.data)


def _example(spec: str, model, x, y, split: str, label: int | None):
    """A test-set index or an image file -> (x (1, *shape), y (1,) or None, a name for printing)."""
    import torch

    if spec.lstrip("-").isdigit():
        i = int(spec)
        if not 0 <= i < len(x):
            raise VaelabError(f"index {i} is outside the {split} split (0..{len(x) - 1})")
        _refuse_label_on_unconditional(model, label)
        y_i = y[i:i + 1] if (y is not None and model.conditional) else None
        return x[i:i + 1], y_i, f"{split} #{i}"
    path = Path(spec).expanduser()
    if not path.is_file():
        raise VaelabError(f"{spec!r} is neither an index of the {split} split (0..{len(x) - 1}) nor an image file")
    from .data.folder import read_image

    image = read_image(path, model.shape)[None]
    if model.conditional and label is None:
        raise VaelabError(f"this run is conditional: give the label of {path.name} with --label")
    _refuse_label_on_unconditional(model, label)
    return image, (torch.tensor([label]) if label is not None else None), path.name


def _out(args, default: str) -> Path:
    from .cli_common import writable_path

    return writable_path(args.out or Path(args.run) / default)


# --- commands ---------------------------------------------------------------------------------------
def cmd_interpolate(args) -> int:
    import torch

    from .cli_common import as_images
    from .latent.paths import interpolate, step_distances
    from .viz.grid import save_grid

    model, data = _run(args.run)
    x, y = data.split(args.split)
    xa, ya, name_a = _example(args.a, model, x, y, args.split, args.label)
    xb, yb, name_b = _example(args.b, model, x, y, args.split, args.label)
    frames, _ = interpolate(model, xa, xb, args.steps, args.slerp, ya, yb)
    d = step_distances(frames)
    row = torch.cat([xa.to(frames), frames, xb.to(frames)])  # the originals frame the decoded path
    out = save_grid(as_images(row), _out(args, "interpolation.png"), nrow=len(row))
    kind = "spherical" if args.slerp else "linear"
    print(f"{kind} path {name_a} -> {name_b}, {args.steps} frames: neighbouring frames differ by "
          f"mean {d.mean():.4f}, max {d.max():.4f} (mean absolute pixel difference)")
    print(f"wrote {out} (first and last images: the originals)")
    return 0


def cmd_traverse(args) -> int:
    import torch

    from .cli_common import as_images
    from .latent.traverse import dimension_order, latent_statistics, traverse
    from .viz.grid import save_labelled_rows

    model, data = _run(args.run)
    x, y = data.split(args.split)
    y = y if model.conditional else None
    stats = latent_statistics(model, x[:2000], y[:2000] if y is not None else None)
    order = dimension_order(stats)
    dims = list(args.dims) if args.dims else order
    if args.a is not None:
        xa, ya, name = _example(args.a, model, x, y, args.split, args.label)
        anchor = model.encode(xa, ya)[0][0]
    else:
        anchor, name = torch.zeros(model.latent_dim), "z = 0"
        ya = _default_label(model, args.label)
    rows = traverse(model, dims, anchor, args.span, args.steps, ya)
    vae = model.config.stochastic
    labels = [f"z{d}  {'KL' if vae else 'var'} {float(stats['kl' if vae else 'mu_variance'][d]):.2f}"
              + ("" if stats["active"][d] else "  inactive") for d in dims]
    carried = _factors_carried(model, data, args.split)
    if carried is not None:  # data with known factors: name what each active row moves
        labels = [f"{label}  {carried[d][0]} (MI {carried[d][1]:.2f})" if stats["active"][d] else label
                  for label, d in zip(labels, dims)]
    header = f"each row: one dimension from -{args.span:g} to +{args.span:g}; the others at {name}"
    out = save_labelled_rows(as_images(rows.reshape(-1, *rows.shape[2:])).reshape(rows.shape), labels,
                             _out(args, "traversal.png"), header)
    active = int(stats["active"].sum())
    print(f"{len(dims)} dimensions drawn, most informative first; {active} of {model.latent_dim} active "
          f"(variance of mu over {min(len(x), 2000)} {args.split} examples > 0.01)")
    for d in dims[:min(len(dims), 10)]:
        print(f"  z{d}: KL {float(stats['kl'][d]):.3f} nats, var(mu) {float(stats['mu_variance'][d]):.3f}"
              + ("" if stats["active"][d] else "  (inactive)")
              + (f", most information about {carried[d][0]} ({carried[d][1]:.3f} nats)"
                 if carried and stats["active"][d] else ""))
    print(f"wrote {out}")
    return 0


def _factors_carried(model, data, split: str, n: int = 5000):
    """Per dimension, (factor, MI in nats) on up to n examples of a split of data with known factors; else None."""
    from .latent.search import encode_all
    from .metrics.disentanglement import dimension_factors

    if data.factors is None:
        return None
    x, _ = data.split(split)
    return dimension_factors(encode_all(model, x[:n])[0].numpy(), data.factors[split][:n].numpy(), data.factor_names)


def _refuse_label_on_unconditional(model, label) -> None:
    if label is not None and not model.conditional:
        raise VaelabError("--label is for conditional runs; this run is not conditional")


def _default_label(model, label):
    import torch

    _refuse_label_on_unconditional(model, label)
    if model.conditional:
        return torch.tensor([label if label is not None else 0])
    return None


def cmd_attribute(args) -> int:

    from .cli_common import as_images
    from .latent.attributes import PROPERTIES, apply_vector, attribute_vector, measure, quartile_masks
    from .latent.search import encode_all
    from .viz.grid import save_labelled_rows

    if len(args.alpha) < 2:
        raise VaelabError("give at least two --alpha values, e.g. --alpha -2,0,2")
    model, data = _run(args.run)
    x_train, y_train = data.split("train")
    x_train, y_train = x_train[:10000], (y_train[:10000] if y_train is not None else None)
    mu, _ = encode_all(model, x_train, y_train)
    name = args.attribute
    if name.startswith("label:"):
        if y_train is None:
            raise VaelabError("this run's data has no labels, so label:C is not an attribute here")
        c = _int_after(name, "label:")
        if not (y_train == c).any():
            raise VaelabError(f"no training example has label {c} (labels are {int(y_train.min())}..{int(y_train.max())})")
        with_a, without_a = y_train == c, y_train != c
    elif args.attributes_file:
        from .data.folder import attribute_mask, read_attribute_file

        if not data.files:
            raise VaelabError("--attributes-file needs a run trained on an image folder (--data folder:DIR)")
        names, files, values = read_attribute_file(args.attributes_file)
        has = attribute_mask(names, files, values, name, data.files["train"][:10000])
        with_a, without_a = has, ~has
    elif name in PROPERTIES:
        with_a, without_a = quartile_masks(measure(name, x_train))
    else:
        raise VaelabError(f"unknown attribute {name!r}: use label:C, one of the properties "
                          f"({', '.join(PROPERTIES)}), or a column of --attributes-file")
    v = attribute_vector(mu, with_a, without_a)
    x_test, y_test = data.split("test")
    for i in args.examples:
        if not 0 <= i < len(x_test):
            raise VaelabError(f"example {i} is outside the test split (0..{len(x_test) - 1})")
    picked = list(args.examples)
    y_cond = y_test if model.conditional else None
    z, _ = encode_all(model, x_test[picked], y_cond[picked] if y_cond is not None else None)
    rows = apply_vector(model, z, v, args.alpha, y_cond[picked] if y_cond is not None else None)
    labels = [f"test #{i}" for i in picked]
    header = f"{name}: z + alpha v, alpha = {', '.join(f'{a:g}' for a in args.alpha)}"
    out = save_labelled_rows(as_images(rows.reshape(-1, *rows.shape[2:])).reshape(rows.shape), labels,
                             _out(args, "attribute.png"), header)
    print(f"attribute {name}: vector from {int(with_a.sum())} training codes with it and {int(without_a.sum())} "
          f"without; |v| = {v.norm():.3f}")
    _attribute_figures(model, x_test[:args.measure], y_test[:args.measure] if y_test is not None else None,
                       v, args.alpha, name)
    print(f"wrote {out}")
    return 0


def _attribute_figures(model, x, y, v, alphas, name) -> None:
    """Print how the decoded images change with alpha: the property (when measurable) and the class kept."""

    from .latent.attributes import PROPERTIES, apply_vector, is_monotonic, measure
    from .latent.search import encode_all

    if len(x) == 0:
        return
    y_cond = y if model.conditional else None
    z, _ = encode_all(model, x, y_cond)
    decoded = apply_vector(model, z, v, alphas, y_cond)  # (N, A, *shape)
    judge = _digit_judge(model, y)
    prop = name if name in PROPERTIES else "ink"
    values = []
    print(f"over {len(x)} test examples:   alpha    mean {prop}" + ("   class kept" if judge else ""))
    for j, a in enumerate(alphas):
        images = decoded[:, j]
        values.append(float(measure(prop, images).mean()))
        kept = f"   {float((judge.predict(images) == y).float().mean()):10.1%}" if judge else ""
        print(f"{'':>29}{a:7.2f}   {values[-1]:10.4f}{kept}")
    if name in PROPERTIES:
        order = sorted(range(len(alphas)), key=lambda j: alphas[j])
        ok = is_monotonic([values[j] for j in order])
        print(f"{prop} rises monotonically with alpha over {len(alphas)} values: {'yes' if ok else 'NO'}")


def _digit_judge(model, y):
    """The MNIST digit classifier, where it applies: runs trained on MNIST itself."""
    if y is None or model.run_config.data.name != "mnist":
        return None
    from .metrics.classifier import digit_classifier

    return digit_classifier()


def _int_after(text: str, prefix: str) -> int:
    try:
        return int(text[len(prefix):])
    except ValueError:
        raise VaelabError(f"expected {prefix}N with an integer N, got {text!r}") from None


def cmd_encode(args) -> int:
    from .cli_common import load_run, writable_path
    from .latent.search import encode_all, save_latents

    model, data = _run(args.run) if args.data is None else (load_run(args.run), _other_data(args.data))
    x, y = data.split(args.split)
    if tuple(x.shape[1:]) != tuple(model.shape):
        raise VaelabError(f"the run's model takes examples of shape {tuple(model.shape)}; "
                          f"{args.data or 'its data'} has {tuple(x.shape[1:])}")
    if model.conditional and y is None:
        raise VaelabError("this run is conditional and the data has no labels to condition on")
    mu, logvar = encode_all(model, x, y)
    out = save_latents(writable_path(args.out), mu, logvar, y)
    print(f"encoded {len(x)} {args.split} examples into {model.latent_dim} dimensions: {out} "
          f"(arrays mu, logvar{', labels' if y is not None else ''}; numpy.load reads it)")
    return 0


def _other_data(spec: str):
    from .cli_common import data_spec
    from .config import DataConfig
    from .data import load_splits

    name, path = data_spec(spec)
    return load_splits(DataConfig(name=name, path=path))


def cmd_neighbors(args) -> int:
    import torch

    from .cli_common import as_images
    from .latent.search import encode_all, nearest_neighbors
    from .viz.grid import save_grid

    model, data = _run(args.run)
    x, y = data.split(args.split)
    xq, yq, name = _example(args.query, model, x, y, args.split, args.label)
    x_index, y_index = data.split(args.index)
    if not 1 <= args.k <= len(x_index):
        raise VaelabError(f"--k must be between 1 and the {args.index} split's size {len(x_index)}, got {args.k}")
    mu_index, _ = encode_all(model, x_index, y_index)
    mu_q, _ = model.encode(xq, yq)
    dist, idx = nearest_neighbors(mu_index.numpy(), mu_q.cpu().numpy(), args.k)
    picked = torch.as_tensor(idx[0])
    out = save_grid(as_images(torch.cat([xq, x_index[picked]])), _out(args, "neighbors.png"), nrow=args.k + 1)
    print(f"{args.k} nearest {args.index} examples to {name} (Euclidean distance between posterior means):")
    for rank, (i, d) in enumerate(zip(idx[0].tolist(), dist[0].tolist()), 1):
        label = f"  label {int(y_index[i])}" if y_index is not None else ""
        print(f"  {rank:2d}. {args.index} #{i:<6d} distance {d:.3f}{label}")
    print(f"wrote {out} (first image: the query)")
    return 0


def cmd_map(args) -> int:
    from .cli_common import as_images
    from .latent.maps import manifold, scatter_codes
    from .latent.search import encode_all
    from .viz.grid import save_grid

    model, data = _run(args.run)
    if args.manifold and model.latent_dim != 2:
        raise VaelabError(f"--manifold needs a 2-D latent; this run has {model.latent_dim} dimensions "
                          "(the scatter uses PCA for those)")
    if args.n < 1:
        raise VaelabError(f"-n must be at least 1, got {args.n}")
    x, y = data.split(args.split)
    x, y = x[:args.n], (y[:args.n] if y is not None else None)
    mu, _ = encode_all(model, x, y)
    title = f"{Path(args.run).name}: {len(x)} {args.split} examples"
    out = scatter_codes(mu.numpy(), y.numpy() if y is not None else None, _out(args, "latent_map.png"), title)
    print(f"wrote {out}")
    if args.manifold:
        from .cli_common import writable_path

        if args.grid < 2:
            raise VaelabError(f"--grid must be at least 2, got {args.grid}")
        grid = manifold(model, args.grid, _default_label(model, None))
        print(f"wrote {save_grid(as_images(grid), writable_path(args.manifold), nrow=args.grid)} "
              f"(z1 left to right, z2 bottom to top, at Gaussian quantiles)")
    return 0


COMMANDS = {"interpolate": cmd_interpolate, "traverse": cmd_traverse, "attribute": cmd_attribute,
            "encode": cmd_encode, "neighbors": cmd_neighbors, "map": cmd_map}
