"""Named training settings: `vaelab train --preset NAME`, `vaelab.fit(data, preset=NAME)`.

Each preset is a JSON file here: a description and options by their flag names (as `vaelab.fit`
takes them); options given on top of a preset win. The benchmarks train from these files, so a
published figure and a user's run of the same preset use the same settings.
"""
from __future__ import annotations

import json
from importlib import resources
from typing import Any

from ..errors import InputError


def names() -> list[str]:
    return sorted(p.name[:-len(".json")] for p in resources.files(__name__).iterdir() if p.name.endswith(".json"))


def preset(name: str) -> dict[str, Any]:
    """{"description": ..., "options": {...}} of a named preset."""
    if name not in names():
        raise InputError(f"unknown preset {name!r}; choose one of: {', '.join(names())}", "preset")
    return json.loads(resources.files(__name__).joinpath(f"{name}.json").read_text())


def options(name: str) -> dict[str, Any]:
    return dict(preset(name)["options"])
