"""``jaxpot template [MODEL] [--output FILE]``: a family's config with every key, its default,
unit and a one-line doc (no MODEL: the registered families)."""

from __future__ import annotations

import os

NAME = "template"
HELP = "write a commented config with every key of a family and its default"
ORDER = 2


def arguments(p) -> None:
    p.add_argument("model", nargs="?", help="the family (model = ...); none: list the families")
    p.add_argument("--output", help="write the config here (default: print it)")
    p.add_argument("--force", action="store_true", help="replace an existing --output file")


def run(args) -> int:
    from jaxpot.training.families import families
    from jaxpot.training.fitting import template_text
    if args.model is None:
        for name, fam in families().items():
            print(f"{name:10s} {fam.doc}")
        return 0
    text = template_text(args.model)
    if args.output:
        from jaxpot.io.atomic_file import atomic_write
        if os.path.exists(args.output) and not args.force:
            raise FileExistsError(f"{args.output} exists: choose another path, or --force to "
                                  "replace it")
        with atomic_write(args.output, "w") as fh:
            fh.write(text)
        print(f"wrote {args.output} (check it with: jaxpot validate {args.output})")
    else:
        print(text, end="")
    return 0
