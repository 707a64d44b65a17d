"""The lecture's math: pure functions of NumPy arrays (no files, processes, gymnasium or Config)."""
