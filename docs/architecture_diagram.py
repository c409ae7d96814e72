"""Draws docs/architecture.png: the project's layers (read from the import-linter contract in
pyproject.toml) and the imports between their modules (read from the code with grimp).

    python docs/architecture_diagram.py [--out docs/architecture.png]

Each box is one entry of the contract (a package, or a command module), top to bottom as the contract
lists them, with the modules a package holds written under its name; an arrow means "some module of A
imports some module of B". Arrows only ever point down: `lint-imports` checks that.
"""

from __future__ import annotations

import argparse
import os

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BANDS = {  # first module of a contract line -> the band it opens (labels of the picture)
    "serving": "deploy", "keras_durbm.train": "jobs", "tfrecords_tools": "data", "keras_durbm.scoring": "model",
    "keras_durbm.config": "foundation",
}
COLOURS = {"deploy": "#f4cccc", "jobs": "#fce5cd", "data": "#d9ead3", "model": "#cfe2f3", "foundation": "#eeeeee"}


def contract_layers() -> list[list[str]]:
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as handle:
        config = tomllib.load(handle)["tool"]["importlinter"]
    layers = next(c for c in config["contracts"] if c["type"] == "layers")["layers"]
    return [[m.strip() for m in line.replace(":", "|").split("|")] for line in layers]


def import_graph():
    import grimp

    return grimp.build_graph("keras_durbm", "tfrecords_tools", "export", "serving")


def contents(graph, package: str) -> str:
    """The modules and subpackages directly inside `package`, wrapped to fit a box ('' for a module)."""
    names = sorted(m.rsplit(".", 1)[1] for m in graph.find_children(package)
                   if not m.rsplit(".", 1)[1].startswith("_")) if package in graph.modules else []
    lines, line = [], ""
    for name in names:
        if line and len(line) + len(name) > 34:
            lines.append(line)
            line = ""
        line += (" · " if line else "") + name
    return "\n".join(lines + [line] if line else lines)


def module_edges(graph, layers: list[list[str]]) -> set[tuple[str, str]]:
    groups = [m for line in layers for m in line]

    def group_of(module: str) -> str | None:
        matches = [g for g in groups if module == g or module.startswith(g + ".")]
        return max(matches, key=len) if matches else None

    edges = set()
    for importer in graph.modules:
        a = group_of(importer)
        for imported in graph.find_modules_directly_imported_by(importer):
            b = group_of(imported)
            if a and b and a != b:
                edges.add((a, b))
    return edges


def draw(layers: list[list[str]], edges: set[tuple[str, str]], inside: dict[str, str], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    width = max(len(line) for line in layers)
    fig, ax = plt.subplots(figsize=(2.6 * width + 1.5, 1.25 * len(layers) + 1))
    ax.set_axis_off()
    where, band = {}, "deploy"
    for row, line in enumerate(layers):
        band = BANDS.get(line[0], band)
        y = len(layers) - row
        for col, module in enumerate(line):
            x = (col - (len(line) - 1) / 2) * 2.6
            where[module] = (x, y)
            ax.add_patch(FancyBboxPatch((x - 1.15, y - 0.36), 2.3, 0.72, boxstyle="round,pad=0.02",
                                        fc=COLOURS[band], ec="black", lw=0.8, zorder=3))
            if inside.get(module):
                ax.text(x, y + 0.2, module, ha="center", va="center", fontsize=7, weight="bold", zorder=4)
                ax.text(x, y - 0.08, inside[module], ha="center", va="center", fontsize=5.5, zorder=4,
                        linespacing=1.1)
            else:
                ax.text(x, y, module, ha="center", va="center", fontsize=7, weight="bold", zorder=4)
        if row == 0 or BANDS.get(line[0]):
            ax.text(-(width / 2) * 2.6 - 0.4, y, band, ha="right", va="center", fontsize=9, weight="bold")
    for a, b in sorted(edges):
        (xa, ya), (xb, yb) = where[a], where[b]
        ax.annotate("", (xb, yb + 0.36), (xa, ya - 0.36), zorder=1,
                    arrowprops=dict(arrowstyle="->", lw=0.5, color="#777777", alpha=0.45,
                                    connectionstyle="arc3,rad=0.08"))
    ax.set_xlim(-(width / 2) * 2.6 - 1.6, (width / 2) * 2.6 + 0.2)
    ax.set_ylim(0.3, len(layers) + 0.8)
    ax.set_title("keras_durbm: layers of the import-linter contract, arrows = imports (all point down)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "architecture.png"))
    args = parser.parse_args()
    layers = contract_layers()
    graph = import_graph()
    edges = module_edges(graph, layers)
    inside = {m: contents(graph, m) for line in layers for m in line}
    draw(layers, edges, inside, args.out)
    print(f"{len(edges)} group-to-group imports drawn -> {args.out}")


if __name__ == "__main__":
    main()
