"""argparse value types that check a number's range, so a bad value stops a command before any work.

argparse prefixes the message with the option (``argument --lr: -0.1 is out of range: give a number > 0``) and
exits with status 2, like every other bad input.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable


def _bounds(at_least: float | None, above: float | None, at_most: float | None, below: float | None) -> str:
    parts = [
        f">= {at_least:g}" if at_least is not None else "",
        f"> {above:g}" if above is not None else "",
        f"<= {at_most:g}" if at_most is not None else "",
        f"< {below:g}" if below is not None else "",
    ]
    return " and ".join(p for p in parts if p)


def count(minimum: int = 1) -> Callable[[str], int]:
    """A whole number >= ``minimum``: sizes, steps, seeds."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; give one >= {minimum}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is out of range: give a whole number >= {minimum}")
        return value

    parse.__name__ = f"whole number >= {minimum}"
    return parse


def number(
    *,
    at_least: float | None = None,
    above: float | None = None,
    at_most: float | None = None,
    below: float | None = None,
) -> Callable[[str], float]:
    """A finite number within the given bounds (``above``/``below`` exclude the bound itself)."""
    allowed = _bounds(at_least, above, at_most, below) or "finite"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number; give a number {allowed}") from None
        inside = (
            value == value
            and abs(value) != float("inf")
            and (at_least is None or value >= at_least)
            and (above is None or value > above)
            and (at_most is None or value <= at_most)
            and (below is None or value < below)
        )
        if not inside:
            raise argparse.ArgumentTypeError(f"{text} is out of range: give a number {allowed}")
        return value

    parse.__name__ = f"number {allowed}"
    return parse


def listed(item: Callable[[str], float]) -> Callable[[str], tuple]:
    """A comma-separated list of ``item`` values (at least one), each checked like a single value."""

    def parse(text: str) -> tuple:
        values = tuple(item(part.strip()) for part in text.split(",") if part.strip())
        if not values:
            raise argparse.ArgumentTypeError(f"{text!r} holds no value; give a comma-separated list, e.g. 1,2")
        return values

    parse.__name__ = f"comma-separated list of {item.__name__}"
    return parse


def device(text: str) -> str:
    """auto, cpu, cuda or cuda:N; a GPU that is not there is refused before any work, not at its first use."""
    kind, colon, index = text.partition(":")
    if text in ("auto", "cpu"):
        return text
    if kind != "cuda" or (colon and not index.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a device; give auto, cpu, cuda or cuda:N")
    import torch

    visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if int(index or 0) >= visible:
        seen = (
            f"only {visible} GPU(s) are visible (cuda:0 to cuda:{visible - 1})" if visible else "no CUDA GPU is visible"
        )
        raise argparse.ArgumentTypeError(f"{text} was asked but {seen}; give cpu or auto")
    return text


#: the types most options use: sizes and step counts, seeds and optional counts, rates and shares
POSITIVE = count(1)
NONNEGATIVE = count(0)
RATE = number(above=0)
SHARE = number(at_least=0, at_most=1)
