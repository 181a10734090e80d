"""Capacity ladders: the sizes neighbor-list capacities are rounded up to, so that structures
of similar density, and runs continued from one another, share compiled shapes."""

from __future__ import annotations


def ladder(k: int, minimum: int = 4) -> int:
    """Smallest of ``minimum``, then 1.5x / 4/3x steps (4, 6, 8, 12, 16, 24, 32, ... from 4)
    that is >= ``k``: a coarse set of sizes, so similar structures share compiled shapes."""
    size = minimum
    while size < k:
        size = size * 3 // 2 if size & (size - 1) == 0 else size * 4 // 3
    return size


def fine_ladder(k: int) -> int:
    """Smallest size >= ``k`` among multiples of 4 up to 64, then 16 steps per octave (at
    most 3 slots or 6.25 % above ``k``): runs of one system (an MD run continued by another)
    share compiled shapes at little extra padding."""
    if k <= 64:
        return max(4, -(-k // 4) * 4)
    step = 1 << (k.bit_length() - 5)
    return -(-k // step) * step


def rounded_capacity(k: int, on: bool | str) -> int:
    """``k`` rounded up as ``round_capacities`` asks: False (exact), True (:func:`ladder`) or
    ``"fine"`` (:func:`fine_ladder`)."""
    if on == "fine":
        return fine_ladder(k)
    return ladder(k) if on else k
