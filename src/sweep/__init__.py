"""W&B sweep files (``configs/sweep/``) read, turned into commands, and run offline by Optuna."""
