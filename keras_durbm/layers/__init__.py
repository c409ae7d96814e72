"""Layers of the network, one public layer per module; importing registers them for `.keras` loading."""

from keras_durbm.layers.degradation_classifier import DegradationClassifier
from keras_durbm.layers.durb_m import DuRBM
from keras_durbm.layers.pixel_shuffle import PixelShuffle
from keras_durbm.layers.reflect_conv import ReflectConv2D
from keras_durbm.layers.reflect_pad import ReflectPad2D, reflect_pad_axis
from keras_durbm.layers.residual_attention_block import ResidualAttentionBlock
from keras_durbm.layers.tv_squeeze_excitation import TVSqueezeExcitation, total_variation

__all__ = [
    "DegradationClassifier",
    "DuRBM",
    "PixelShuffle",
    "ReflectConv2D",
    "ReflectPad2D",
    "ResidualAttentionBlock",
    "TVSqueezeExcitation",
    "reflect_pad_axis",
    "total_variation",
]
