"""``jaxpot validate CONFIG.toml``: check a config and the files it names without fitting."""

from __future__ import annotations

from jaxpot.commands.fit import override_arguments

NAME = "validate"
HELP = "check a config and the files it names without fitting"
ORDER = 3


def arguments(p) -> None:
    p.add_argument("config", help="a TOML config, as jaxpot fit takes")
    override_arguments(p)


def run(args) -> int:
    from jaxpot.training.fitting import Overrides, input_files, validate_file
    fam, config = validate_file(args.config, Overrides(args.at_file, args.output, args.report,
                                                       args.test or ()))
    files = input_files(config)
    counts = ", ".join(f"{len(v)} {k} file{'s' if len(v) != 1 else ''}"
                       for k, v in files.items() if v)
    print(f"{args.config}: a valid {fam.name} config ({counts}; model file "
          f"{config['output']}, report {config['report'] or 'none'})")
    return 0
