"""Reports: one self-contained HTML page per run (`vaelab report`) and several runs side by side
(`vaelab compare`). Pictures are PNGs in data: URIs, the style is inline, there is no script: the
file opens anywhere, offline, and can be sent as it is."""
from .compare import build_comparison
from .run_report import build_report

__all__ = ["build_report", "build_comparison"]
