"""A run's life: its identity and directory, resume, the one-writer lock, stop signals, the
final validation, its loggers and the command line checked before Hydra runs it."""
