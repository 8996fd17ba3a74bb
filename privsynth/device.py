"""Which torch device a run computes on: ``auto`` (CUDA when torch sees one, else the CPU), ``cpu``,
``cuda`` or ``cuda:N``. One place decides, so the encoder, the bridge and the auditor agree."""

from __future__ import annotations

import re

from privsynth.errors import UserError

CHOICES = ("auto", "cpu", "cuda")


def resolve(device: str | None) -> str:
    """The concrete device for DEVICE (None means auto). Asking for CUDA where there is none is a
    user error naming what torch sees, not a silent fall back to a run many times slower."""
    name = (device or "auto").strip().lower()
    if name == "cpu":
        return "cpu"
    if name != "auto" and not re.fullmatch(r"cuda(:\d+)?", name):
        raise UserError(f"--device must be auto, cpu, cuda or cuda:N; got {device!r}")
    import torch

    available = torch.cuda.is_available()
    if name == "auto":
        return "cuda" if available else "cpu"
    if not available:
        raise UserError(f"--device {device}: torch sees no CUDA device here; use --device cpu (or auto)")
    index = int(name.split(":")[1]) if ":" in name else 0
    if index >= torch.cuda.device_count():
        raise UserError(f"--device {device}: torch sees {torch.cuda.device_count()} CUDA device(s)")
    return name
