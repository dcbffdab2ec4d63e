"""Training code: the LightningModules, their steps, optimisers, schedules and mixing."""
