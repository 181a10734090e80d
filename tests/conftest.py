"""Shared test set-up: float64 everywhere (physics checks), small shared structures."""

import jax

jax.config.update("jax_enable_x64", True)
