"""Starting JAX on several hosts (processes) before anything touches a device.

One process per host (per GPU node, TPU VM worker, or CPU machine) runs the
same command. Where the launcher says nothing, `jax.distributed.initialize()`
detects the cluster itself (Cloud TPU pods, SLURM, Open MPI); elsewhere pass
--coordinator_address (host:port of process 0), --num_processes and
--process_id, or set JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and
JAX_PROCESS_ID. CPU-only processes exchange data over gloo.
"""

import os

import jax


def wants_distributed(coordinator_address: str | None) -> bool:
  """True when this process is one of several: explicit flags/env or a detected multi-task launcher."""
  if coordinator_address or os.environ.get("JAX_COORDINATOR_ADDRESS"):
    return True
  for count in ("SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE"):
    if int(os.environ.get(count, "1")) > 1:
      return True
  hosts = os.environ.get("TPU_WORKER_HOSTNAMES", "")
  return "," in hosts


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> None:
  """`jax.distributed.initialize` when several processes take part; a no-op for one."""
  if not wants_distributed(coordinator_address):
    return
  # Collectives between the CPU devices of different processes (GPUs and TPUs use their own).
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(coordinator_address=coordinator_address,
                             num_processes=num_processes, process_id=process_id)
