"""Device names: a name from a spec or `--device` in, None or what is wrong with it out (no torch).

One rule for the train block's `device` setting and the command line, so both
accept the same names and both suggest `cuda` for `gpu`.
"""
from __future__ import annotations

from typing import Optional

from ..errors import did_you_mean

DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
_PLAIN = ("auto", "cpu", "cuda", "mps")
_SYNONYMS = {"gpu": "cuda", "nvidia": "cuda", "cuda0": "cuda:0", "metal": "mps", "apple": "mps", "cpu0": "cpu"}


def known_device(name) -> bool:
    name = str(name)
    return name in _PLAIN or (name.startswith("cuda:") and name[5:].isdigit())


def suggest_device(name) -> str:
    """' Did you mean 'cuda'?' for gpu, a misspelling or a wrong case; '' when nothing is close."""
    lowered = str(name).lower().replace(" ", "")
    guess = _SYNONYMS.get(lowered) or (lowered if lowered in _PLAIN else None)
    return f" Did you mean '{guess}'?" if guess else did_you_mean(str(name), _PLAIN)


def device_problem(name) -> Optional[str]:
    """None for a known device; else an 'unknown device' sentence with a suggestion (for --device)."""
    if known_device(name):
        return None
    return f"unknown device '{name}'.{suggest_device(name)} Devices: {', '.join(DEVICES)}"


def device_setting_check(name) -> Optional[str]:
    """The same rule as an argument check for the train block's `device` setting."""
    return None if known_device(name) else "must be auto, cpu, cuda, cuda:N or mps." + suggest_device(name)
