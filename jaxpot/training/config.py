"""What every fit's configuration shares: one error type and the validation-split keys.

:class:`ConfigError` is the one error of a configuration that cannot be run (GAP's gap_fit
command line and TOML, ``jaxpot train`` configs, linear-model configs): ``jaxpot.gap``,
``jaxpot.nn.pipeline`` and ``jaxpot.linear.pipeline`` hand on this class under the same name.

:data:`SPLIT_RULES` are the keys of the validation split carved from the training frames
(:func:`jaxpot.training.splits.validation_carve`) with their checks, the same in every
family's settings (:class:`jaxpot.nn.TrainSettings`, :class:`jaxpot.training.lbfgs.LbfgsSettings`,
:class:`jaxpot.linear.LinearFitSettings`):

    validation_fraction   fraction of the training frames held out, in [0, 1) (default 0.1)
    stratify_validation   carve per config_type (true) or plainly at random (default true)
    seed                  seed of the carve (and of the fit's other random choices), >= 0
"""

from __future__ import annotations

from jaxpot.training.values import boolean, integer_rule, number_rule


class ConfigError(ValueError):
    """A fit configuration that cannot be run; the message names the offending key."""


#: the validation-split keys of every family's settings, each with its check
#: (value, name) -> value, or ValueError naming the key
SPLIT_RULES = {
    "validation_fraction": number_rule(low=0.0, high=1.0, high_open=True),
    "stratify_validation": boolean,
    "seed": integer_rule(0),
}

#: the names of :data:`SPLIT_RULES`
SPLIT_KEYS = tuple(SPLIT_RULES)
