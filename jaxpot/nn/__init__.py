"""Neural-network potentials: Behler–Parrinello (BPNN) and PaiNN, deep ensembles, training."""

from jaxpot.nn.bpnn import bpnn
from jaxpot.nn.painn import painn

__all__ = ["bpnn", "painn"]
