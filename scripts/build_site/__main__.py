"""python -m build_site [--force] [--no-bytecode] [--no-snapshot] [--site DIR] [--cache DIR]
[--recipe FILE]"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .assemble import ROOT, build_site
from .recipe import BuildError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/build-site", description=__doc__)
    parser.add_argument("--recipe", type=Path, default=ROOT / "build" / "browser.toml")
    parser.add_argument("--site", type=Path, default=ROOT / "dist" / "site")
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "site-build")
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    parser.add_argument("--no-bytecode", dest="compile_bytecode", action="store_false",
                        help="ship wheels as downloaded (slower start; no Node.js needed)")
    parser.add_argument("--no-snapshot", dest="snapshot", action="store_false", default=None,
                        help="leave out the start-up memory snapshot (the page starts plainly)")
    args = parser.parse_args(argv)
    try:
        build_site(args.recipe, args.site, args.cache, force=args.force,
                   compile_bytecode=args.compile_bytecode, snapshot=args.snapshot)
    except BuildError as error:
        print(f"build-site: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
