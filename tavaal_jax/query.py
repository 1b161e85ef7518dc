r"""One query round on your own images: train on the images labeled so far, pick the next
ones to label.

  python -m tavaal_jax.query --config=configs/own_images.py \
      --config.dataset.path=POOL --config.dataset.labels=LABELS.csv --workdir=W

POOL is a folder of images (searched recursively); LABELS.csv has a header `file,label` and
one row per labeled image (its path relative to POOL, its class name), or is a Label Studio
JSON export. The round writes W/round_<k>/to_label.csv (rank,file,score,predicted_label,
confidence), label_studio_tasks.json and picks.png, and a row of W/rounds.jsonl. Label the
picks, add them to LABELS.csv, and run the same command again: that is round k + 1. The same
labels redo the same round, with the same picks. See README "Label your own images".
"""

import functools
from typing import Sequence

from absl import app, flags, logging

from tavaal_jax import cli
from tavaal_jax.cli import exit_on_user_error, prepare_process
from tavaal_jax.labeling import query_round, round_outputs


def run(config, workdir: str, hooks: Sequence[query_round.Hook] = ()
        ) -> query_round.RoundResult:
  """One round (`query_round.run_round`) with bad input as one `error:` line and exit code
  2; prints where the round's files are and what to do next."""
  with exit_on_user_error():
    result = query_round.run_round(config, workdir, hooks)
  print(summary(config, result))
  return result


def summary(config, result: query_round.RoundResult) -> str:
  """What the round did, where its files are, and the next step."""
  row, folder = result.row, result.folder
  number = row["round"]
  lines = [f"round {number}{' (done again: the labels are unchanged)' if result.redone else ''}"
           f": trained on {row['num_labeled']} labeled images of {len(row['classes'])} "
           f"classes"
           + (f", held-out accuracy {row['test_accuracy']:.3f} on {row['test_count']} test "
              "images" if row.get("test_accuracy") is not None else "")]
  if result.unlabeled_picks and not result.redone:
    lines.append(f"{len(result.unlabeled_picks)} image(s) picked in round {number - 1} still "
                 "have no label; they went back to the pool")
  lines += [
      f"{config.strategy.name} picked {len(row['picks'])} of {row['num_candidates']} "
      "unlabeled images to label next:",
      f"  {folder}/{round_outputs.TO_LABEL}   (rank 1 first, with the model's guess)",
      f"  {folder}/{round_outputs.TASKS}   (Label Studio import, the guess pre-annotated;"
      f" labeling config: {round_outputs.LABELING_CONFIG})",
      f"  {folder}/{round_outputs.PICKS_PICTURE}"]
  if row["num_unreadable"]:
    lines.append(f"  {folder}/{round_outputs.UNREADABLE}   ({row['num_unreadable']} images "
                 "left out)")
  lines.append(f"next: add a row 'file,label' per picked image to {config.dataset.labels} (or "
               "export the Label Studio project as JSON and pass it as "
               f"--config.dataset.labels), then run this command again for round {number + 1}")
  return "\n".join(lines)


def main(argv, hooks: Sequence[query_round.Hook] = ()):
  """The query command; `hooks` go to `query_round.run_round` (see `run_cli`)."""
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  prepare_process()
  workdir = cli.workdir()
  logging.info("workdir: %s", workdir)
  run(cli.CONFIG.value, workdir, hooks)


def run_cli(hooks: Sequence[query_round.Hook] = ()) -> None:
  """Parses the command line and runs `main`; a program that wraps the command (e.g. the
  tests' kill-and-rerun) passes its hooks here."""
  flags.mark_flags_as_required(["config"])
  app.run(functools.partial(main, hooks=hooks))


if __name__ == "__main__":
  run_cli()
