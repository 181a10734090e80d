"""GAP fit settings from a gap_fit command line or a TOML file, both in gap_fit's names.

gap_fit command line (accepted verbatim, e.g. mlearn's or GAP-18's recipes)::

    at_file=train.xyz gap={soap l_max=8 n_max=8 atom_sigma=0.5 zeta=4 cutoff=5.4
    cutoff_transition_width=0.5 delta=1.0 n_sparse=1000 covariance_type=dot_product
    sparse_method=cur_points : distance_2b cutoff=5.0 ...} e0=-0.79
    default_sigma={0.01 0.05 0.01 1} sparse_jitter=1e-8 gp_file=si.xml

TOML (the same names; descriptors as tables)::

    at_file = "train.xyz"
    gp_file = "si.jaxpot"
    e0 = -0.79                      # or {Si = -0.79} or "average"
    default_sigma = [0.01, 0.05, 0.01, 1.0]
    [soap]
    cutoff = 5.4
    n_sparse = 1000
    [distance_2b]
    cutoff = 5.0

``gp_file=si.xml`` (gap_fit's habit) writes the jaxpot model file ``si.jaxpot`` and the GAP XML
``si.xml`` (:mod:`jaxpot.gap.xml_writer`, for quippy and LAMMPS ``pair_style quip``).

Keys jaxpot does not support raise :class:`ConfigError` naming every one of them; keys that
only steer gap_fit's own output or parallelism (verbosity, openmp_chunk_size, ...) are ignored.
"""

from __future__ import annotations

import dataclasses
import shlex
import tomllib
from typing import Any, NamedTuple

from jaxpot.gap.labels import PARAMETER_NAMES, LabelNames
from jaxpot.gap.settings import GapSettings, SoapSettings, TwoBodySettings, check_e0
from jaxpot.training.config import ConfigError


class FitJob(NamedTuple):
    """A parsed fit: settings, training file, output path (None: next to gp_file)."""

    settings: GapSettings
    at_file: str | None
    gp_file: str | None
    validation_file: str | None = None


#: gap_fit keys with no effect on the fitted model (output, parallelism, bookkeeping)
_IGNORED = {"verbosity", "openmp_chunk_size", "do_copy_at_file", "sparse_separate_file",
            "mpi_blocksize", "mpi_blocksize_rows", "mpi_blocksize_cols", "print_sparse_index",
            "template_file", "condition_number_norm", "linear_system_dump_file",
            "mpi_print_all", "export_covariance", "sparse_use_actual_gpcov",
            "sparsify_only_no_fit"}
_DESCRIPTOR_IGNORED = {"covariance_type", "add_species", "n_species", "species_z", "z", "z1",
                       "z2", "print_sparse_index", "sparse_file", "mark_sparse_atoms",
                       "unique_descriptor_tolerance", "unique_hash_tolerance"}


# ---------------------------------------------------------------------- command-line parsing
def split_braced(text: str) -> list[str]:
    """Split ``key=value`` tokens on whitespace, keeping ``{...}`` and quotes together."""
    tokens, depth, current, quote = [], 0, [], None
    for ch in text:
        if quote:
            current.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
            current.append(ch)
        elif ch == "{":
            depth += 1
            current.append(ch)
        elif ch == "}":
            depth -= 1
            if depth < 0:
                raise ConfigError(f"unbalanced '}}' in {text!r}")
            current.append(ch)
        elif ch.isspace() and depth == 0:
            if current:
                tokens.append("".join(current))
                current = []
        else:
            current.append(ch)
    if depth or quote:
        raise ConfigError(f"unbalanced braces or quotes in {text!r}")
    if current:
        tokens.append("".join(current))
    return tokens


def _unwrap(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == "{" and value[-1] == "}":
        return value[1:-1].strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def parse_pairs(text: str) -> dict[str, str]:
    """``k1=v1 k2={a b}`` -> {"k1": "v1", "k2": "{a b}"} (keys lower-cased)."""
    out = {}
    for token in split_braced(text):
        if "=" not in token:
            raise ConfigError(f"expected key=value, got {token!r}")
        key, value = token.split("=", 1)
        out[key.strip().lower()] = value
    return out


#: soap keys gap_fit (QUIP's descriptors) requires on a command line
_SOAP_MANDATORY = ("cutoff", "l_max", "n_max", "atom_sigma")


def parse_gap_fit(command_line: str | list[str]) -> FitJob:
    """Settings from a gap_fit command line (a string or argv list; a leading ``gap_fit``
    is skipped).  As in gap_fit, soap needs cutoff, l_max, n_max and atom_sigma, and zeta
    defaults to 1 (a TOML file's tables take jaxpot's defaults instead)."""
    if isinstance(command_line, (list, tuple)):
        command_line = " ".join(shlex.quote(t) if "=" not in t else t for t in command_line)
    text = command_line.strip()
    text = text.removeprefix("gap_fit")
    top = parse_pairs(text)
    if "gap" not in top:
        raise ConfigError("the gap_fit command line has no gap={...} descriptor")
    descriptors = []
    for part in _unwrap(top.pop("gap")).split(":"):
        words = part.strip().split(None, 1)
        if not words:
            continue
        name = words[0].lower()
        options = {k: _number_or_text(_unwrap(v))
                   for k, v in parse_pairs(words[1] if len(words) > 1 else "").items()}
        if name == "soap":  # gap_fit's own rules, not jaxpot's defaults (GapSettings())
            missing = [k for k in _SOAP_MANDATORY if k not in options]
            if missing:
                raise ConfigError(f"gap_fit command line: soap needs {missing} (mandatory in "
                                  "gap_fit too)")
            options.setdefault("zeta", 1)  # gap_fit's default exponent
        descriptors.append((name, options))
    values: dict[str, Any] = {}
    for key, value in top.items():
        raw = _unwrap(value)
        if key == "e0":
            values[key] = _parse_e0(raw)
        elif key in ("default_sigma",):
            values[key] = _numbers(raw.split(), f"gap_fit command line: default_sigma={{{raw}}}")
        elif key == "config_type_sigma":
            values[key] = _parse_config_type_sigma(raw)
        else:
            values[key] = _number_or_text(raw)
    return _job(values, descriptors, "gap_fit command line")


def _numbers(words, what: str) -> list[float]:
    """Each of ``words`` as a float; a word that is not a number is named."""
    out = []
    for word in words:
        try:
            out.append(float(word))
        except (TypeError, ValueError):
            raise ConfigError(f"{what}: {word!r} is not a number") from None
    return out


def _number_or_text(raw: str):
    low = raw.lower()
    if low in ("t", "true"):
        return True
    if low in ("f", "false"):
        return False
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        return float(raw)
    except ValueError:
        return raw


def _parse_e0(raw: str):
    if ":" not in raw:
        return _number_or_text(raw) if raw.lower() != "average" else "average"
    parts = raw.split(":")
    if len(parts) % 2:
        raise ConfigError(f"e0={{{raw}}}: expected Symbol:energy pairs")
    return {parts[i].strip(): _numbers([parts[i + 1]], f"gap_fit command line: e0={{{raw}}}")[0]
            for i in range(0, len(parts), 2)}


def _parse_config_type_sigma(raw: str) -> dict:
    parts = [p for p in raw.replace(" ", ":").split(":") if p]
    if len(parts) % 5:
        raise ConfigError(f"config_type_sigma={{{raw}}}: expected type:E:F:V:H groups")
    return {parts[i]: _numbers(parts[i + 1:i + 5],
                                f"config_type_sigma={{{raw}}}")
            for i in range(0, len(parts), 5)}


# ------------------------------------------------------------------------------ TOML files
def parse_toml(path: str) -> FitJob:
    """Settings from a TOML file in gap_fit's names (module docstring)."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"{path}: {err}") from None
    data = {k.lower(): v for k, v in data.items()}
    descriptors = []
    for name in ("soap", "distance_2b"):
        if name in data:
            table = data.pop(name)
            if not isinstance(table, dict):
                raise ConfigError(f"{path}: [{name}] must be a table")
            descriptors.append((name, {k.lower(): v for k, v in table.items()}))
    return _job(data, descriptors, path)


# ------------------------------------------------------------------------ to GapSettings
def _job(values: dict, descriptors: list, source: str) -> FitJob:
    values = dict(values)
    soap_settings = pair_settings = None
    _check_one_of_each(descriptors, source)
    for name, options in descriptors:
        if name == "soap":
            soap_settings = _descriptor(SoapSettings, options, f"{source}: soap")
        elif name == "distance_2b":
            opts = dict(options)
            if "theta_uniform" not in opts and "theta_fac" in opts:
                raise ConfigError(f"{source}: distance_2b theta_fac is not supported; give "
                                  "theta_uniform (Å)")
            pair_settings = _descriptor(TwoBodySettings, opts, f"{source}: distance_2b")
        else:
            raise ConfigError(f"{source}: descriptor {name!r} is not supported (soap, "
                              "distance_2b)")
    at_file = values.pop("at_file", None)
    gp_file = values.pop("gp_file", None)
    validation = values.pop("validation_file", None)
    names = {}
    for key, field in PARAMETER_NAMES.items():
        if key in values:
            v = values.pop(key)
            names[field] = None if str(v).lower() in ("none", "") else str(v)
    kw: dict[str, Any] = {}
    for key in ("e0", "default_sigma", "config_type_sigma", "sparse_jitter", "seed"):
        if key in values:
            kw[key] = values.pop(key)
    if "rnd_seed" in values:
        kw["seed"] = values.pop("rnd_seed")
        if isinstance(kw["seed"], bool) or not isinstance(kw["seed"], int):
            raise ConfigError(f"{source}: rnd_seed must be a whole number, got {kw['seed']!r:.80}")
    for key in ("sigma_per_atom", "kernel_regularisation_is_per_atom"):
        if key in values:
            kw["sigma_per_atom"] = _boolean(values.pop(key), key, source)
    if "e0" in kw:
        try:
            check_e0(kw["e0"])
        except ValueError as err:
            raise ConfigError(f"{source}: {err}") from None
    if isinstance(kw.get("config_type_sigma"), str):  # TOML: gap_fit's type:E:F:V:H string
        kw["config_type_sigma"] = _parse_config_type_sigma(kw["config_type_sigma"])
    offset = values.pop("e0_offset", 0.0)
    if isinstance(offset, bool) or not isinstance(offset, (int, float)):
        raise ConfigError(f"{source}: e0_offset must be a number (eV), got {offset!r:.80}")
    if offset and "e0" in kw:  # gap_fit: the reference energy is e0 + e0_offset
        e0 = kw["e0"]
        kw["e0"] = ({k: v + offset for k, v in e0.items()} if isinstance(e0, dict)
                    else float(e0) + offset)
    if "e0_method" in values:
        method = str(values.pop("e0_method")).lower()
        if method == "average":
            kw.setdefault("e0", "average")
        elif method != "isolated" or "e0" not in kw:
            raise ConfigError(f"{source}: e0_method={method} needs an explicit e0 "
                              "(jaxpot supports e0=<number|{Sym:E}> or e0_method=average)")
    if "core_param_file" in values or "core_ip_args" in values:
        raise ConfigError(f"{source}: core_param_file/core_ip_args (a QUIP baseline) is not "
                          "supported; fit a Δ-model with jaxpot.gap.fit(..., baseline=model)")
    if "default_sigma" in kw:
        sigma = kw["default_sigma"]
        words = sigma.split() if isinstance(sigma, str) else sigma
        if not isinstance(words, (list, tuple)):
            raise ConfigError(f"{source}: default_sigma needs four numbers {{energy force "
                              f"virial hessian}}, got {sigma!r:.80}")
        kw["default_sigma"] = tuple(_numbers(words, f"{source}: default_sigma"))
    unknown = sorted(k for k in values if k not in _IGNORED)
    if unknown:
        raise ConfigError(f"{source}: unsupported gap_fit keys {unknown}")
    if names:
        kw["names"] = LabelNames(**{**LabelNames()._asdict(), **names})
        kw["fit_virials"] = kw["names"].virial is not None or kw["names"].stress is not None
    if not descriptors:  # a config naming no descriptor: jaxpot's default ones
        soap_settings, pair_settings = GapSettings().soap, GapSettings().distance_2b
    try:
        settings = GapSettings(soap=soap_settings, distance_2b=pair_settings, **kw)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{source}: {err}") from None
    return FitJob(settings, at_file, gp_file, validation)


def _check_one_of_each(descriptors: list, source: str) -> None:
    """Refuse two descriptors of one kind: gap_fit fits a sum of both, jaxpot one of each."""
    names = [name for name, _ in descriptors]
    for name in sorted(set(names)):
        if names.count(name) > 1:
            raise ConfigError(
                f"{source}: gap={{...}} has {names.count(name)} {name} descriptors; gap_fit "
                f"fits one term per descriptor, jaxpot fits one {name} term (soap: one sparse "
                "set per centre species) plus at most one of the other kind. Keep one "
                f"{name} descriptor (merge their settings) so that the model is the one "
                "you asked for")


def _boolean(value, key: str, source: str) -> bool:
    """gap_fit's T/F (or true/false) as a bool; anything else is refused."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("t", "true"):
        return True
    if text in ("f", "false"):
        return False
    raise ConfigError(f"{source}: {key} must be T or F (true or false), got {value!r:.80}")


def _descriptor(cls, options: dict, where: str):
    fields = {f.name for f in dataclasses.fields(cls)}
    opts = {k: v for k, v in options.items() if k not in _DESCRIPTOR_IGNORED}
    cov = str(options.get("covariance_type", "")).lower()
    wanted = "dot_product" if cls is SoapSettings else "ard_se"
    if cov and cov != wanted:
        raise ConfigError(f"{where}: covariance_type={cov} is not supported ({wanted})")
    if str(options.get("add_species", "T")).lower() in ("f", "false") or options.get(
            "add_species") is False:
        raise ConfigError(f"{where}: add_species=F (one descriptor for all centre species) is "
                          "not supported")
    unknown = sorted(k for k in opts if k not in fields)
    if unknown:
        raise ConfigError(f"{where}: unsupported keys {unknown}")
    if "sparse_method" in opts:  # gap_fit's "none": every (distinct) environment
        method = str(opts["sparse_method"]).lower()
        opts["sparse_method"] = "all" if method == "none" else method
    try:
        return cls(**opts)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}: {err}") from None
