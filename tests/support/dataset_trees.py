"""Folder trees laid out exactly like each dataset (tiny images generated here), plus helpers that read a
converted folder back with the Python-side decoder (independent of the tf.data pipeline)."""

from __future__ import annotations

import io
import os
import struct
import zlib

import numpy as np
from PIL import Image

from tfrecords_tools.manifest import shard_files
from tfrecords_tools.records import read_record, scan_shard
from tfrecords_tools.schema import decode_example


def random_image(h: int, w: int, seed: int) -> np.ndarray:
    """A uint8 RGB test image: a smooth gradient plus noise (compresses like a photo, all levels used)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / max(w - 1, 1), yy * 255 / max(h - 1, 1), (xx + yy) * 127 / max(h + w - 2, 1)], -1)
    return np.clip(base + rng.normal(0, 25, (h, w, 3)), 0, 255).astype(np.uint8)


def coord_image(h: int, w: int, ident: int) -> np.ndarray:
    """Pixel (y, x) = (R, G, B) = (4x, 4y, ident): any crop reveals where it came from (w, h <= 64)."""
    assert h <= 64 and w <= 64
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 4, yy * 4, np.full_like(xx, ident)], -1).astype(np.uint8)


def save(path: str, arr: np.ndarray, fmt: str | None = None, **kw) -> np.ndarray:
    """Writes `arr` with PIL (format from the extension); returns the pixels a reader will see."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(arr).save(path, format=fmt, **kw)
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def png16_rgb(arr16: np.ndarray) -> bytes:
    """A 16-bit-per-channel RGB PNG (Pillow cannot write one), built from its chunks."""
    h, w, _ = arr16.shape
    raw = b"".join(b"\x00" + arr16[i].astype(">u2").tobytes() for i in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def truncate_file(path: str, keep: float = 0.5) -> None:
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: int(len(data) * keep)])


# ---- dataset trees -------------------------------------------------------------------------------------

def make_gopro(root: str, split: str = "train", seqs=("GOPR0372_07_00", "GOPR0374_11_01"), frames=2,
               h=24, w=32) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """GOPRO_Large/<split>/<seq>/{blur,blur_gamma,sharp}/NNNNNN.png; returns {source: (blur, gamma, sharp)}."""
    out = {}
    for si, seq in enumerate(seqs):
        for fi in range(frames):
            name = f"{47 + fi:06d}.png"
            sharp = random_image(h, w, 100 * si + fi)
            blur = random_image(h, w, 1000 + 100 * si + fi)
            gamma = random_image(h, w, 2000 + 100 * si + fi)
            base = os.path.join(root, split, seq)
            save(os.path.join(base, "sharp", name), sharp)
            save(os.path.join(base, "blur", name), blur)
            save(os.path.join(base, "blur_gamma", name), gamma)
            out[f"{split}/{seq}/blur/{name}"] = (blur, gamma, sharp)
    return out


def make_reside_its(root: str, ids=(1, 2), ks=(1, 2), h=20, w=24) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """ITS/hazy/NNNN_k_beta.png + ITS/clear/NNNN.png (+ trans/); returns {source: (hazy, clear)}."""
    out = {}
    for i in ids:
        clear = save(os.path.join(root, "clear", f"{i}.png"), random_image(h, w, i))
        save(os.path.join(root, "trans", f"{i}_1.png"), random_image(h, w, 99)[..., 0])
        for k in ks:
            beta = 0.6 + 0.1 * k + 0.01 * i
            name = f"{i}_{k}_{beta:.5f}.png"
            out[f"hazy/{name}"] = (save(os.path.join(root, "hazy", name), random_image(h, w, 10 * i + k)), clear)
    return out


def make_reside_sots(root: str, ids=(1400, 1401), per_gt=10, h=20, w=24, gt_margin=2):
    """SOTS/indoor/hazy/NNNN_k.png (k=1..10) + gt/NNNN.png, ground truths `gt_margin` px larger per side
    (like SOTS's 640x480 vs 620x460); returns {source: (hazy, gt_full)}."""
    out = {}
    for i in ids:
        gt = save(os.path.join(root, "gt", f"{i}.png"), random_image(h + 2 * gt_margin, w + 2 * gt_margin, i))
        for k in range(1, per_gt + 1):
            name = f"{i}_{k}.png"
            out[f"hazy/{name}"] = (save(os.path.join(root, "hazy", name), random_image(h, w, i + k)), gt)
    return out


def make_didmdn_train(root: str, per_level=2, h=20, w=24) -> dict[str, np.ndarray]:
    """DID-MDN-training/Rain_{Heavy,Medium,Light}/train2018new/N.jpg, each [rainy | clean] of width 2w,
    saved as JPEG like the real files; returns {source: the decoded pair image}."""
    out = {}
    for li, level in enumerate(("Rain_Heavy", "Rain_Medium", "Rain_Light")):
        for n in range(1, per_level + 1):
            pair = random_image(h, 2 * w, 50 * li + n)
            rel = f"{level}/train2018new/{n}.jpg"
            out[rel] = save(os.path.join(root, *rel.split("/")), pair, "JPEG", quality=100)
    return out


def make_clean_folder(root: str, names=("0001.png", "0002.png"), h=24, w=32) -> dict[str, np.ndarray]:
    return {n: save(os.path.join(root, n), random_image(h, w, i)) for i, n in enumerate(names)}


def make_pairs(root: str, stems=("a", "b", "c"), h=20, w=24, input_ext=".png", target_ext=".png",
               inverse=False, coords=False) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """SRC/input/<stem> + SRC/target/<stem>; `inverse`: target = 255 - input; `coords`: coord_image input."""
    out = {}
    for i, s in enumerate(stems):
        x = coord_image(h, w, 10 * (i + 1)) if coords else random_image(h, w, i)
        y = (255 - x) if inverse else random_image(h, w, 500 + i)
        out[f"input/{s}{input_ext}"] = (save(os.path.join(root, "input", s + input_ext), x),
                                        save(os.path.join(root, "target", s + target_ext), y))
    return out


# ---- reading back -------------------------------------------------------------------------------------

def read_group(out_dir: str, task: str | None = None, split: str | None = None) -> list[dict]:
    """All records of the matching shards, decoded by the Python-side reader, in shard order."""
    out = []
    for path in shard_files(out_dir, task, split):
        out += [decode_example(read_record(path, o, n)) for o, n in scan_shard(path)]
    return out


def pil_half(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    return np.asarray(Image.fromarray(img).resize((w // 2, h // 2), Image.Resampling.BICUBIC))


def pil_jpeg(img: np.ndarray, q: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=q)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
