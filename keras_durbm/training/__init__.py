"""Training: the config tree, the distributed custom loop, checkpoints, logging and the embedded demo.

Entry points: `python -m keras_durbm.train` (the CLI), `training.config.build_config` and
`training.loop.train`. See docs/training.md.
"""
