"""Graph-side parsing of one record (keys from `schema`) into uint8 images plus task and source.

Checks inside the graph that the decoded images have the size the record declares; the error message
carries the record's `source`, so a bad record can be traced to its file.
"""

from __future__ import annotations

import tensorflow as tf

from tfrecords_tools import schema


def _decode_image(data: tf.Tensor, encoding: tf.Tensor, h: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
    def raw() -> tf.Tensor:
        return tf.reshape(tf.io.decode_raw(data, tf.uint8), tf.stack([h, w, 3]))

    def png() -> tf.Tensor:
        return tf.io.decode_png(data, channels=3, dtype=tf.uint8)

    img = tf.cond(tf.equal(encoding, schema.RAW), raw, png)
    img.set_shape([None, None, 3])
    return img


def decode_record(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
    """`{"input", "target"}` uint8 (H, W, 3), `"task"`, `"source"` strings, `"height"`, `"width"` int32."""
    f = tf.io.parse_single_example(serialized, schema.feature_spec())
    h = tf.cast(f[schema.HEIGHT], tf.int32)
    w = tf.cast(f[schema.WIDTH], tf.int32)
    x = _decode_image(f[schema.INPUT], f[schema.ENCODING], h, w)
    y = _decode_image(f[schema.TARGET], f[schema.ENCODING], h, w)
    expected = tf.stack([h, w])
    ok = tf.logical_and(tf.reduce_all(tf.equal(tf.shape(x)[:2], expected)),
                        tf.reduce_all(tf.equal(tf.shape(y)[:2], expected)))
    check = tf.debugging.Assert(ok, ["record", f[schema.SOURCE], "declares height, width", expected,
                                     "but decodes to input", tf.shape(x), "and target", tf.shape(y)])
    with tf.control_dependencies([check]):
        x, y = tf.identity(x), tf.identity(y)
    return {"input": x, "target": y, "task": f[schema.TASK], "source": f[schema.SOURCE], "height": h, "width": w}
