"""The ``example-json`` pose format: a pose as one small JSON document (``.facejson``)::

    {"format": "faceexpr-plugin-example",   # first, so that sniffing reads ~100 bytes
     "fps": 30.0, "units": "mm",
     "landmarks": ["nose1", ...],
     "cameras": ["front", "side"],           # optional: then frames hold one view per camera
     "frame": [0, 1, ...],                   # optional frame numbers
     "frames": [[[x, y, z], ...], ...],      # (time, [cameras,] landmarks, space); null: NaN
     "confidence": [[c, ...], ...]}          # optional, the shape of frames without space

Also the JSON helpers the other parts of the plugin share (plain ``json``, no pickles).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import xarray as xr

from faceexpr import FileFormatError, PoseFormat, make_pose
from faceexpr.data import get_fps

FORMAT = "faceexpr-plugin-example"
_HEAD = re.compile(r'\s*\{\s*"format"\s*:\s*"([^"\\]*)"')


def read_document(path: str | os.PathLike[str], tag: str) -> dict[str, Any]:
    """The JSON object in ``path``, whose ``"format"`` must be ``tag``."""
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileFormatError(f"{path}: not a JSON document: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != tag:
        raise FileFormatError(f"{path}: not a {tag!r} document (no \"format\": {tag!r})")
    return doc


def write_document(path: str | os.PathLike[str], doc: dict[str, Any]) -> None:
    """Write ``doc`` to ``path`` atomically: to a temporary file beside it, then rename."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
    try:
        with open(tmp, "x", encoding="utf-8") as fh:
            json.dump(doc, fh, allow_nan=False, separators=(",", ":"))
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def floats(nested: Any) -> npt.NDArray[np.float64]:
    """Nested JSON lists as a float array (``null`` becomes NaN)."""
    return np.array(nested, dtype=np.float64)


def nested(values: npt.ArrayLike) -> Any:
    """A float array as nested lists for JSON (NaN becomes ``null``)."""
    a = np.asarray(values, dtype=np.float64)
    out = a.astype(object)
    out[~np.isfinite(a)] = None
    return out.tolist()


def sniff_tag(path: Path) -> str | None:
    """The ``"format"`` of a JSON document that starts with that key, else ``None``."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(256).decode("utf-8", errors="replace")
    except OSError:
        return None
    match = _HEAD.match(head)
    return None if match is None else match.group(1)


class ExampleJsonFormat(PoseFormat):
    """A pose as a JSON document (see the module documentation); reads and writes."""

    name: ClassVar[str] = "example-json"
    suffixes: ClassVar[tuple[str, ...]] = (".facejson",)
    description: ClassVar[str] = "faceexpr-plugin-example pose (JSON)"
    signature: ClassVar[str] = f'a JSON document starting with {{"format": "{FORMAT}"'

    @classmethod
    def sniff(cls, path: Path) -> bool:
        return sniff_tag(path) == FORMAT

    @classmethod
    def read(cls, path: str | os.PathLike[str], **options: Any) -> xr.Dataset:
        fps = options.pop("fps", None)  # used when the file has none
        if options:
            raise TypeError(f"the {cls.name} format takes only fps, got {sorted(options)}")
        doc = read_document(path, FORMAT)
        try:
            confidence = doc.get("confidence")
            return make_pose(
                floats(doc["frames"]), [str(n) for n in doc["landmarks"]],
                None if confidence is None else floats(confidence),
                fps=doc["fps"] if doc.get("fps") is not None else fps,
                cameras=doc.get("cameras"), source_software=cls.name,
                source_files=[str(path)], units=str(doc.get("units", "unknown")),
                frame=doc.get("frame"))
        except (KeyError, TypeError, ValueError) as exc:
            raise FileFormatError(f"{path}: malformed {cls.name} file: {exc}") from exc

    @classmethod
    def can_write(cls, pose: xr.Dataset) -> bool:
        return True

    @classmethod
    def write(cls, pose: xr.Dataset, path: str | os.PathLike[str]) -> None:
        doc: dict[str, Any] = {
            "format": FORMAT, "fps": get_fps(pose), "units": str(pose.attrs.get("units", "")),
            "landmarks": [str(n) for n in pose["landmarks"].values]}
        if "cameras" in pose.dims:
            doc["cameras"] = [str(c) for c in pose["cameras"].values]
        doc["frame"] = [int(f) for f in pose["frame"].values]
        doc["frames"] = nested(pose["position"].values)
        doc["confidence"] = nested(pose["confidence"].values)
        write_document(path, doc)
