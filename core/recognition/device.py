"""Choosing the torch device the recognizer runs on.

``auto`` prefers an NVIDIA GPU (CUDA), then an Apple-silicon GPU (MPS, Metal Performance Shaders),
then the CPU. A user setting can force one of them; asking for a device this machine does not have
is an error with a readable message rather than a silent fallback, so a wrong setting is noticed.
"""

from __future__ import annotations

import torch

__all__ = ["DEVICE_CHOICES", "resolve_device", "available_devices"]

#: Names accepted by ``resolve_device`` (plus ``"cuda:N"``). ``"gpu"`` means CUDA, else MPS.
DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps", "gpu")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def available_devices() -> list[str]:
    """Device names usable on this machine, best first (e.g. ``["cuda", "cpu"]``)."""
    out = []
    if torch.cuda.is_available():
        out.append("cuda")
    if _mps_available():
        out.append("mps")
    out.append("cpu")
    return out


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """Turn a device setting into a ``torch.device``.

    Args:
        name: ``"auto"`` (or ``None``/``""``): CUDA if available, else MPS, else CPU;
            ``"cpu"``; ``"cuda"`` or ``"cuda:N"`` (GPU number N); ``"mps"``; ``"gpu"``: CUDA if
            available, else MPS. Case-insensitive; a ``torch.device`` is accepted too.
    Returns:
        the ``torch.device``.
    Raises:
        ValueError: an unknown name, or a device this machine does not have (the message lists the
            devices it does have).
    """
    if isinstance(name, torch.device):
        name = str(name)
    key = (name or "auto").strip().lower()
    have = available_devices()
    if key == "auto":
        return torch.device(have[0])
    if key == "cpu":
        return torch.device("cpu")
    if key == "gpu":
        for dev in ("cuda", "mps"):
            if dev in have:
                return torch.device(dev)
        raise ValueError("no GPU is available on this machine (neither CUDA nor Apple MPS); use device 'cpu' or 'auto'")
    if key == "mps":
        if not _mps_available():
            raise ValueError(f"device 'mps' (Apple GPU) is not available on this machine; available: {', '.join(have)}")
        return torch.device("mps")
    if key == "cuda" or key.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {key!r} (NVIDIA CUDA GPU) is not available on this machine; available: {', '.join(have)}"
            )
        index = 0
        if ":" in key:
            try:
                index = int(key.split(":", 1)[1])
            except ValueError:
                raise ValueError(f"bad CUDA device {name!r}; expected 'cuda' or 'cuda:N'") from None
        count = torch.cuda.device_count()
        if not 0 <= index < count:
            raise ValueError(
                f"CUDA device {index} does not exist; this machine has {count} (cuda:0 … cuda:{count - 1})"
            )
        return torch.device("cuda", index)
    raise ValueError(f"unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)} or 'cuda:N'")
