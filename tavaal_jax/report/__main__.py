r"""Writes the report of one or many run dirs (see tavaal_jax/report/__init__.py).

  python -m tavaal_jax.report runs/sweep/random runs/sweep/tavaal --out runs/sweep/report
"""

import argparse
import logging
import sys

from tavaal_jax.errors import UserError
from tavaal_jax.report import make_report


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
      prog="python -m tavaal_jax.report",
      description="Tables, learning curves, ranker-loss curves and pick lists of AL runs.")
  parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                      help="a run's --workdir (holding results.jsonl); one per strategy, or "
                           "several per strategy with other seeds")
  parser.add_argument("--out", required=True, help="folder to write the report into")
  parser.add_argument("--max_images", type=int, default=16,
                      help="images shown per stage in the pick grids (default 16)")
  args = parser.parse_args(argv)
  logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
  if args.max_images < 1:
    print("error: --max_images must be positive", file=sys.stderr)
    return 2
  try:
    make_report(args.run_dirs, args.out, max_images=args.max_images)
  except UserError as error:
    print(f"error: {error}", file=sys.stderr)
    return 2
  return 0


if __name__ == "__main__":
  sys.exit(main())
