"""Configuration without Keras: the config engine, tasks, topologies, the model config and presets, where a model file is, and the training experiments."""
