"""Training: the distributed custom loop, its trainer, schedule and losses, checkpoints, logging, the demo's data.

Entry points: `python -m keras_durbm.train` (the CLI), `config.experiment.build_config` (the experiments
it runs) and `training.loop.train`. See docs/training.md.
"""
