"""Tasks: what differs between classification and segmentation (tasks/base.py).

`task_for(dataset)` gives the task of a dataset (its `Dataset.task` and class count).
"""

from tavaal_jax.errors import ConfigError
from tavaal_jax.tasks.base import Task, per_image_mean
from tavaal_jax.tasks.classification import ClassificationTask
from tavaal_jax.tasks.segmentation import SegmentationTask

TASKS = {"classification": ClassificationTask, "segmentation": SegmentationTask}

__all__ = ["TASKS", "Task", "ClassificationTask", "SegmentationTask", "per_image_mean",
           "task_for"]


def task_for(dataset) -> Task:
  """The task of `dataset` (a data.Dataset): its `task` name with its number of classes."""
  if dataset.task not in TASKS:
    raise ConfigError(f"dataset {dataset.name!r} declares the unknown task {dataset.task!r}; "
                      f"known tasks: {', '.join(TASKS)}")
  return TASKS[dataset.task](num_classes=int(dataset.num_classes))
