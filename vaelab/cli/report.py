"""`vaelab report` and `vaelab compare`: a run, or several side by side, as one self-contained HTML page."""
from __future__ import annotations

import argparse

from ..io import atomic_write_text
from ..report import build_comparison, build_report
from ..run import OUTPUTS, Run
from .options import add_run_argument
from .output import add_out, out_path

REPORT_EXAMPLES = f"""examples:
  vaelab report runs/demo                          # writes runs/demo/{OUTPUTS['report']}
  vaelab evaluate runs/demo --save && vaelab report runs/demo --out demo.html --force"""
COMPARE_EXAMPLES = """examples:
  vaelab compare runs/tcvae-s0 runs/tcvae-s1 runs/tcvae-s2 --out seeds.html
  vaelab compare runs/beta-* --out betas.html --force"""
REPORT_HELP = "Write a run as one self-contained HTML page (no network needed to open it)."
REPORT_DESCRIPTION = """Write a run as one self-contained HTML page (no network needed to open it): its config, learning
curves, saved evaluation, prior samples, reconstructions, a traversal of the most informative
dimensions and the latent map, and what an application saved in it (an anomaly detector's threshold
and ROC curve, molecules drawn with RDKit, disentanglement per factor)."""
COMPARE_HELP = "Write several runs side by side as one self-contained HTML page."
COMPARE_DESCRIPTION = """Write several runs side by side as one self-contained HTML page: the config fields that differ
(marked), the learning curves overlaid, the saved evaluations in one table, and prior samples of
each run drawn with the same seed."""


def register(commands) -> None:
    r = commands.add("report", REPORT_HELP, REPORT_EXAMPLES, run_report, description=REPORT_DESCRIPTION)
    add_run_argument(r)
    add_out(r, f"HTML file (default RUN/{OUTPUTS['report']}, replaced)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")

    c = commands.add("compare", COMPARE_HELP, COMPARE_EXAMPLES, run_compare, description=COMPARE_DESCRIPTION)
    c.add_argument("runs", nargs="+", metavar="RUN", help="two or more run folders")
    add_out(c, "HTML file to write", required=True)
    c.add_argument("--quiet", action="store_true", help="no progress bar")


def run_report(args: argparse.Namespace) -> int:
    run = Run.open(args.run)
    out = out_path(args, run.output("report"))
    page = build_report(run, args.data, progress=not args.quiet)
    atomic_write_text(out, page)
    print(f"wrote {out} ({len(page.encode()) / 1e6:.1f} MB; open it in any browser, no network needed)")
    return 0


def run_compare(args: argparse.Namespace) -> int:
    out = out_path(args)
    runs = [Run.open(path) for path in args.runs]
    page = build_comparison(runs, progress=not args.quiet)
    atomic_write_text(out, page)
    print(f"wrote {out}: {len(runs)} runs compared")
    return 0
