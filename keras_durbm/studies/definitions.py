"""The paper's studies (docs/studies.md): their runs, and the paper's numbers to print beside ours.

* `topologies` — Table 2: the 13 three-task designs of B, H, R;
* `four-task` — §5.3: every way of adding J to the best three-task design;
* `ablation` — Table 3: TV, GAP and Fusion switched on one after the other (batch 3, as the paper);
* `multitask` — Table 3's bottom rows: each task trained alone in the same network vs jointly;
* `features` — Fig. 9: how well the encoder's activations separate the degradations.
"""

from __future__ import annotations

from keras_durbm.config.topology import TABLE2_DESIGNS, parse_topology
from keras_durbm.studies.plan import RunSpec, Study, StudySettings, run_id

THREE = ("motion_blur", "haze", "rain")
FOUR = ("motion_blur", "haze", "rain", "jpeg")

# Table 3 of the paper (3-task network, batch 3): PSNR per task (B, H, R), and SSIM where the paper gives it.
ABLATION_ROWS = (  # (TV, GAP, Fusion) -> model overrides
    ((False, False, False), ("model.squeeze=none", "model.fusion=false")),
    ((True, False, False), ("model.squeeze=tv", "model.fusion=false")),
    ((False, True, False), ("model.squeeze=gap", "model.fusion=false")),
    ((True, True, False), ("model.squeeze=both", "model.fusion=false")),
    ((True, True, True), ("model.squeeze=both", "model.fusion=true")),
)
PAPER_ABLATION_PSNR = {
    (False, False, False): {"motion_blur": 28.25, "haze": 26.58, "rain": 31.32},
    (True, False, False): {"motion_blur": 28.49, "haze": 29.15, "rain": 31.99},
    (False, True, False): {"motion_blur": 28.11, "haze": 29.66, "rain": 32.01},
    (True, True, False): {"motion_blur": 28.51, "haze": 29.06, "rain": 32.03},
    (True, True, True): {"motion_blur": 28.91, "haze": 31.32, "rain": 32.15},
}
PAPER_JOINT = {"motion_blur": (28.91, 0.8911), "haze": (31.32, 0.9778), "rain": (32.15, 0.9048)}
PAPER_SINGLE = {"motion_blur": (27.87, 0.8653), "haze": (28.58, 0.9685), "rain": (32.60, 0.9139)}
PAPER_FOUR_TASK_WINNER = "R>B>J>H"
FEATURE_LAYERS = (  # Fig. 9: the first ReLU, the second ReLU (the res of the first block), DuRB-M 1, 3 and 5
    ("first ReLU", "encoder_stem1"), ("second ReLU", "encoder_stem2"), ("DuRB-M 1", "encoder_durbm1"),
    ("DuRB-M 3", "encoder_durbm3"), ("DuRB-M 5", "encoder_durbm5"),
)


def _topology_runs(settings: StudySettings, with_model: bool) -> list[RunSpec]:
    return [RunSpec(run_id("topology", design), design, design, THREE, THREE) for design in TABLE2_DESIGNS]


def four_task_designs(base: str) -> list[str]:
    """Every way of adding J to `base`: as a new decoder at each existing level, or as a new level (a new
    decoder above a new DuRB-M) inserted at each position."""
    levels = [list("".join(t.letter for t in level)) for level in parse_topology(base).levels]
    if "J" in "".join("".join(level) for level in levels):
        raise ValueError(f"study.base {base!r} already has a J head; give a three-task design")
    designs = []
    for i in range(len(levels)):
        designs.append(">".join("".join(level + (["J"] if k == i else [])) for k, level in enumerate(levels)))
    for i in range(len(levels) + 1):
        designs.append(">".join("".join(level) for level in levels[:i] + [["J"]] + levels[i:]))
    return designs


def _four_task_runs(settings: StudySettings, with_model: bool) -> list[RunSpec]:
    return [RunSpec(run_id("four", design), design, design, FOUR, FOUR) for design in four_task_designs(settings.base)]


def ablation_label(row: tuple[bool, bool, bool]) -> str:
    return " ".join(f"{name}{'+' if on else '-'}" for name, on in zip(("TV", "GAP", "Fusion"), row, strict=True))


def _ablation_runs(settings: StudySettings, with_model: bool) -> list[RunSpec]:
    return [RunSpec(f"ablation-{i}", ablation_label(row), settings.design, THREE, THREE, overrides)
            for i, (row, overrides) in enumerate(ABLATION_ROWS)]


def _multitask_runs(settings: StudySettings, with_model: bool) -> list[RunSpec]:
    joint = RunSpec("multitask-joint", "joint", settings.design, THREE, THREE)
    return [joint, *(RunSpec(f"multitask-{task}", f"{task} alone", settings.design, (task,), (task,))
                     for task in THREE)]


def _feature_runs(settings: StudySettings, with_model: bool) -> list[RunSpec]:
    return [] if with_model else [RunSpec("features-joint", "joint", settings.design, THREE, THREE)]


STUDIES: dict[str, Study] = {s.name: s for s in (
    Study("topologies", "Table 2: where the heads sit, the 13 three-task designs", THREE, _topology_runs),
    Study("four-task", "Section 5.3: adding a JPEG head to the best three-task design", FOUR, _four_task_runs),
    Study("ablation", "Table 3: TV, GAP and Fusion in DuRB-M (batch 3)", THREE, _ablation_runs, batch=3),
    Study("multitask", "Table 3: each task trained alone in the same network vs jointly", THREE, _multitask_runs),
    Study("features", "Fig. 9: how the encoder's activations separate the degradations", THREE, _feature_runs,
          uses_model=True),
)}
