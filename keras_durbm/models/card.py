"""What a configured network costs, head by head: parameters, weight layers and multiply-adds."""

from __future__ import annotations

import dataclasses

from keras_durbm.config.model import ModelConfig
from keras_durbm.models.cost import count_parameters, count_weight_layers, multiply_adds_per_megapixel
from keras_durbm.models.network import DuRBMNetwork, build_durbm, head_model


@dataclasses.dataclass(frozen=True)
class HeadCost:
    task: str
    depth: int  # extra DuRB-M blocks between the encoder and this head
    parameters: int
    weight_layers: int
    decoder_weight_layers: int
    gmacs_per_megapixel: float


@dataclasses.dataclass(frozen=True)
class ModelCard:
    config: ModelConfig
    total_parameters: int
    total_weight_layers: int
    encoder_weight_layers: int
    extra_block_weight_layers: tuple[int, ...]
    heads: tuple[HeadCost, ...]
    classes: tuple[str, ...] = ()  # what the degradation classifier tells apart (empty without one)
    classifier_parameters: int = 0
    classifier_weight_layers: int = 0


def describe(model: DuRBMNetwork, measure_size: int = 256) -> ModelCard:
    """Counts the whole network and each head's path (what a one-head export or a task's step runs)."""
    encoder = [layer for layer in model.layers if layer.name.startswith("encoder_")]
    extra = [layer for layer in model.layers if layer.name.startswith("extra_durbm")]
    heads = []
    for task in model.topology.tasks:
        head = head_model(model, task.name)
        decoder = [layer for layer in model.layers if layer.name.startswith(f"{task.name}_decoder")]
        heads.append(
            HeadCost(
                task=task.name,
                depth=model.topology.depth_of(task.name),
                parameters=count_parameters(head),
                weight_layers=count_weight_layers(head),
                decoder_weight_layers=sum(count_weight_layers(layer) for layer in decoder),
                gmacs_per_megapixel=multiply_adds_per_megapixel(head, measure_size) / 1e9,
            )
        )
    return ModelCard(
        config=model.config,
        total_parameters=count_parameters(model),
        total_weight_layers=count_weight_layers(model),
        encoder_weight_layers=sum(count_weight_layers(layer) for layer in encoder),
        extra_block_weight_layers=tuple(count_weight_layers(layer) for layer in extra),
        heads=tuple(heads),
        **_classifier_cost(model),
    )


def _classifier_cost(model: DuRBMNetwork) -> dict:
    if not model.config.classifier:
        return {}
    layer = model.get_layer("degradation_classifier")
    return {"classes": model.classes, "classifier_parameters": count_parameters(layer),
            "classifier_weight_layers": count_weight_layers(layer)}


def format_card(card: ModelCard, preset: str = "") -> str:
    """A plain-text table of the card."""
    cfg = card.config
    lines = [
        f"keras_durbm network {preset + ' ' if preset else ''}topology {cfg.topology!r}",
        f"  widths: stem {cfg.stem_widths}, x C={cfg.channels}, res {cfg.res_channels}, "
        f"TV-SE hidden {cfg.tvse_hidden}, SE hidden {cfg.se_hidden}, decoder {cfg.decoder_widths}",
        f"  squeeze {cfg.squeeze}, fusion {cfg.fusion}, beta {cfg.tv_beta}",
        f"  weight layers: encoder {card.encoder_weight_layers}, extra DuRB-M blocks "
        f"{list(card.extra_block_weight_layers)}, total {card.total_weight_layers}",
        f"  parameters: {card.total_parameters:,} in total",
        "",
        f"  {'head':<12} {'depth':>5} {'params':>12} {'weight layers':>14} {'decoder':>8} {'GMAC/MP':>9} {'GFLOP/MP':>9}",
    ]
    for h in card.heads:
        lines.append(
            f"  {h.task:<12} {h.depth:>5} {h.parameters:>12,} {h.weight_layers:>14} "
            f"{h.decoder_weight_layers:>8} {h.gmacs_per_megapixel:>9.1f} {2 * h.gmacs_per_megapixel:>9.1f}"
        )
    if card.classes:
        lines.append(f"  degradation classifier: {card.classifier_parameters:,} parameters in "
                     f"{card.classifier_weight_layers} weight layers (in the total), over {', '.join(card.classes)}")
    lines.append("  (GMAC/MP: multiply-accumulates of conv and dense layers per million input pixels; FLOPs = 2 x MACs)")
    return "\n".join(lines)


def plot_topology(card: ModelCard, path: str) -> None:
    """Draws the encoder, the stacked DuRB-M blocks and where each head attaches (PNG/SVG by extension)."""
    import matplotlib  # optional heavy dependency, only for --plot

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    depth = len(card.extra_block_weight_layers)
    fig, ax = plt.subplots(figsize=(3 + 2.2 * (depth + 1), 3.6))
    ax.set_axis_off()

    def box(x, y, text, color):
        ax.add_patch(plt.Rectangle((x - 0.9, y - 0.35), 1.8, 0.7, color=color, ec="black", lw=1))
        ax.text(x, y, text, ha="center", va="center", fontsize=8)

    box(0, 0, "input", "#eeeeee")
    box(2, 0, f"encoder\n3 conv + 5 DuRB-M\n({card.encoder_weight_layers} layers)", "#cfe2f3")
    ax.annotate("", (1.1, 0), (0.9, 0), arrowprops=dict(arrowstyle="->"))
    for level in range(depth + 1):
        x = 2 + 2.2 * level
        if level:
            box(x, 0, f"DuRB-M #{level}\n({card.extra_block_weight_layers[level - 1]} layers)", "#d9ead3")
            ax.annotate("", (x - 0.9, 0), (x - 1.3, 0), arrowprops=dict(arrowstyle="->"))
        heads = [h for h in card.heads if h.depth == level]
        for i, h in enumerate(heads):
            y = -1.3 - 1.0 * i
            box(x, y, f"{h.task} decoder\npath to head: {h.parameters / 1e6:.2f}M params", "#fce5cd")
            ax.annotate("", (x, y + 0.35), (x, -0.35 if i == 0 else y + 0.65), arrowprops=dict(arrowstyle="->"))
    rows = max(sum(h.depth == d for h in card.heads) for d in range(depth + 1))
    ax.set_xlim(-1, 3 + 2.2 * depth)
    ax.set_ylim(-1.3 - rows, 0.8)
    ax.set_title(f"topology {card.config.topology}: {card.total_parameters / 1e6:.2f}M parameters", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def card_for(config: ModelConfig, measure_size: int = 256) -> ModelCard:
    return describe(build_durbm(config), measure_size)
