"""The compressed file: a versioned header that names the model, then the coder's words.

    MAGIC (8 bytes) | header length (4, little-endian) | header (JSON) | CRC-32 of the words (4) | words

The header holds the format version, the run's fingerprint (a SHA-256 of its weights and of the
config sections the coding depends on), the images' count and shape, and what the arithmetic
depended on (torch version, CPU capability, threads) so a failed decode can say why. A file from
another model, a truncated or altered file and a file that is not ours are each refused in one
line before anything is decoded.
"""
from __future__ import annotations

import hashlib
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ResourceError

MAGIC = b"VAELAB\x00B"  # "B" for bits-back
VERSION = 1


def fingerprint(weights_file: Path, config) -> str:
    """SHA-256 over the weights file's bytes and the config's model and data sections: what the
    numbers of the code depend on (a resumed run's new epoch count does not change it)."""
    digest = hashlib.sha256(Path(weights_file).read_bytes())
    sections = {"model": config.to_dict()["model"], "data": config.to_dict()["data"]}
    digest.update(json.dumps(sections, sort_keys=True).encode())
    return digest.hexdigest()


def pack(header: dict[str, Any], words: np.ndarray) -> bytes:
    body = np.asarray(words, dtype="<u4").tobytes()
    meta = json.dumps({"version": VERSION, **header}, sort_keys=True).encode()
    return MAGIC + struct.pack("<I", len(meta)) + meta + struct.pack("<I", zlib.crc32(body)) + body


def unpack(data: bytes, where: str) -> tuple[dict[str, Any], np.ndarray]:
    """(header, words) of a compressed file; anything else is a ResourceError naming `where`."""
    if not data.startswith(MAGIC):
        raise ResourceError(f"{where} is not a file vaelab compress wrote")
    try:
        (length,) = struct.unpack_from("<I", data, len(MAGIC))
        start = len(MAGIC) + 4
        header = json.loads(data[start:start + length].decode("utf-8"))
        (crc,) = struct.unpack_from("<I", data, start + length)
    except (struct.error, UnicodeDecodeError, ValueError, RecursionError):
        raise ResourceError(f"{where} is truncated or damaged (its header cannot be read)") from None
    if not isinstance(header, dict) or header.get("version") != VERSION:
        raise ResourceError(f"{where} was written in another format version ({header.get('version')!r} "
                            f"where this vaelab reads {VERSION})" if isinstance(header, dict) else
                            f"{where} is damaged (its header is not an object)")
    body = data[start + length + 4:]
    if len(body) % 4 or zlib.crc32(body) != crc:
        raise ResourceError(f"{where} is truncated or damaged (its checksum does not match)")
    return header, np.frombuffer(body, dtype="<u4").astype(np.uint32)
