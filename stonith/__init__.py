"""stonith: fencing (STONITH) drivers and the engine that fences cluster nodes with them."""

# Monotonic time this process was launched as a ``stonith`` command, fence agent or Slurm program
# (set first thing by stonith.cli.main.start_clock); None when stonith runs inside another program.
# Here, not in stonith.contract.deadline: ``stonith -L`` must not pay for importing that.
launched: float | None = None
