"""Which degradation an image has, from statistics of the image and of the encoder's first activation."""

import keras
from keras import ops

from keras_durbm.config.model import CLASSIFIER_STATISTICS
from keras_durbm.layers.serialization import serializable

#: JPEG's block size: the period whose phases the block statistic compares.
BLOCK = 8
EPSILON = 1e-3
#: Floor of the detail ratios' means, far below one grey level (1/255) so that faint detail keeps its ratios.
DETAIL_EPSILON = 1e-6
#: Side of the local minimum of the dark channel (He et al.'s haze prior), in pixels.
DARK_PATCH = 7
#: Scales (mean-pooling factors) of the grey image's detail statistics.
SCALES = (1, 2, 4)
#: Temperature of the soft minimum of the dark channel (a low quantile that one dark pixel cannot set).
SOFT_MIN_TEMPERATURE = 0.02
#: Length of the windows across and along which rain's near-vertical streaks stand out.
STREAK_WINDOW = 5
#: Statistics of the image itself: dark channel (mean and soft minimum), brightness, saturation, bright
#: detail, its excess over dark detail, streak orientation, and per axis three ratios of detail between scales.
IMAGE_STATISTICS = 7 + 3 * 2
#: How many image statistics each earlier version (`CLASSIFIER_STATISTICS`) read: its weights still load.
EARLIER_IMAGE_STATISTICS = {1: 11}
#: Weight of the past in the running feature statistics, once past the first 1 / (1 − MOMENTUM) steps.
MOMENTUM = 0.99
VARIANCE_EPSILON = 1e-3


def _direction_tv(x):
    """The absolute vertical and horizontal differences of NHWC `x`, per pixel and channel (their means are
    TV with β = 1, one per axis)."""
    dv = ops.abs(x[:, 1:, :, :] - x[:, :-1, :, :])
    dh = ops.abs(x[:, :, 1:, :] - x[:, :, :-1, :])
    return dv, dh


def blockiness(x, period: int = BLOCK):
    """Per channel: how much the differences at one phase (mod `period`) of rows and of columns exceed
    their mean over the phases, as log(max) − log(mean), summed over both axes; ≈ 0 for natural images,
    large for JPEG's block edges wherever the block grid lies. Needs H and W of at least `period` + 1."""
    dv, dh = _direction_tv(x)
    total = 0.0
    for d, axis in ((dv, 1), (dh, 2)):
        phases = ops.stack([ops.mean(d[:, p::period] if axis == 1 else d[:, :, p::period], axis=(1, 2))
                            for p in range(period)], axis=0)
        total = total + ops.log(ops.max(phases, axis=0) + EPSILON) - ops.log(ops.mean(phases, axis=0) + EPSILON)
    return total


def _log_mean(x, epsilon=EPSILON):
    """log(mean over H, W, C + `epsilon`) of NHWC `x` (squared values take `EPSILON`²)."""
    return ops.log(ops.mean(x, axis=(1, 2, 3)) + epsilon)


def image_statistics(image):
    """(N, `IMAGE_STATISTICS`) statistics of the RGB image itself, chosen to depend little on what it shows
    (ratios, logs of means; docs/evaluate-restore.md "Blind restoration" has the measurements):

    - haze (paper eq. 2 adds airlight `A (1 − t)` everywhere): the dark channel (per pixel the smallest colour
      value, then its minimum over a `DARK_PATCH`² window: ≈ 0 somewhere in almost every clean photograph),
      as its log mean and its log soft minimum (`SOFT_MIN_TEMPERATURE`), the log brightness and the log
      saturation (mean chroma over mean brightness: haze washes colour out);
    - rain (paper eq. 3 adds bright, thin, near-vertical streaks): the log mean square of the bright fine
      detail (grey image above its 3×3 mean), its log ratio to the dark detail's (alike in photographs), and
      the log ratio of the bright detail across (above a 1×`STREAK_WINDOW` mean) to along (above a
      `STREAK_WINDOW`×1 mean) the vertical;
    - motion blur: per axis, the log ratios of the grey image's mean absolute difference at scale 1 to
      scale 2 (2×2 means) and at scale 2 to scale 4, and of its root mean square difference at scale 1 to
      scale 2. Natural photographs' detail falls off slowly with scale; blur removes the finest scales
      first, and the mean square more than the mean (a blurred edge spreads its step over more pixels).
    """
    low, high = ops.min(image, axis=-1, keepdims=True), ops.max(image, axis=-1, keepdims=True)
    dark = -ops.max_pool(-low, DARK_PATCH, strides=1, padding="valid")
    soft_min = -SOFT_MIN_TEMPERATURE * ops.log(ops.mean(ops.exp(-dark / SOFT_MIN_TEMPERATURE), axis=(1, 2, 3)))
    brightness = _log_mean(high)
    features = [_log_mean(dark), ops.log(soft_min + EPSILON), brightness, _log_mean(high - low) - brightness]
    grey = ops.mean(image, axis=-1, keepdims=True)
    detail = grey - ops.average_pool(grey, 3, strides=1, padding="same")
    bright_detail = _log_mean(ops.square(ops.relu(detail)), EPSILON ** 2)
    features += [bright_detail, bright_detail - _log_mean(ops.square(ops.relu(-detail)), EPSILON ** 2)]
    across, along = (_log_mean(ops.square(ops.relu(grey - ops.average_pool(grey, window, strides=1, padding="same"))),
                               EPSILON ** 2)
                     for window in ((1, STREAK_WINDOW), (STREAK_WINDOW, 1)))
    features.append(across - along)
    mean_abs, root_mean_square = [], []
    for scale in SCALES:
        level = grey if scale == 1 else ops.average_pool(grey, scale, strides=scale, padding="valid")
        dv, dh = _direction_tv(level)
        mean_abs.append([_log_mean(dv, DETAIL_EPSILON), _log_mean(dh, DETAIL_EPSILON)])
        root_mean_square.append([0.5 * _log_mean(ops.square(dv), DETAIL_EPSILON ** 2),
                                 0.5 * _log_mean(ops.square(dh), DETAIL_EPSILON ** 2)])
    for axis in (0, 1):
        features += [mean_abs[0][axis] - mean_abs[1][axis], mean_abs[1][axis] - mean_abs[2][axis],
                     root_mean_square[0][axis] - root_mean_square[1][axis]]
    return ops.stack(features, axis=-1)


@serializable
class DegradationClassifier(keras.layers.Layer):
    """Softmax over the network's tasks plus `clean`, from `[image, first]`: the network's input and the
    encoder's first activation (full resolution).

    Features: the image's own `image_statistics` (dark channel, saturation, brightness, bright detail and
    its orientation, ratios of detail between scales: they tell haze from a low-contrast photograph, blur
    from a smooth one and rain from texture), and per channel of `first` its `blockiness` (JPEG's 8×8 block edges). Richer
    encoder statistics (per-channel means and total variations of the first two ReLUs, deeper
    DuRB-M outputs) fitted the few training photographs better and held-out ones worse
    (docs/evaluate-restore.md "Blind restoration" has the measurements). Features are standardised by
    running statistics (`standardise`), then classified by a small MLP (`hidden` = 0: a linear softmax).
    With `backprop=False` (the default) no gradient flows from the classifier into the encoder, so
    training it leaves restoration unchanged; the image statistics never pass one back.

    Args:
        classes: number of outputs (the model's tasks and `clean`).
        hidden: width of the hidden Dense layer (0: none).
        backprop: let the classifier's gradient reach the encoder.
        statistics: version of the image statistics (`CLASSIFIER_STATISTICS`). An earlier one builds the
            weights it was saved with, so the rest of its model loads, and outputs a uniform softmax;
            `keras_durbm.restoration.routing.check_classifier` refuses it and says how to add a current one.

    Example:
        >>> images = np.random.rand(2, 16, 16, 3).astype("float32")
        >>> probs = DegradationClassifier(5)([images, np.random.rand(2, 16, 16, 4).astype("float32")])
    """

    def __init__(self, classes: int, hidden: int = 64, backprop: bool = False,
                 statistics: int = CLASSIFIER_STATISTICS, **kwargs):
        super().__init__(**kwargs)
        if classes < 2 or hidden < 0:
            raise ValueError(f"classes must be >= 2 and hidden >= 0, got {classes}, {hidden}")
        if statistics != CLASSIFIER_STATISTICS and statistics not in EARLIER_IMAGE_STATISTICS:
            raise ValueError(f"unknown classifier statistics version {statistics}")
        self.classes = int(classes)
        self.hidden = int(hidden)
        self.backprop = bool(backprop)
        self.statistics_version = int(statistics)
        policy = self.dtype_policy
        self.reduce = keras.layers.Dense(self.hidden, activation="relu", name="reduce", dtype=policy) \
            if self.hidden else None
        self.logits = keras.layers.Dense(self.classes, name="logits", dtype=policy)

    def build(self, input_shape):
        image_shape, first_shape = input_shape
        if int(image_shape[-1]) != 3:
            raise ValueError(f"the classifier's first input is the RGB image, got {int(image_shape[-1])} channels")
        width = EARLIER_IMAGE_STATISTICS.get(self.statistics_version, IMAGE_STATISTICS) + int(first_shape[-1])
        # running statistics of the features: never a minibatch's own (see `standardise`)
        self.feature_mean = self.add_weight(shape=(width,), initializer="zeros", trainable=False,
                                            name="feature_mean", autocast=False)
        self.feature_square = self.add_weight(shape=(width,), initializer="ones", trainable=False,
                                              name="feature_square", autocast=False)
        self.seen = self.add_weight(shape=(), initializer="zeros", trainable=False, name="seen", autocast=False)
        if self.reduce is not None:
            self.reduce.build((None, width))
        self.logits.build((None, self.hidden or width))

    def statistics(self, inputs):
        """(N, `IMAGE_STATISTICS` + C) float32: the image's `image_statistics`, then per channel of the
        first activation its `blockiness`."""
        image, first = inputs
        first = ops.cast(first if self.backprop else ops.stop_gradient(first), "float32")
        return ops.concatenate([image_statistics(ops.cast(ops.stop_gradient(image), "float32")), blockiness(first)],
                               axis=-1)

    def standardise(self, stats, training=None):
        """Features minus their running mean, over their running standard deviation.

        A training minibatch holds one degradation and its clean targets, so its own statistics (batch
        normalisation's) would tell the classifier which pair of classes it is looking at, a clue that
        does not exist at inference; the running statistics see every class. While training they are
        updated first, as a plain average over the first minibatches and then an exponential one
        (`MOMENTUM`), so early steps are not standardised by the initial zeros and ones.
        """
        def read(variable):  # the statistics are float32 whatever the policy's variable dtype
            return ops.cast(variable, "float32")

        if training:
            rate = ops.maximum(1.0 / (read(self.seen) + 1.0), 1.0 - MOMENTUM)
            batch = ops.stop_gradient(stats)
            mean, square = read(self.feature_mean), read(self.feature_square)
            self.feature_mean.assign(mean + rate * (ops.mean(batch, axis=0) - mean))
            self.feature_square.assign(square + rate * (ops.mean(batch * batch, axis=0) - square))
            self.seen.assign(read(self.seen) + 1.0)
        mean, square = read(self.feature_mean), read(self.feature_square)
        return (stats - mean) / ops.sqrt(ops.maximum(square - mean * mean, 0.0) + VARIANCE_EPSILON)

    def call(self, inputs, training=None):
        if self.statistics_version != CLASSIFIER_STATISTICS:  # weights kept for loading only
            return ops.full((ops.shape(inputs[0])[0], self.classes), 1.0 / self.classes, dtype=self.compute_dtype)
        hidden = ops.cast(self.standardise(self.statistics(inputs), training), self.compute_dtype)
        if self.reduce is not None:
            hidden = self.reduce(hidden)
        # the softmax in float32, its result in the policy's compute dtype (like every layer of the project)
        return ops.cast(ops.softmax(ops.cast(self.logits(hidden), "float32"), axis=-1), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], self.classes)

    def get_config(self):
        return {**super().get_config(), "classes": self.classes, "hidden": self.hidden, "backprop": self.backprop,
                "statistics": self.statistics_version}
