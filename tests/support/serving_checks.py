"""The client check run against the stand-in and, when installed, the real tensorflow_model_server."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from serving.client import main as client_main

SIGNATURES = ("png", "uint8")


def write_inputs(folder) -> list[str]:
    """An RGB PNG of odd size cut from a photograph, and an RGB JPEG (the network sees its decoded pixels)."""
    from export.calibration import PARITY_PHOTOS
    from tfrecords_tools.photos import load_photos

    photo = load_photos(PARITY_PHOTOS[:1], 96)[0][1]
    os.makedirs(folder, exist_ok=True)
    Image.fromarray(photo[5:42, 7:60]).save(os.path.join(folder, "crop.png"))
    Image.fromarray(photo[:40, :31]).save(os.path.join(folder, "small.jpg"), quality=90)
    return [os.path.join(folder, "crop.png"), os.path.join(folder, "small.jpg")]


def keras_reference(model_path: str, head: str, inputs: list[str], folder) -> dict[str, np.ndarray]:
    """What `python -m keras_durbm.restore` writes for the inputs."""
    from keras_durbm.restore import main as restore_main

    assert restore_main(["--model", model_path, "--task", head, *inputs, "-o", str(folder), "--no-progress"]) == 0
    return {name: np.asarray(Image.open(os.path.join(folder, name))) for name in os.listdir(folder)}


def assert_client_restores_like_keras(rest_url: str, grpc_target: str, head: str, inputs: list[str],
                                      reference: dict[str, np.ndarray], folder) -> None:
    """Both protocols and both signatures write exactly the reference pixels."""
    for flag, where in (("--rest", rest_url), ("--grpc", grpc_target)):
        for signature in SIGNATURES:
            out = os.path.join(folder, f"{flag[2:]}-{signature}")
            code = client_main([flag, where, "--model", head, *inputs, "-o", out, "--signature", signature,
                                "--no-progress"])
            assert code == 0, (flag, signature)
            assert sorted(os.listdir(out)) == sorted(reference)
            for name, expected in reference.items():
                # JPEG outputs too: both sides encode the same uint8 pixels with the same encoder
                got = np.asarray(Image.open(os.path.join(out, name)))
                np.testing.assert_array_equal(got, expected, err_msg=f"{flag} {signature} {name}")
