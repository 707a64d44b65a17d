"""What makes the algorithms practical: run directories, checkpoints, logs, processes, sweeps."""
