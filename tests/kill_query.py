r"""The query command with a hook that SIGKILLs this process at a named point of a round.

  python -m tests.kill_query --kill_at=train@1 --config=configs/own_images.py ...

--kill_at=<point>@<round>: one of query_round.HOOK_POINTS and the round's number; the first
time the round reaches that point, the process kills itself. For the kill-and-rerun test.
"""

from tavaal_jax import query
from tavaal_jax.labeling import query_round
from tests.kill_main import KillAtFlag

if __name__ == "__main__":
  query.run_cli(hooks=[KillAtFlag(query_round.HOOK_POINTS)])
