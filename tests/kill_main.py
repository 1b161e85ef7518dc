r"""The driver with a hook that SIGKILLs this process at a named point of a stage.

  python -m tests.kill_main --kill_at=select@1 --config=configs/digits.py --workdir=...

--kill_at=<point>@<step>: one of experiment.HOOK_POINTS and the stage's checkpoint step
(trial * al.stages + stage); the first time the loop reaches that point of that stage, the
process kills itself, as a power cut or an OOM killer would. For the resume tests.
"""

import os
import signal

from absl import flags, logging

from tavaal_jax import experiment
from tavaal_jax import main as driver

_KILL_AT = flags.DEFINE_string("kill_at", None, "<point>@<checkpoint step> to SIGKILL at.")


class KillAt:
  """A hook (of experiment.run, or of the query rounds with their `points`) that SIGKILLs
  the process at (point, step)."""

  def __init__(self, spec: str, points=experiment.HOOK_POINTS):
    point, step = spec.split("@")
    if point not in points:
      raise ValueError(f"--kill_at point {point!r} is not one of {points}")
    self.point, self.step = point, int(step)

  def __call__(self, point: str, step: int) -> None:
    if (point, step) == (self.point, self.step):
      logging.warning("--kill_at=%s@%d: killing this process", point, step)
      os.kill(os.getpid(), signal.SIGKILL)


class KillAtFlag:
  """Reads --kill_at once the flags are parsed (app.run parses them before main runs)."""

  def __init__(self, points=experiment.HOOK_POINTS):
    self._hook = None
    self._points = points

  def __call__(self, point: str, step: int) -> None:
    if _KILL_AT.value is None:
      return
    if self._hook is None:
      self._hook = KillAt(_KILL_AT.value, self._points)
    self._hook(point, step)


if __name__ == "__main__":
  driver.run_cli(hooks=[KillAtFlag()])
