"""Restoring images with a trained network: one head on an image of any size (tiling), blind restoration (routing), and restoring a file."""
