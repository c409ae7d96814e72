"""The local stand-in for TensorFlow Serving that the client is tested against: REST and gRPC over real SavedModels.

`tensorflow_model_server` cannot be installed here (docs/design.md §3), so the client is tested against
`python -m serving.standin DIR/serving`. It speaks the same protocols on the same SavedModels:
`POST /v1/models/<name>[/versions/N]:predict` (row `instances` and columnar `inputs` formats,
`{"b64": ...}` binary values, `_bytes` outputs base64-encoded), `GET /v1/models/<name>[/metadata]`, and
gRPC `PredictionService.Predict` and `GetModelMetadata`, with TF Serving's status codes and error texts.
It serves the highest version of every `<name>/<version>/` folder. It does not batch, reload, apply
version policies or labels, or replay warm-up records: see serving/README.md for what only the real
server can show. The modules:

* `registry`: the served models (`Servables`): loading, finding a model and signature, running it on
  checked numpy inputs, and the pixel limit of a request;
* `rest_api`: the REST endpoints (`RestServer`, one `RestHandler` per connection) and the limits on a
  body; `rest_json`: the JSON tensor coding of requests and replies;
* `grpc_api`: the gRPC servicer, and the checks on a TensorProto before its array is built;
* `server`: `StandIn`, both ports over one `Servables`, 127.0.0.1 by default;
* `cli`: the command (`main`), run by `__main__`.
"""

from serving.standin.cli import main
from serving.standin.server import StandIn

__all__ = ["StandIn", "main"]
