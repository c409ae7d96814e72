"""How well a classifier tells classes apart: a confusion matrix, per-class precision and recall, its picture."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from keras_durbm.atomic_files import atomic_path


@dataclasses.dataclass(frozen=True)
class ConfusionMatrix:
    """`counts[i, j]`: how many examples of true class `classes[i]` were predicted as `classes[j]`."""

    classes: tuple[str, ...]
    counts: np.ndarray

    @classmethod
    def from_labels(cls, classes: Sequence[str], truth: Sequence[str], predicted: Sequence[str]) -> ConfusionMatrix:
        """Counts (true, predicted) pairs of class names; a name outside `classes` is a ValueError."""
        classes = tuple(classes)
        index = {name: i for i, name in enumerate(classes)}
        unknown = sorted({*truth, *predicted} - set(index))
        if unknown:
            raise ValueError(f"labels {unknown} are not among the classes {', '.join(classes)}")
        if len(truth) != len(predicted):
            raise ValueError(f"{len(truth)} true labels but {len(predicted)} predictions")
        counts = np.zeros((len(classes), len(classes)), np.int64)
        for t, p in zip(truth, predicted, strict=True):
            counts[index[t], index[p]] += 1
        return cls(classes, counts)

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    @property
    def accuracy(self) -> float:
        """Share of examples on the diagonal (NaN when there are none)."""
        return float(np.trace(self.counts) / self.total) if self.total else float("nan")

    def precision(self) -> dict[str, float]:
        """Per predicted class: the share of its predictions that were right (NaN when never predicted)."""
        predicted = self.counts.sum(axis=0)
        return {c: float(self.counts[i, i] / predicted[i]) if predicted[i] else float("nan")
                for i, c in enumerate(self.classes)}

    def recall(self) -> dict[str, float]:
        """Per true class: the share of its examples predicted as it (NaN when it has none)."""
        actual = self.counts.sum(axis=1)
        return {c: float(self.counts[i, i] / actual[i]) if actual[i] else float("nan")
                for i, c in enumerate(self.classes)}

    def to_dict(self) -> dict:
        return {"classes": list(self.classes), "counts": self.counts.tolist(), "accuracy": self.accuracy,
                "precision": self.precision(), "recall": self.recall()}

    def format_table(self) -> str:
        """Rows: true class; columns: predicted class; then precision and recall per class."""
        width = max(9, *(len(c) for c in self.classes)) + 1
        lines = ["true \\ predicted".ljust(width + 6) + "".join(c.rjust(width) for c in self.classes)
                 + "recall".rjust(9)]
        recall, precision = self.recall(), self.precision()
        for i, name in enumerate(self.classes):
            lines.append(name.ljust(width + 6) + "".join(str(int(v)).rjust(width) for v in self.counts[i])
                         + _percent(recall[name]).rjust(9))
        lines.append("precision".ljust(width + 6) + "".join(_percent(precision[c]).rjust(width) for c in self.classes))
        lines.append(f"accuracy {_percent(self.accuracy)} ({int(np.trace(self.counts))}/{self.total})")
        return "\n".join(lines)

    def write_png(self, path: str, title: str = "") -> None:
        """The matrix as a heat map with counts in the cells (matplotlib, written atomically)."""
        import matplotlib  # heavy: only for the picture

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        n = len(self.classes)
        figure, axes = plt.subplots(figsize=(1.1 * n + 2.2, 1.0 * n + 1.6))
        rows = self.counts / np.maximum(self.counts.sum(axis=1, keepdims=True), 1)
        axes.imshow(rows, cmap="Blues", vmin=0.0, vmax=1.0)
        for i in range(n):
            for j in range(n):
                axes.text(j, i, str(int(self.counts[i, j])), ha="center", va="center",
                          color="white" if rows[i, j] > 0.6 else "black")
        axes.set_xticks(range(n), self.classes, rotation=30, ha="right")
        axes.set_yticks(range(n), self.classes)
        axes.set_xlabel("predicted")
        axes.set_ylabel("true")
        axes.set_title(title or f"accuracy {_percent(self.accuracy)} of {self.total}")
        figure.tight_layout()
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format="png", dpi=110)
        plt.close(figure)


def _percent(value: float) -> str:
    return "-" if value != value else f"{100 * value:.1f}%"
