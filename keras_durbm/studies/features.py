"""Fig. 9 made measurable: do the encoder's activations tell the degradations apart?

Each test crop becomes one vector per layer: the per-channel mean and total variation of that layer's
activation (the two statistics TV-SE attention squeezes, paper eq. 6), 2C numbers. The vectors are
standardised; `probe_accuracy` is the cross-validated accuracy of a k-nearest-neighbour classifier that
predicts the task from them (1/T is chance for T tasks), and `tsne` gives the 2-D picture.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from keras_durbm.config.model import SIZE_MULTIPLE
from keras_durbm.images.pairs import Pair


def sample_crops(pairs: Sequence[Pair], side: int, limit: int) -> list[np.ndarray]:
    """Up to `limit` non-overlapping `side` x `side` crops of the pairs' (degraded) inputs, in reading order."""
    side = side // SIZE_MULTIPLE * SIZE_MULTIPLE
    crops = []
    for pair in pairs:
        h, w = pair.input.shape[:2]
        for top in range(0, h - side + 1, side):
            for left in range(0, w - side + 1, side):
                crops.append(pair.input[top:top + side, left:left + side])
                if len(crops) == limit:
                    return crops
    return crops


def channel_statistics(activations: np.ndarray) -> np.ndarray:
    """(N, H, W, C) activations -> (N, 2C): per-channel mean, then total variation with β = 3 (eq. 6)."""
    x = np.asarray(activations, np.float64)
    dv = np.abs(np.diff(x, axis=1)) ** 3
    dh = np.abs(np.diff(x, axis=2)) ** 3
    tv = dv.mean(axis=(1, 2)) + dh.mean(axis=(1, 2))
    return np.concatenate([x.mean(axis=(1, 2)), tv], axis=-1)


def layer_features(model, layer_names: Sequence[str], crops: np.ndarray, batch: int = 16) -> dict[str, np.ndarray]:
    """`{layer name: (N, 2C) statistics}` of the outputs of `layer_names` (a DuRB-M's `x` output) for `crops`."""
    import keras  # heavy: the features study needs the model

    outputs = []
    for name in layer_names:
        out = model.get_layer(name).output
        outputs.append(out[0] if isinstance(out, (list, tuple)) else out)
    probe = keras.Model(model.input, outputs)
    chunks: dict[str, list[np.ndarray]] = {name: [] for name in layer_names}
    for start in range(0, len(crops), batch):
        values = probe(np.asarray(crops[start:start + batch], np.float32), training=False)
        for name, value in zip(layer_names, values, strict=True):
            chunks[name].append(channel_statistics(keras.ops.convert_to_numpy(value)))
    return {name: np.concatenate(parts) for name, parts in chunks.items()}


def standardise(features: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance per column (constant columns become 0)."""
    std = features.std(axis=0)
    return (features - features.mean(axis=0)) / np.where(std > 0, std, 1.0)


def probe_accuracy(features: np.ndarray, labels: np.ndarray, *, neighbours: int = 5, folds: int = 5,
                   seed: int = 0) -> float:
    """Mean accuracy of a k-NN classifier over stratified `folds`-fold cross-validation (standardised input)."""
    # scikit-learn is imported here, not at the top: only the features study needs it (start-up speed)
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    labels = np.asarray(labels)
    smallest = int(np.bincount(np.unique(labels, return_inverse=True)[1]).min())
    folds = max(2, min(folds, smallest))
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    k = max(1, min(neighbours, len(labels) - len(labels) // folds - 1))
    return float(np.mean(cross_val_score(KNeighborsClassifier(n_neighbors=k), standardise(features), labels, cv=split)))


def shuffled_accuracy(features: np.ndarray, labels: np.ndarray, *, neighbours: int = 5, folds: int = 5,
                      seed: int = 0) -> float:
    """The same probe with the labels shuffled: what chance looks like on these features."""
    shuffled = np.random.default_rng(seed).permutation(np.asarray(labels))
    return probe_accuracy(features, shuffled, neighbours=neighbours, folds=folds, seed=seed)


def tsne(features: np.ndarray, seed: int = 0) -> np.ndarray:
    """2-D t-SNE embedding of the standardised features (scikit-learn; perplexity suited to small sets)."""
    from sklearn.manifold import TSNE

    perplexity = float(max(2.0, min(30.0, (len(features) - 1) / 3.0)))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
        standardise(features))


def analyse(model, crops_by_task: dict[str, list[np.ndarray]], layers: Sequence[tuple[str, str]], *,
            neighbours: int, folds: int, seed: int = 0) -> dict:
    """Probe accuracy, shuffled-label accuracy and t-SNE of every layer `(label, layer name)` for the crops."""
    tasks = list(crops_by_task)
    crops = np.concatenate([np.stack(crops_by_task[t]) for t in tasks])
    labels = np.concatenate([[t] * len(crops_by_task[t]) for t in tasks])
    features = layer_features(model, [name for _, name in layers], crops)
    result = {"tasks": tasks, "samples": min(len(v) for v in crops_by_task.values()), "labels": labels.tolist(),
              "chance": 1.0 / len(tasks), "layers": []}
    for label, name in layers:
        values = features[name]
        result["layers"].append({
            "layer": label, "module": name, "dims": int(values.shape[1]),
            "accuracy": probe_accuracy(values, labels, neighbours=neighbours, folds=folds, seed=seed),
            "shuffled": shuffled_accuracy(values, labels, neighbours=neighbours, folds=folds, seed=seed),
            "tsne": tsne(values, seed).tolist()})
    return result
