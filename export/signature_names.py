"""The names of the exported models' serving contract: signatures and their input/output tensors.

Read by the exporter, the serving client and the stand-in server alike. No TensorFlow here, so the
client starts (and answers `--help`) without it.
"""

SERVING_DEFAULT = "serving_default"
SERVE_UINT8 = "serve_uint8"
SERVE_PNG = "serve_png"
SIGNATURES = (SERVING_DEFAULT, SERVE_UINT8, SERVE_PNG)
INPUT_FLOAT, OUTPUT_FLOAT = "image", "restored"
INPUT_UINT8, OUTPUT_UINT8 = "image_u8", "restored_u8"
# TF Serving's REST API base64-encodes outputs whose names end in "_bytes".
INPUT_BYTES, OUTPUT_BYTES = "image_bytes", "restored_bytes"
# The `auto` model (blind restoration) also returns the chosen task, the probabilities and their class names.
OUTPUT_TASK, OUTPUT_PROBABILITIES, OUTPUT_CLASSES = "task", "probabilities", "classes"
#: Served model names beside the heads: the classifier-routed model; and the classifier's own TFLite/ONNX files.
AUTO_MODEL, CLASSIFIER_MODEL = "auto", "classifier"
