"""TF Serving's gRPC protocol over the served models: `PredictionService.Predict` and `GetModelMetadata`.

A request's TensorProtos are checked before any array is built (`array_from_proto`); failures become the
gRPC status of TF Serving's code name. The other RPCs (Classify, Regress, MultiInference) answer
UNIMPLEMENTED, as the generated servicer does.
"""

from __future__ import annotations

import functools
import math
import sys

import numpy as np

from keras_durbm.cli import console_text
from serving.errors import ServingError
from serving.standin.registry import Servables

MAX_MESSAGE_BYTES = 2**31 - 1  # TF Serving's gRPC limit (kint32max)
MAX_RANK = 32  # a gRPC tensor of higher rank is refused (its shape is not even formatted)


def array_from_proto(servables: Servables, key: str, proto) -> np.ndarray:
    """The array of a gRPC TensorProto, checked before it is built. `tf.make_ndarray` repeats the last
    value to fill the shape, so a 65-byte request could ask for gigabytes: the dtype must be a plain
    one, dimensions non-negative, an image batch within the pixel limit, the array within the message
    limit, `tensor_content` exactly shape × item size, and strings one value per element."""
    import tensorflow as tf
    from tensorflow.core.framework import types_pb2

    def refuse(problem: str):
        return ServingError(code="INVALID_ARGUMENT", message=f"input {key}: {problem}")

    dtype = _proto_dtypes().get(proto.dtype)
    if dtype is None:
        name = types_pb2.DataType.Name(proto.dtype) if proto.dtype in types_pb2.DataType.values() else proto.dtype
        raise refuse(f"dtype {name} is not supported; expected a number, bool or string type")
    if proto.tensor_shape.unknown_rank or len(proto.tensor_shape.dim) > MAX_RANK:
        raise refuse(f"a shape of known rank up to {MAX_RANK} is needed")
    shape = [int(d.size) for d in proto.tensor_shape.dim]
    if any(size < 0 for size in shape):
        raise refuse(f"shape {shape} has a negative dimension")
    count = math.prod(shape)
    if len(shape) == 4 and dtype != tf.string:
        servables.check_images([(key, *shape[:3])])
    itemsize = 8 if dtype == tf.string else dtype.size
    if count * itemsize > MAX_MESSAGE_BYTES or (servables.max_pixels and count > 4 * servables.max_pixels):
        raise refuse(f"shape {shape} holds {count:,} values, more than an image at the server's limits")
    if dtype == tf.string:
        if proto.tensor_content or len(proto.string_val) != count:
            raise refuse(f"shape {shape} needs {count:,} string_val values, one per element; got "
                         f"{len(proto.string_val):,}")
    elif proto.tensor_content and len(proto.tensor_content) != count * itemsize:
        raise refuse(f"tensor_content has {len(proto.tensor_content):,} bytes; shape {shape} of {dtype.name} "
                     f"needs {count * itemsize:,}")
    try:
        return tf.make_ndarray(proto)
    except (TypeError, ValueError) as error:
        raise refuse(f"cannot read the tensor ({error})") from None


@functools.cache
def _proto_dtypes() -> dict:
    """The TensorProto dtypes a request may carry (enum value → tf.DType): numbers, bool and string."""
    import tensorflow as tf

    kinds = (tf.float16, tf.float32, tf.float64, tf.int8, tf.int16, tf.int32, tf.int64, tf.uint8, tf.uint16,
             tf.uint32, tf.uint64, tf.bool, tf.string)
    return {dtype.as_datatype_enum: dtype for dtype in kinds}


def _requested_version(spec) -> int | None:
    if spec.version_label:
        raise ServingError(code="UNIMPLEMENTED", message="the stand-in does not serve version labels")
    return spec.version.value if spec.HasField("version") else None


def _abort(context, error: ServingError):
    """Ends the call with the gRPC status named by `error.code` (`context.abort` raises)."""
    import grpc

    context.abort(getattr(grpc.StatusCode, error.code), error.message)


def _internal(rpc: str, error: Exception) -> ServingError:
    """A failure no check foresaw: one escaped line on the console, INTERNAL with the message."""
    print(f"error: gRPC {rpc}: {type(error).__name__}: {console_text(str(error)[:300])}", file=sys.stderr,
          flush=True)
    return ServingError(code="INTERNAL", message=f"internal error: {type(error).__name__}: {str(error)[:300]}")


def predict(servables: Servables, request, context):
    """A PredictResponse with the outputs `request.output_filter` names (all when it names none)."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    try:
        inputs = {key: array_from_proto(servables, key, proto) for key, proto in request.inputs.items()}
        servable, outputs = servables.predict(request.model_spec.name, _requested_version(request.model_spec),
                                              request.model_spec.signature_name, inputs)
    except ServingError as error:
        _abort(context, error)
    except Exception as error:  # a failure no check foresaw: still a status with a message
        _abort(context, _internal("Predict", error))
    response = predict_pb2.PredictResponse()
    response.model_spec.name = servable.name
    response.model_spec.version.value = servable.version
    response.model_spec.signature_name = request.model_spec.signature_name or "serving_default"
    wanted = set(request.output_filter) or set(outputs)
    for key, value in outputs.items():
        if key in wanted:
            response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
    return response


def model_metadata(servables: Servables, request, context):
    """A GetModelMetadataResponse holding the model's SignatureDefMap (the only field TF Serving serves)."""
    from tensorflow_serving.apis import get_model_metadata_pb2

    try:
        if list(request.metadata_field) != ["signature_def"]:
            raise ServingError(code="INVALID_ARGUMENT", message="Metadata field signature_def must be requested alone")
        servable, defs = servables.signature_defs(request.model_spec.name, _requested_version(request.model_spec))
    except ServingError as error:
        _abort(context, error)
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = servable.name
    response.model_spec.version.value = servable.version
    response.metadata["signature_def"].Pack(defs)
    return response


def make_servicer(servables: Servables):
    """The PredictionService servicer over `servables` (built here: its base class imports TensorFlow)."""
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    class Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):  # noqa: N802
            return predict(servables, request, context)

        def GetModelMetadata(self, request, context):  # noqa: N802
            return model_metadata(servables, request, context)

    return Servicer()
