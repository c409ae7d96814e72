"""TF Serving's REST tensors in JSON: request inputs (row `instances` or columnar `inputs`) to arrays, outputs back.

Binary values travel as `{"b64": ...}` both ways (outputs named `*_bytes`); numbers carry no dtype, so
`json_to_array` gives them the signature input's. `rest_api` reads and writes the HTTP around them.
"""

from __future__ import annotations

import base64
import binascii

import numpy as np

from serving.errors import ServingError


def _decode_json_value(value):
    """JSON tensor values → Python values; `{"b64": ...}` → bytes (TF Serving's binary encoding), decoded
    strictly: a character outside the base64 alphabet is an error, not skipped."""
    if isinstance(value, dict) and set(value) == {"b64"}:
        text = value["b64"]
        if not isinstance(text, str):
            raise ServingError(code="INVALID_ARGUMENT", message=f'a {{"b64": ...}} value must be a string, '
                               f"not {type(text).__name__}")
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as error:
            raise ServingError(code="INVALID_ARGUMENT", message=f'a {{"b64": ...}} value is not base64 ({error}); '
                               "expected A-Z, a-z, 0-9, + and / with = padding, nothing else") from None
    if isinstance(value, list):
        return [_decode_json_value(v) for v in value]
    return value


def _encode_json_value(name: str, value: np.ndarray):
    """numpy output → JSON; outputs named `*_bytes` become `{"b64": ...}`, other strings UTF-8."""
    if value.dtype == object:
        encode = ((lambda b: {"b64": base64.b64encode(b).decode("ascii")}) if name.endswith("_bytes")
                  else (lambda b: b.decode("utf-8", "replace")))
        return np.vectorize(encode, otypes=[object])(value).tolist() if value.ndim else encode(value.item())
    return value.tolist()


def json_to_array(key: str, value, spec) -> np.ndarray:
    """A JSON tensor value as an array of the signature input's dtype (REST numbers carry no dtype)."""
    import tensorflow as tf

    if spec.dtype == tf.string:
        return np.asarray(value, dtype=object)
    try:
        array = np.asarray(value)
    except ValueError as error:  # ragged nested lists
        raise ServingError(code="INVALID_ARGUMENT", message=f"input {key}: not a rectangular tensor ({error})") from None
    dtype = np.dtype(spec.dtype.as_numpy_dtype)
    if array.dtype.kind not in "biuf":
        raise ServingError(code="INVALID_ARGUMENT", message=f"input {key}: expected numbers for {spec.dtype.name}")
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if array.dtype.kind == "f" or (array.size and (array.min() < info.min or array.max() > info.max)):
            raise ServingError(code="INVALID_ARGUMENT", message=f"input {key}: values must be integers in "
                               f"[{info.min}, {info.max}] for {spec.dtype.name}")
    return array.astype(dtype)


def rest_inputs(body: dict, input_names: list[str]) -> tuple[dict[str, object], bool]:
    """Inputs of a REST predict body (row `instances` or columnar `inputs`) and whether it was row format."""
    if ("instances" in body) == ("inputs" in body):
        raise ServingError(code="INVALID_ARGUMENT", message="JSON object: must have exactly one of 'instances' or 'inputs'")
    if "instances" in body:
        instances = body["instances"]
        if not isinstance(instances, list) or not instances:
            raise ServingError(code="INVALID_ARGUMENT", message="'instances' must be a non-empty list")
        if all(isinstance(i, dict) and "b64" not in i for i in instances):
            names = set(instances[0])
            for index, instance in enumerate(instances):
                if set(instance) != names:
                    raise ServingError(code="INVALID_ARGUMENT", message=f"instances[{index}] names inputs "
                                       f"{sorted(instance)[:8]}, instances[0] {sorted(names)[:8]}: every instance "
                                       "must name the same inputs")
            return {k: [_decode_json_value(i[k]) for i in instances] for k in instances[0]}, True
        if len(input_names) != 1:
            raise ServingError(code="INVALID_ARGUMENT", message="instances without names need a signature with one input")
        return {input_names[0]: _decode_json_value(instances)}, True
    inputs = body["inputs"]
    if isinstance(inputs, dict) and "b64" not in inputs:
        return {k: _decode_json_value(v) for k, v in inputs.items()}, False
    if len(input_names) != 1:
        raise ServingError(code="INVALID_ARGUMENT", message="unnamed 'inputs' need a signature with one input")
    return {input_names[0]: _decode_json_value(inputs)}, False


def rest_outputs(outputs: dict[str, np.ndarray], row_format: bool) -> dict:
    """The reply to a predict body: `predictions` (one per instance) for row format, `outputs` for columnar."""
    if not row_format:
        if len(outputs) == 1:
            (name, value), = outputs.items()
            return {"outputs": _encode_json_value(name, value)}
        return {"outputs": {k: _encode_json_value(k, v) for k, v in outputs.items()}}
    if len(outputs) == 1:
        (name, value), = outputs.items()
        return {"predictions": _encode_json_value(name, value)}
    batch = len(next(iter(outputs.values())))
    return {"predictions": [{k: _encode_json_value(k, v[i]) for k, v in outputs.items()} for i in range(batch)]}
