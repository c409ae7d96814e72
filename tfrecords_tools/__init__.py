"""Data for keras_durbm: dataset converters, degradation synthesis, TFRecord shards + manifest, and the
multi-task tf.data pipeline (docs/data.md). Importing the package loads nothing heavy."""
