r"""Runs one experiment as N cooperating processes on this machine (CPU), as N hosts would.

  python launch/local_cpu.py --num_processes=2 -- --config=configs/digits.py --workdir=runs/mh

Every process runs `python -m tavaal_jax.main` with the arguments after `--` plus
--coordinator_address=127.0.0.1:PORT --num_processes=N --process_id=i; process 0 writes
the outputs. Exits with the first non-zero exit code of the processes.
"""

import argparse
import os
import socket
import subprocess
import sys
from typing import Callable, Dict, Optional, Sequence


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def launch(num_processes: int, main_args, devices_per_process: int = 1,
           timeout: float = None, module: str = "tavaal_jax.main",
           process_args: Callable[[int], Sequence[str]] = lambda i: (),
           env: Optional[Dict[str, str]] = None) -> int:
  """Starts the processes, waits for all, returns the first non-zero exit code (or 0).

  module: what each process runs with `python -m` (a wrapper of the driver, in tests);
  process_args(i): arguments for process i alone (e.g. its own --workdir, as on hosts with
  their own disks); env: the processes' environment (default: this one's).
  """
  port = free_port()
  env = dict(os.environ if env is None else env, JAX_PLATFORMS="cpu",
             XLA_FLAGS=f"--xla_force_host_platform_device_count={devices_per_process}")
  processes = [
      subprocess.Popen([sys.executable, "-m", module, *main_args, *process_args(i),
                        f"--coordinator_address=127.0.0.1:{port}",
                        f"--num_processes={num_processes}", f"--process_id={i}"], env=env)
      for i in range(num_processes)]
  codes = []
  try:
    codes = [p.wait(timeout=timeout) for p in processes]
  finally:
    for p in processes:
      if p.poll() is None:
        p.kill()
  return next((c for c in codes if c), 0)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--num_processes", type=int, default=2)
  parser.add_argument("--devices_per_process", type=int, default=1)
  parser.add_argument("main_args", nargs=argparse.REMAINDER,
                      help="arguments for tavaal_jax.main, after --")
  args = parser.parse_args()
  main_args = args.main_args[1:] if args.main_args[:1] == ["--"] else args.main_args
  sys.exit(launch(args.num_processes, main_args, args.devices_per_process))


if __name__ == "__main__":
  main()
