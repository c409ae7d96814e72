"""Plainly readable NumPy versions of the network's math, the references the layers are tested against.

Everything here is float64 and loops where loops are clearer than vectorised tricks.
"""

import numpy as np


def relu(x):
    return np.maximum(x, 0.0)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def total_variation(y, beta=3):
    """Paper eq. 6 per channel: mean |vertical diff|^β + mean |horizontal diff|^β, shape (N, C)."""
    y = np.asarray(y, np.float64)
    dv = np.abs(np.diff(y, axis=1)) ** beta  # (N, H-1, W, C)
    dh = np.abs(np.diff(y, axis=2)) ** beta  # (N, H, W-1, C)
    return dv.mean(axis=(1, 2)) + dh.mean(axis=(1, 2))


def dense(x, kernel, bias):
    return x @ kernel + bias


def squeeze_excitation(y, reduce_kernel, reduce_bias, expand_kernel, expand_bias, squeeze="gap", beta=3):
    """SE (squeeze="gap") and its TV variants: squeeze → Dense+ReLU → Dense+sigmoid → scale."""
    stats = []
    if squeeze in ("both", "gap"):
        stats.append(y.mean(axis=(1, 2)))
    if squeeze in ("both", "tv"):
        stats.append(total_variation(y, beta))
    s = np.concatenate(stats, axis=-1)
    w = sigmoid(dense(relu(dense(s, reduce_kernel, reduce_bias)), expand_kernel, expand_bias))
    return y * w[:, None, None, :]


def depth_to_space(x, s):
    """NHWC depth-to-space in TensorFlow's channel order, written with explicit loops."""
    n, h, w, c = x.shape
    co = c // (s * s)
    out = np.zeros((n, h * s, w * s, co), x.dtype)
    for i in range(s):
        for j in range(s):
            out[:, i::s, j::s, :] = x[:, :, :, (i * s + j) * co : (i * s + j + 1) * co]
    return out


def conv2d(x, kernel, bias=None, stride=1, dilation=1, padding="reflect"):
    """NHWC convolution; padding "reflect" (np.pad reflect) or "zero" (TF "same" for stride 1)."""
    kh, kw, _, cout = kernel.shape
    ph, pw = dilation * (kh - 1) // 2, dilation * (kw - 1) // 2
    mode = "reflect" if padding == "reflect" else "constant"
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)), mode=mode)
    n, hp, wp, _ = xp.shape
    ho = (hp - dilation * (kh - 1) - 1) // stride + 1
    wo = (wp - dilation * (kw - 1) - 1) // stride + 1
    out = np.zeros((n, ho, wo, cout))
    for a in range(kh):
        for b in range(kw):
            patch = xp[:, a * dilation : a * dilation + stride * (ho - 1) + 1 : stride,
                       b * dilation : b * dilation + stride * (wo - 1) + 1 : stride, :]
            out += patch @ kernel[a, b]
    return out if bias is None else out + bias


def residual_attention_block(x, w, squeeze, beta=3):
    """conv3×3 → ReLU → conv3×3 → attention → + x → ReLU; `w` holds the layer's weights by name."""
    y = conv2d(relu(conv2d(x, w["conv1"], padding="zero")), w["conv2"], padding="zero")
    if squeeze != "none":
        y = squeeze_excitation(y, *w["attention"], squeeze=squeeze, beta=beta)
    return relu(y + x)


def durb_m(x, res, w, k1_dilation, squeeze="both", fusion=True, beta=3):
    """docs/design.md §1.3 step by step."""
    b = residual_attention_block(x, w["tvse_resnet"], squeeze, beta)
    u = depth_to_space(conv2d(b, *w["up_expand"], padding="zero"), 2)
    u = conv2d(u, *w["up_conv"], dilation=k1_dilation)
    u = relu(u + res)
    branch_b = relu(conv2d(residual_attention_block(u, w["se_resnet"], "gap", beta), *w["down_b"], stride=2))
    if fusion:
        branch_a = relu(conv2d(u, *w["down_a"], stride=2))
        fused = np.concatenate([branch_a, branch_b], axis=-1)
    else:
        fused = branch_b
    return relu(conv2d(fused, *w["merge"]) + x), u
