"""Which figures of a stage go to the metric writer, and at which steps.

A stage's results row (stage.run_stage) and its per-epoch training curves become scalars:
`train/<name>` per epoch, `adversary/<name>` per VAE/discriminator pass, `stage/<name>`
once per stage.
"""

from typing import Dict, List

from tavaal_jax.metrics_writer import MetricWriter

# Figures of a results row written per stage to the metric writer.
STAGE_SCALARS = ("num_labeled", "test_accuracy", "test_miou", "test_pixel_accuracy",
                 "test_loss", "train_loss", "ranking_loss", "ranker_spearman",
                 "independent_accuracy", "independent_miou", "disc_labeled_mean",
                 "disc_unlabeled_mean", "train_seconds", "select_seconds")
# Row fields holding one value per adversary pass.
_ADVERSARY_CURVES = ("vae_loss", "disc_loss")


def write_stage_metrics(writer: MetricWriter, config, step: int, row: Dict,
                        fit_epochs: Dict[str, List[float]], steps_per_second: float) -> None:
  """Per-epoch training curves at step (stage step) * epochs + epoch + 1, adversary losses
  per pass likewise, and the stage's figures at the stage step."""
  epochs = config.train.epochs
  for epoch in range(epochs):
    writer.write_scalars(step * epochs + epoch + 1, {
        f"train/{name}": values[epoch] for name, values in fit_epochs.items()
        if len(values) > epoch})
  for name in _ADVERSARY_CURVES:
    values = row.get(name)
    if isinstance(values, list):
      for i, value in enumerate(values):
        writer.write_scalars(step * len(values) + i + 1, {f"adversary/{name}": value})
  stage = {f"stage/{name}": row[name] for name in STAGE_SCALARS
           if isinstance(row.get(name), (int, float)) and not isinstance(row[name], bool)}
  for name in _ADVERSARY_CURVES:
    if isinstance(row.get(name), list) and row[name]:
      stage[f"stage/{name}"] = row[name][-1]
  stage["stage/train_steps_per_second"] = steps_per_second
  writer.write_scalars(step, stage)
  writer.flush()
