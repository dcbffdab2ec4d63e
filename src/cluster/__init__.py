"""Running training jobs through launchers that start the processes themselves (submitit)."""

import warnings

# configs/hydra/launcher/submitit_{local,slurm}.yaml keep the plugin's preset names (so that
# `hydra/launcher=submitit_slurm` reads as the plugin documents it) and set every key. Hydra
# 1.3 then also checks them against the plugin's schema of the same name, and notes that this
# matching is deprecated: a note for plugin authors, not for users of this template. The entry
# points import this package (through src.pipeline) before Hydra composes, and so do the tasks
# of a submitit job before they compose their job's config.
warnings.filterwarnings(
    "ignore", message=r"\s*'hydra/launcher/submitit_\w+' is validated against ConfigStore schema"
)
