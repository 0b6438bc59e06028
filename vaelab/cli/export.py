"""`vaelab export`: a run's encoder and decoder as ONNX files, checked against PyTorch (vaelab.export)."""
from __future__ import annotations

from ..errors import InputError
from ..export import DECODER, ENCODER, FORMATS, MANIFEST, export_onnx
from ..run import OUTPUTS, Run

EXAMPLES = """examples:
  vaelab export runs/demo --format onnx --out exports/demo   # encoder.onnx, decoder.onnx, export.json
  vaelab export runs/cvae-8 --out exports/cvae-8 --force     # replace an earlier export's three files

  # then, with onnxruntime and numpy only (no PyTorch):
  python -c "import numpy as np, onnxruntime as ort; d = ort.InferenceSession('exports/demo/decoder.onnx'); \\
             print(d.run(['mean'], {'z': np.zeros((4, 32), np.float32)})[0].shape)"   # (4, 1, 28, 28)

Inputs and outputs (N is a dynamic batch axis):
  encoder.onnx  x (N, *shape) float32 [, y (N,) int64 label]  ->  mu, logvar (N, latent_dim)
  decoder.onnx  z (N, latent_dim) float32 [, y (N,) int64]    ->  mean (N, *shape): what model.decode
                gives (pixel probabilities for Bernoulli), and logits (Bernoulli types) or logvar (Gaussians)
Both files are run with onnxruntime at batch sizes 1 and 7 and compared with PyTorch before anything is
written: a difference above 1e-4 (for logits, 1e-4 x max(1, |logit|)) stops with an error. Molecule
(GRU) runs are refused: their decoder is autoregressive. Needs onnx and onnxruntime: pip install 'vaelab[export]'."""


def register(commands) -> None:
    e = commands.add("export", "Write a run's encoder and decoder as ONNX files (with a manifest), checked "
                               "against PyTorch with onnxruntime, to run them without PyTorch.", EXAMPLES, run)
    e.add_argument("run", help="run folder (images or tables; not molecules)")
    e.add_argument("--format", default="onnx", help="file format: onnx (the only one)")
    e.add_argument("--out", help=f"folder to create for {ENCODER}, {DECODER} and {MANIFEST} "
                                 f"(default RUN/{OUTPUTS['export']})")
    e.add_argument("--force", action="store_true",
                   help="write into an existing, non-empty folder, replacing those three files (others are kept)")


def run(args) -> int:
    # Checked here, not by argparse choices, so that a bad format is one line like every other refusal.
    if args.format not in FORMATS:
        raise InputError(f"unknown --format {args.format!r}; choose one of: {', '.join(FORMATS)}")
    out = args.out or Run.open(args.run).output("export")
    manifest = export_onnx(args.run, out, force=args.force)
    files = manifest["files"]

    def signature(part: str) -> str:
        names = lambda key: ", ".join(io["name"] for io in files[part][key])  # noqa: E731
        return f"{names('inputs')} -> {names('outputs')}"

    check = manifest["check"]
    differences = ", ".join(f"{name} {d:.1e}" for part in ("encoder", "decoder")
                            for name, d in check["max_abs_diff"][part].items())
    sizes = " and ".join(str(n) for n in check["batch_sizes"])
    print(f"wrote {out}: {ENCODER} ({signature('encoder')}), {DECODER} ({signature('decoder')}), {MANIFEST}")
    print(f"checked with onnxruntime {manifest['onnxruntime_version']} against PyTorch at batch sizes {sizes}: "
          f"max abs difference {differences} (tolerance {check['tolerance']:.0e})")
    return 0

