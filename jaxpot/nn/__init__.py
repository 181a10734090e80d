"""Neural-network potentials: Behler–Parrinello (BPNN), PaiNN, MACE-like; ensembles; training.

    from jaxpot.nn import bpnn, painn, train_model, TrainSettings
    result = train_model(painn(["Si"], 5.0), frames)        # or: jaxpot train CONFIG.toml
    ensemble_predict(result.model, frames)                    # mean and spread (ensembles)
"""

from jaxpot.nn.bpnn import bpnn
from jaxpot.nn.ensemble import calibrate, ensemble, ensemble_predict, members, pooled
from jaxpot.nn.mace import mace
from jaxpot.nn.painn import painn
from jaxpot.nn.pipeline import train
from jaxpot.nn.train import TrainingDivergedError, TrainSettings, train_model
from jaxpot.training.lbfgs import LbfgsSettings, train_lbfgs
from jaxpot.training.weights import LossWeights

__all__ = ["LbfgsSettings", "LossWeights", "TrainSettings", "TrainingDivergedError", "bpnn",
           "calibrate", "ensemble", "ensemble_predict", "mace", "members", "painn", "pooled",
           "train", "train_lbfgs", "train_model"]
