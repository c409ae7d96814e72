"""Hostile files and careless use, round 2 (issue 23): zip bombs in `.keras` files, two trainings on one run
folder, colour profiles, file names that look like options, bounded messages, TensorFlow's retracing noise.

The cases that fit the one-row-per-command table are in test_bad_inputs.py; these need a crafted archive, a
second process or a pixel-level reference.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import struct
import subprocess
import sys
import time
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms

from keras_durbm.config.model_file import read_model_config
from tests.support import bad_files
from tests.support.tiny_models import reuse_loaded_tiny_model, tiny_model_path

MEMBER_LIMIT, WEIGHTS_LIMIT = 2**20, 512 * 2**20  # keras_durbm.config.model_file's caps: config 1 MiB, weights 512 MiB

# --- .keras zip bombs: member sizes come from the zip's directory, before anything is inflated ----------------


def declare_size(source: str, path: str, member: str, size: int) -> None:
    """Copies the `.keras` file `source` to `path` with `member`'s uncompressed size in the zip's central
    directory set to `size` (the few bytes of a zip bomb's directory; nothing that large is written)."""
    data = bytearray(open(source, "rb").read())
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        name_length = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46:at + 46 + name_length].decode() == member:
            struct.pack_into("<I", data, at + 24, size)
            break
        at = data.find(b"PK\x01\x02", at + 46)
    else:
        raise AssertionError(f"{member} not in {source}")
    open(path, "wb").write(bytes(data))


def _no_member_is_read(monkeypatch) -> None:
    def refuse(self, name, *args, **kwargs):
        raise AssertionError(f"member {name} was opened")

    monkeypatch.setattr(zipfile.ZipFile, "open", refuse)


@pytest.mark.parametrize("member, size, limit", [("config.json", 2**31 - 1, MEMBER_LIMIT),
                                                 ("model.weights.h5", WEIGHTS_LIMIT + 1, WEIGHTS_LIMIT)])
def test_a_member_declared_too_large_is_refused_unread(tmp_path, monkeypatch, member, size, limit):
    """The bound: no member above 1 MiB (weights: 512 MiB) is inflated; the check reads only the directory."""
    from keras_durbm.config import model_file
    from keras_durbm.config.model_file import check_archive

    assert (model_file.MEMBER_LIMIT, model_file.WEIGHTS_LIMIT) == (MEMBER_LIMIT, WEIGHTS_LIMIT)
    bomb = str(tmp_path / "bomb.keras")
    declare_size(tiny_model_path(), bomb, member, size)
    _no_member_is_read(monkeypatch)
    expected = f"its member {member} declares {size:,} bytes, over the limit of {limit:,}"
    for reader in (read_model_config, check_archive):
        with pytest.raises(ValueError, match=expected) as caught:
            reader(bomb)
        assert len(str(caught.value)) < 400


def test_restore_refuses_a_zip_bomb_model_before_tensorflow_work(tmp_path, capsys, monkeypatch):
    from keras_durbm.restore import main

    reuse_loaded_tiny_model(monkeypatch)
    bomb = str(tmp_path / "bomb.keras")
    declare_size(tiny_model_path(), bomb, "config.json", 2**31 - 1)
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "a.png")
    began = time.monotonic()
    code = main(["--model", bomb, "--task", "haze", str(tmp_path / "a.png"), "-o", str(tmp_path / "out"),
                 "--no-progress"])
    printed = capsys.readouterr().err
    assert code == 2 and "declares 2,147,483,647 bytes" in printed and len(printed) < 400, printed
    assert time.monotonic() - began < 2 and not (tmp_path / "out").exists()


def test_a_genuine_model_passes_the_member_check():
    from keras_durbm.config.model_file import check_archive

    check_archive(tiny_model_path())
    assert read_model_config(tiny_model_path()).topology == "R>B>H"


def test_messages_quote_a_bounded_excerpt_of_a_huge_value():
    """An alias bomb's value (9**9 strings if expanded) is quoted in ~120 characters without being walked."""
    from keras_durbm.errors import excerpt

    value: list = ["lol"] * 9
    for _ in range(8):
        value = [value] * 9
    began = time.monotonic()
    text = excerpt(value)
    assert len(text) <= 120 and text.startswith("[[[") and time.monotonic() - began < 0.1


# --- one training per run folder ---------------------------------------------------------------------------


def test_the_run_folder_lock_refuses_a_second_holder_and_is_released(tmp_path):
    from keras_durbm.training.run_lock import LOCK_FILENAME, RunFolderBusy, run_folder_lock

    run = str(tmp_path / "run")
    with run_folder_lock(run) as path:
        assert open(path).read().startswith(f"pid {os.getpid()} ")
        with pytest.raises(RunFolderBusy, match=f"in use by another training \\(pid {os.getpid()} "):
            with run_folder_lock(run):
                pass
    assert not os.path.exists(os.path.join(run, LOCK_FILENAME))  # removed on a clean exit
    with run_folder_lock(run):
        pass


def test_a_second_training_is_refused_naming_the_first_and_kill_9_releases_it(tmp_path, capsys):
    """A child process holds the lock as a training does; `train` in this folder exits 2 naming its pid before
    any work; after `kill -9` of the holder the folder can be locked again."""
    from keras_durbm.train import main
    from keras_durbm.training.run_lock import run_folder_lock

    run = str(tmp_path / "run")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom keras_durbm.training.run_lock import run_folder_lock\n"
         f"with run_folder_lock({run!r}):\n    print('locked', flush=True)\n    time.sleep(120)\n"],
        stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
    try:
        assert holder.stdout.readline().strip() == "locked"
        code = main(["--experiment", "smoke", "--no-progress", "--set", "model.topology=H", "--set",
                     "data.pattern=H", "--run-dir", run])
        printed = capsys.readouterr()
        assert code == 2, printed
        assert f"error: run folder {run} is in use by another training (pid {holder.pid} " in printed.err
        assert sorted(os.listdir(run)) == ["train.lock"]  # nothing of the second training was written
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with run_folder_lock(run):  # the kernel released the killed holder's lock
        pass


# --- colour profiles -----------------------------------------------------------------------------------------


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def cmyk_profile() -> bytes:
    """A minimal ICC v2 CMYK printer profile (an A2B0 lut8 to Lab) whose inks are deliberately not the ones
    of Pillow's naive formula (pure cyan is (0, 202, 255) in sRGB here, not (0, 255, 255))."""
    clut = bytearray()
    for c in (0, 1):
        for m in (0, 1):
            for y in (0, 1):
                for k in (0, 1):
                    lightness = 100 * (1 - 0.85 * k) * (1 - 0.25 * c) * (1 - 0.45 * m) * (1 - 0.1 * y)
                    clut += bytes([round(lightness * 2.55), round(128 - 30 * c + 60 * m),
                                   round(128 - 40 * c - 10 * m + 70 * y)])
    ramp = bytes(range(256))
    lut = (b"mft1" + bytes(4) + bytes([4, 3, 2, 0]) + b"".join(_s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
           + ramp * 4 + bytes(clut) + ramp * 3)
    desc = b"desc" + bytes(4) + struct.pack(">I", 10) + b"CMYK test\0" + bytes(8 + 3 + 67)
    white = b"XYZ " + bytes(4) + _s15(0.9642) + _s15(1.0) + _s15(0.8249)
    tags = [(b"desc", desc), (b"wtpt", white), (b"A2B0", lut)]
    offset = 128 + 4 + 12 * len(tags)
    table, data = struct.pack(">I", len(tags)), b""
    for signature, body in tags:
        body += bytes(-len(body) % 4)
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    header = (struct.pack(">I", offset + len(data)) + bytes(4) + struct.pack(">I", 0x02100000) + b"prtrCMYKLab "
              + bytes(12) + b"acsp" + bytes(28) + _s15(0.9642) + _s15(1.0) + _s15(0.8249) + bytes(48))
    return header + table + data


def test_a_cmyk_jpeg_is_converted_through_its_profile_and_tagged_srgb(tmp_path):
    from keras_durbm.images.io import read_image, write_image

    icc = cmyk_profile()
    cmyk = np.zeros((8, 8, 4), np.uint8)
    cmyk[..., 0] = 255  # pure cyan ink
    source = tmp_path / "cmyk.jpg"
    Image.fromarray(cmyk, "CMYK").save(source, icc_profile=icc, quality=95)
    with Image.open(source) as img:
        reference = np.asarray(ImageCms.profileToProfile(img, ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                                                         ImageCms.createProfile("sRGB"), outputMode="RGB"))
        naive = np.asarray(img.convert("RGB"))
    assert np.abs(reference.astype(int) - naive).max() > 40  # the profile matters
    rgb, extras = read_image(source)
    assert np.abs(np.rint(rgb * 255) - reference).max() <= 1
    assert extras.icc_profile[16:20] == b"RGB "  # the CMYK profile is not carried onto RGB pixels
    write_image(tmp_path / "out.jpg", rgb, extras)
    with Image.open(tmp_path / "out.jpg") as out:
        assert out.mode == "RGB" and out.info["icc_profile"][16:20] == b"RGB "
        assert ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(out.info["icc_profile"]))).strip()


def test_a_16_bit_png_keeps_its_profile(tmp_path):
    import tensorflow as tf

    from keras_durbm.images.io import read_image, write_image

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()  # any profile but sRGB's
    profile = profile[:16] + b"RGB " + profile[20:]  # ... described as an RGB one
    pixels = (np.random.default_rng(0).random((6, 7, 3)) * 65535).astype(np.uint16)
    with Image.open(io.BytesIO(tf.io.encode_png(pixels).numpy())) as img:
        assert img.info.get("icc_profile") is None
    png = tf.io.encode_png(pixels).numpy()  # 8-byte signature, then IHDR: 8 + 13 + 4 bytes
    iccp = bad_files._png_chunk(b"iCCP", b"a profile\0\0" + zlib.compress(profile))
    source = tmp_path / "deep.png"
    source.write_bytes(png[:33] + iccp + png[33:])
    rgb, extras = read_image(source)
    assert extras.bit_depth == 16 and extras.icc_profile == profile
    write_image(tmp_path / "out.png", rgb, extras)
    with Image.open(tmp_path / "out.png") as out:
        assert out.info["icc_profile"] == profile
    assert np.array_equal(tf.io.decode_png((tmp_path / "out.png").read_bytes(), dtype=tf.uint16).numpy(), pixels)


# --- command lines -------------------------------------------------------------------------------------------


def test_a_file_named_like_an_option_gets_a_hint(tmp_path, capsys, monkeypatch):
    from keras_durbm.restore import main

    monkeypatch.chdir(tmp_path)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "-dash.png")
    with pytest.raises(SystemExit) as stop:
        main(["--model", "m.keras", "--task", "haze", "-dash.png", "-o", "out"])
    assert stop.value.code == 2
    assert "-dash.png is a file whose name begins with '-': write ./-dash.png, or put -- before" in capsys.readouterr().err


def test_validation_runners_raise_no_retracing_warning():
    """Validation during training traces one runner per head, each once; TensorFlow counts the closures of one
    definition together and warned "5 out of the last 6 calls ... triggered tf.function retracing"."""
    from keras_durbm.cli import quiet_tensorflow
    from keras_durbm.restoration.tiling import cached_runner

    quiet_tensorflow()
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("tensorflow")
    logger.addHandler(handler)
    try:
        class Model:  # a weak-referenceable stand-in for a network with six heads
            pass

        model = Model()
        for head in range(6):
            cached_runner(model, f"head{head}", lambda: (lambda x, training: x * 2.0))(np.zeros((1, 4, 4, 3)))
    finally:
        logger.removeHandler(handler)
    assert not [r for r in records if "retracing" in r.getMessage()]
