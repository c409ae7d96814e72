"""The training config tree and its named experiments (TF Model Garden style, docs/design.md §1.7).

`ExperimentConfig` is one tree of frozen dataclasses. A named experiment
(`demo`, `paper`, `smoke`) gives every field a value; YAML files and
`--set key=value` only override fields of it (`build_config`), and an unknown
key or a wrong type is an error naming the key. `model_preset` picks the base of
the `model` section; `model.*` overrides apply on top of that preset.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from keras_durbm.config.engine import apply_overrides
from keras_durbm.config.model import MODEL_PRESETS, SIZE_MULTIPLE, ModelConfig, min_input_size, model_preset
from keras_durbm.config.model_file import read_model_config
from keras_durbm.config.tasks import Task, get_task
from keras_durbm.config.topology import parse_topology

STRATEGIES = ("auto", "default", "mirrored", "multi_worker")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
DATA_SOURCES = ("tfrecords", "demo")


@dataclasses.dataclass(frozen=True)
class DemoDataConfig:
    """The embedded default's data: degraded copies of scikit-image's bundled photographs.

    Args:
        train_photos / held_out_photos: names of `skimage.data` images; the held-out ones are
            only used to score the trained model.
        max_side: photos are resized (area) so their longer side is at most this.
        variants: degraded copies per training photo and task (different seeds).
        synthesis: per-task synthesizer parameters, e.g. `{motion_blur: {length: [3, 15]}}`
            (see `tfrecords_tools.synthesis`).
        held_out_synthesis: per-task parameters of the held-out copies, applied over `synthesis`
            (a fixed strength makes the score comparable between runs, e.g. `{jpeg: {quality: 10}}`,
            the quality the paper tests at).
        seed: seed of the synthesis.
        procedural_images: that many procedural clean images (dead leaves, `procedural_size`² pixels, at
            least `data.crop`) join the training photos, the same for every task (`convert_synth --procedural`).
        photometric: the training photos (and procedural images) get a random exposure, white balance,
            gamma and saturation per degraded copy before being degraded; the target is the varied image
            (`convert_synth --photometric`). The held-out photos stay the photographs, unvaried.
    """

    train_photos: tuple[str, ...] = (
        "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
        "camera", "brick", "grass", "gravel", "moon", "clock", "coins",
    )
    held_out_photos: tuple[str, ...] = ("coffee", "astronaut", "motorcycle")
    max_side: int = 192
    variants: int = 4
    synthesis: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    held_out_synthesis: dict[str, dict[str, Any]] = dataclasses.field(default_factory=lambda: {"jpeg": {"quality": 10}})
    seed: int = 7
    procedural_images: int = 0
    procedural_size: int = 192
    photometric: bool = False

    def __post_init__(self):
        if self.max_side < 16 or self.variants < 1:
            raise ValueError("max_side must be >= 16 and variants >= 1")
        if self.procedural_images < 0:
            raise ValueError(f"procedural_images must be >= 0, got {self.procedural_images}")
        if self.procedural_size < 16:
            raise ValueError(f"procedural_size must be >= 16, got {self.procedural_size}")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where minibatches come from and how a training cycle mixes the tasks (paper §5.1.2).

    Args:
        source: `"tfrecords"` (shards written by `tfrecords_tools`, in `tfrecord_dir`) or
            `"demo"` (synthesised into `<run_dir>/data` on the first run, see `demo`).
        pattern: one cycle, one task letter per minibatch, e.g. `"BBBHR"` (3×B, 1×H, 1×R);
            the order inside a cycle is shuffled per cycle.
        batch_size: global batch size of every minibatch; `batch_sizes` overrides it per task
            (keys: task names or letters).
        crop: side of the random training crops (a multiple of 4).
        crop_align: per task (names or letters), crop offsets are multiples of this, e.g. `{jpeg: 8}`
            keeps JPEG's 8×8 block grid on the network's stride-4 lattice as in a whole image
            **(choice)**; it must divide `crop`. Tasks without a head in the topology are ignored.
        val_split: split used for the periodic validation scores ("" to skip).
        seed: seed of crops, flips, shuffling and cycle order.
        skip_heads: heads of the topology left untrained (their letters are not in `pattern`), e.g. to
            train one task of a multi-head network alone, as the paper's single-task rows do (names or
            letters). Every head must be in `pattern` or here.
    """

    source: str = "tfrecords"
    tfrecord_dir: str = ""
    train_split: str = "train"
    val_split: str = "val"
    pattern: str = "BBBHR"
    skip_heads: tuple[str, ...] = ()
    batch_size: int = 32
    batch_sizes: dict[str, int] = dataclasses.field(default_factory=dict)
    crop: int = 256
    crop_align: dict[str, int] = dataclasses.field(default_factory=dict)
    seed: int = 0
    demo: DemoDataConfig = DemoDataConfig()

    def batch_size_of(self, task: Task) -> int:
        """Global batch size for minibatches of `task`."""
        return self.batch_sizes.get(task.name, self.batch_sizes.get(task.letter, self.batch_size))

    def __post_init__(self):
        if self.source not in DATA_SOURCES:
            raise ValueError(f"data.source must be one of {', '.join(DATA_SOURCES)}, got {self.source!r}")
        if self.crop <= 0 or self.crop % SIZE_MULTIPLE:
            raise ValueError(f"data.crop must be a positive multiple of {SIZE_MULTIPLE}, got {self.crop}")
        if self.batch_size < 1 or any(int(v) < 1 for v in self.batch_sizes.values()):
            raise ValueError(f"data.batch_size(s) must be >= 1, got {self.batch_size} / {self.batch_sizes}")


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """How the heads' losses `1.1·(1 − SSIM) + 0.75·L1` (docs/design.md §1.7) enter the shared gradient.

    Args:
        task_weights: multiplies the loss of a task's minibatches (keys: task names or letters;
            default 1, as in the paper). A task whose gradients dwarf the others' (heavy haze is
            a global colour shift) otherwise fills the shared encoder's Adam moments alone; the
            logged losses stay unweighted.
        classifier_weight: multiplies the classifier's cross-entropy (inputs labelled with their task,
            targets as `clean`; `model.classifier`). Its own weights have their own Adam moments, so this only
            sets how hard it pulls on the encoder when `model.classifier_backprop` lets it.
    """

    task_weights: dict[str, float] = dataclasses.field(default_factory=dict)
    classifier_weight: float = 0.1

    def weight_of(self, task: Task) -> float:
        return float(self.task_weights.get(task.name, self.task_weights.get(task.letter, 1.0)))

    def __post_init__(self):
        if any(float(w) < 0 for w in self.task_weights.values()):
            raise ValueError(f"loss.task_weights must be >= 0, got {self.task_weights}")
        if not self.classifier_weight > 0:
            raise ValueError(f"loss.classifier_weight must be > 0, got {self.classifier_weight}")


MOMENTS = ("shared", "per_task")
#: The smallest normal float32 (numpy.finfo(numpy.float32).tiny): a learning rate or ε below it is 0 in training.
FLOAT32_TINY = 2.0**-126


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """Adam as in the paper (§5.1.2): lr 1e-4, β = (0.9, 0.999), ε = 1e-8.

    Args:
        moments: `shared` — one Adam for the whole network, as in the paper; `per_task` — one
            Adam per head, so the shared encoder keeps separate moments for each task and every
            task's step moves it by a normalised amount **(choice)**. With shared moments a
            task with large gradients (heavy haze) fills the encoder's moments, and the others'
            steps barely move it.
    """

    learning_rate: float = 1e-4
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8
    moments: str = "shared"

    def __post_init__(self):
        if not self.learning_rate > 0:
            raise ValueError(f"optimizer.learning_rate must be > 0, got {self.learning_rate}")
        if not (0 <= self.beta_1 < 1 and 0 <= self.beta_2 < 1) or not self.epsilon > 0:
            raise ValueError("optimizer.beta_1 and beta_2 must be in [0, 1) and epsilon > 0")
        for name in ("learning_rate", "epsilon"):  # the optimizer computes in float32
            value = getattr(self, name)
            if value < FLOAT32_TINY:
                raise ValueError(f"optimizer.{name} is {value:g}, which is 0 (or denormal) in float32, the "
                                 f"precision training computes in; expected at least {FLOAT32_TINY:.3g}")
        if self.moments not in MOMENTS:
            raise ValueError(f"optimizer.moments must be one of {', '.join(MOMENTS)}, got {self.moments!r}")


@dataclasses.dataclass(frozen=True)
class ScheduleConfig:
    """Length of training and the reduce-on-plateau rule ("lr ÷ 10 when the loss plateaus").

    The mean training loss is read every `plateau_window` steps; when `plateau_patience`
    readings in a row fail to beat the best one by the relative margin `plateau_min_delta`,
    the learning rate is multiplied by `plateau_factor` (not below `min_learning_rate`).
    `warmup_steps` > 0 ramps the rate linearly from lr/warmup_steps up to lr over the first
    steps **(choice; 0 in the paper recipe)**.

    With a degradation classifier (`model.classifier`), `classifier_steps` more steps follow the
    `total_steps` joint ones and train the classifier alone on the final encoder (whose activations kept
    moving while it learned jointly), at the last learning rate; nothing else changes in them. With
    `total_steps=0` a run only trains the classifier of the model it starts from (`init.model`).
    """

    total_steps: int = 100_000
    classifier_steps: int = 0
    warmup_steps: int = 0
    plateau_window: int = 1000
    plateau_patience: int = 5
    plateau_factor: float = 0.1
    plateau_min_delta: float = 0.01
    min_learning_rate: float = 1e-7

    def __post_init__(self):
        if self.total_steps < 0 or self.classifier_steps < 0 or self.total_steps + self.classifier_steps < 1:
            raise ValueError("schedule.total_steps and classifier_steps must be >= 0, and not both 0")
        if self.plateau_window < 1 or self.plateau_patience < 1 or self.warmup_steps < 0:
            raise ValueError("schedule.plateau_window and plateau_patience must be >= 1, warmup_steps >= 0")
        if not 0.0 < self.plateau_factor <= 1.0:
            raise ValueError(f"schedule.plateau_factor must be in (0, 1], got {self.plateau_factor}")


@dataclasses.dataclass(frozen=True)
class InitConfig:
    """How a fresh run initialises the network before its first step (a resumed run restores instead).

    Args:
        zero_output_kernels: start every head's last conv at zero, so the compensating image is 0
            and each head outputs its input at step 0 **(choice; the paper is silent)**. With the
            default random init the heads start by adding noise, and Adam's normalised steps
            quickly push the decoders' ReLUs dead to suppress it; on the demo this froze three of
            four heads at "output = input" (residual ~1e-4, 99% of the last ReLUs at zero).
        model: start from this trained model (a `.keras` file or a run folder) instead: its model
            config is adopted (only the `model.classifier*` fields come from this config) and every
            layer's weights are copied; `zero_output_kernels` is then ignored.
    """

    zero_output_kernels: bool = True
    model: str = ""


@dataclasses.dataclass(frozen=True)
class RuntimeConfig:
    """Where and how the training runs.

    Args:
        strategy: `auto` (multi_worker if `TF_CONFIG` is set, mirrored with several GPUs,
            else default), `default`, `mirrored` (all visible GPUs, or `devices`),
            `multi_worker` (`MultiWorkerMirroredStrategy` from `TF_CONFIG`).
        devices: device names for `mirrored` (empty: all GPUs, or the CPU).
        logical_cpu_devices: split the CPU into this many logical devices (testing the
            distributed path without GPUs); 0 leaves the CPU whole.
        precision: `float32`, `mixed_float16` (GPUs; adds dynamic loss scaling) or `mixed_bfloat16`.
        seed: seed of the weight initialisation.
        deterministic: turn on TensorFlow's op determinism (slower).
        intra_op_threads: threads each TensorFlow op may use; 0 leaves TensorFlow's choice (one per core).
            Small steps run faster with 1: their ops are too small to split, and the cores then run
            independent ops and the input pipeline side by side. Applies when the run sets up TensorFlow
            (as `python -m keras_durbm.train` does), not in a process that has already run ops.
    """

    strategy: str = "auto"
    devices: tuple[str, ...] = ()
    logical_cpu_devices: int = 0
    precision: str = "float32"
    seed: int = 0
    deterministic: bool = False
    intra_op_threads: int = 0

    def __post_init__(self):
        if self.intra_op_threads < 0:
            raise ValueError(f"runtime.intra_op_threads must be >= 0, got {self.intra_op_threads}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"runtime.strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"runtime.precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.logical_cpu_devices < 0:
            raise ValueError(f"runtime.logical_cpu_devices must be >= 0, got {self.logical_cpu_devices}")


@dataclasses.dataclass(frozen=True)
class CheckpointConfig:
    """Checkpoints every `every_steps` steps (and on SIGTERM/SIGINT); the newest `max_to_keep` are kept."""

    every_steps: int = 1000
    max_to_keep: int = 3

    def __post_init__(self):
        if self.every_steps < 1 or self.max_to_keep < 1:
            raise ValueError("checkpoint.every_steps and checkpoint.max_to_keep must be >= 1")


@dataclasses.dataclass(frozen=True)
class LoggingConfig:
    """What the run reports and how often.

    Args:
        log_every: steps between TensorBoard scalars and a printed line of per-task losses.
        eval_every: steps between validation PSNR/SSIM (and image grids); 0 disables.
        eval_images: validation images per task.
        eval_max_side: validation images are centre-cropped to at most this side.
        final_eval_images: validation images per task scored whole at the end of the run (0: all).
        progress_bar: show a tqdm bar (rate, ETA, per-task loss).
        tensorboard: write TensorBoard event files under `<run_dir>/tensorboard`.
    """

    log_every: int = 100
    eval_every: int = 5000
    eval_images: int = 4
    eval_max_side: int = 256
    final_eval_images: int = 0
    progress_bar: bool = True
    tensorboard: bool = True

    def __post_init__(self):
        if self.log_every < 1 or self.eval_every < 0 or self.eval_images < 1 or self.final_eval_images < 0:
            raise ValueError("logging.log_every and eval_images must be >= 1, eval_every and final_eval_images >= 0")
        if self.eval_max_side % SIZE_MULTIPLE:
            raise ValueError(f"logging.eval_max_side must be a multiple of {SIZE_MULTIPLE}")


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """Everything one training run needs; saved as `config.yaml` in the run folder."""

    experiment: str = "paper"
    model_preset: str = "paper"
    model: ModelConfig = ModelConfig()
    init: InitConfig = InitConfig()
    data: DataConfig = DataConfig()
    loss: LossConfig = LossConfig()
    optimizer: OptimizerConfig = OptimizerConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    runtime: RuntimeConfig = RuntimeConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()
    logging: LoggingConfig = LoggingConfig()

    @property
    def tasks(self) -> tuple[Task, ...]:
        """The heads this run trains (those `data.pattern` schedules), in topology order: the task index
        order of the data and of the train steps."""
        scheduled = {get_task(letter).name for letter in self.data.pattern}
        return tuple(t for t in parse_topology(self.model.topology).tasks if t.name in scheduled)

    @property
    def task_names(self) -> tuple[str, ...]:
        return tuple(task.name for task in self.tasks)


def validate(config: ExperimentConfig) -> ExperimentConfig:
    """Cross-section checks, run once after all overrides (so their order does not matter)."""
    if config.model_preset not in MODEL_PRESETS:
        raise ValueError(f"model_preset: unknown preset {config.model_preset!r}; known: {', '.join(MODEL_PRESETS)}")
    topology = parse_topology(config.model.topology)
    heads = set(topology.task_names)
    try:
        pattern_tasks = [get_task(letter).name for letter in config.data.pattern]
    except KeyError as error:
        raise ValueError(f"data.pattern {config.data.pattern!r}: {error.args[0]}") from None
    try:
        skipped = {get_task(key).name for key in config.data.skip_heads}
    except KeyError as error:
        raise ValueError(f"data.skip_heads: {error.args[0]}") from None
    if set(pattern_tasks) | skipped != heads or set(pattern_tasks) & skipped or skipped == heads:
        raise ValueError(
            f"data.pattern {config.data.pattern!r} must name every head of model.topology "
            f"{config.model.topology!r} (heads: {', '.join(sorted(heads))}) but those in data.skip_heads "
            f"({', '.join(sorted(skipped)) or 'none'}), and nothing else")
    if config.schedule.classifier_steps and not config.model.classifier:
        raise ValueError("schedule.classifier_steps train the degradation classifier, but model.classifier is off")
    if not config.schedule.total_steps and not config.init.model:
        raise ValueError("schedule.total_steps=0 trains only the degradation classifier, on a trained encoder: "
                         "give the trained model with --set init.model=RUN_DIR_OR_FILE.keras")
    for field, mapping in (("data.batch_sizes", config.data.batch_sizes), ("loss.task_weights", config.loss.task_weights)):
        for key in mapping:
            try:
                name = get_task(key).name
            except KeyError:
                raise ValueError(f"{field}: unknown task {key!r}") from None
            if name not in heads:
                raise ValueError(f"{field}: task {key!r} has no head in topology {config.model.topology!r}")
    demo = config.data.demo
    overlap = set(demo.train_photos) & set(demo.held_out_photos)
    if overlap:
        raise ValueError(f"data.demo: photos {sorted(overlap)} are both training and held-out photos")
    if not demo.train_photos or not demo.held_out_photos:
        raise ValueError("data.demo needs at least one training and one held-out photo")
    if demo.procedural_images and demo.procedural_size < config.data.crop:
        raise ValueError(f"data.demo.procedural_size {demo.procedural_size} is below data.crop {config.data.crop}: "
                         "the training crops are cut from these images")
    for key, align in config.data.crop_align.items():  # tasks without a head are ignored (the demo names J)
        try:
            get_task(key)
        except KeyError:
            raise ValueError(f"data.crop_align: unknown task {key!r}") from None
        if int(align) < 1 or config.data.crop % int(align):
            raise ValueError(f"data.crop_align: {key}={align} must be >= 1 and divide data.crop {config.data.crop}")
    smallest = min_input_size(config.model)
    if config.data.crop < smallest:
        raise ValueError(f"data.crop {config.data.crop} is below this model's minimum input size {smallest}")
    if config.data.source == "tfrecords" and not config.data.tfrecord_dir:
        raise ValueError("data.tfrecord_dir is empty: give the folder written by tfrecords_tools "
                         "(or data.source=demo for the embedded synthetic data)")
    return config


# --- named experiments ---------------------------------------------------------------------------


def paper_experiment() -> ExperimentConfig:
    """The paper's recipe (§5.1.2): R>B>J>H, batch 32, 256² crops, cycles 3·B 1·H 1·R 1·J, Adam 1e-4.

    Adds the degradation classifier (not in the paper; its gradient stops at the encoder, so the heads
    train exactly as without it) and 2,000 classifier steps at the end.
    """
    return ExperimentConfig(
        experiment="paper",
        model_preset="paper",
        model=model_preset("paper", topology="R>B>J>H", classifier=True),
        schedule=ScheduleConfig(classifier_steps=2000),
        data=DataConfig(source="tfrecords", pattern="BBBHRJ", batch_size=32, crop=256),
        logging=LoggingConfig(final_eval_images=50),
    )


def demo_experiment() -> ExperimentConfig:
    """The embedded default: four tasks synthesised on scikit-image photos, a few minutes on 2 CPU cores.

    Departs from the paper for speed on tiny data: the `demo` model preset (lighter than `small`), 48² crops,
    batch 8, lr 5e-4 (5× the paper's) with one Adam per head, 1,600 joint steps in the cycle BBBBRRRHHJ
    (each head's share sized by what it needs to learn in a short run) and 150 classifier steps, one
    thread per op (`runtime.intra_op_threads`: the ops are too small to split), blur kernels scaled
    to the photos' size (4–10 px at a 192-px side), JPEG at quality 10 for training as for
    testing, with JPEG crops on the 8×8 block grid (docs/training.md has the measurements).
    """
    return ExperimentConfig(
        experiment="demo",
        model_preset="demo",
        model=model_preset("demo", topology="R>B>J>H", classifier=True),
        data=DataConfig(
            source="demo", pattern="BBBBRRRHHJ", batch_size=8, crop=48, crop_align={"jpeg": 8}, val_split="test",
            demo=DemoDataConfig(synthesis={"motion_blur": {"length": [4, 10]}, "jpeg": {"quality": 10}}),
        ),
        optimizer=OptimizerConfig(learning_rate=5e-4, moments="per_task"),
        schedule=ScheduleConfig(total_steps=1600, classifier_steps=150, plateau_window=300, plateau_patience=3),
        checkpoint=CheckpointConfig(every_steps=250),
        logging=LoggingConfig(log_every=50, eval_every=500, eval_images=3, eval_max_side=128),
        runtime=RuntimeConfig(intra_op_threads=1),
    )


#: The synthesis families the starter trains on: wide ranges, and never the families
#: `bench/generalization.py` holds out to test it (straight-line blur, planar-ground haze, PIL-drawn
#: rain, 4:4:4 JPEG). Parameter names are the synthesizers' (`tfrecords_tools.synthesis`).
STARTER_SYNTHESIS = {
    "motion_blur": {"family": ["trajectory", "curve"], "length": [4, 15]},
    "haze": {"depth_model": ["random", "noise", "ramp", "banded"], "beta": [0.3, 1.8], "airlight": [0.7, 1.0],
             "airlight_tint": [-0.1, 0.1]},
    "rain": {"width": [1.0, 2.0], "softness": [0.0, 1.0]},
    "jpeg": {"quality_range": [5, 40]},
}


def starter_experiment() -> ExperimentConfig:
    """The shipped starter model (`--model starter`): the demo's network trained in one sitting on broad data.

    The demo's architecture and optimiser, on the twelve training photographs plus 300 dead-leaves images
    (procedural, natural-image statistics), every clean image varied in exposure, white balance, gamma
    and saturation, each degradation drawn from several synthesis families over wide ranges
    (`STARTER_SYNTHESIS`), 64² crops, 18,000 joint steps in the cycle BBBRRHHJJ and 1,500 classifier
    steps (docs/training.md "The starter model" has the wall time and CPU it took).
    """
    demo = demo_experiment()
    return dataclasses.replace(
        demo,
        experiment="starter",
        data=dataclasses.replace(
            demo.data, pattern="BBBRRHHJJ", crop=64,
            demo=DemoDataConfig(synthesis=STARTER_SYNTHESIS, procedural_images=300, procedural_size=192,
                                photometric=True,
                                held_out_synthesis={"jpeg": {"quality": 10, "quality_range": None}})),
        schedule=ScheduleConfig(total_steps=18000, classifier_steps=1500, plateau_window=1000, plateau_patience=4),
        checkpoint=CheckpointConfig(every_steps=1000),
        logging=LoggingConfig(log_every=500, eval_every=5000, eval_images=3, eval_max_side=128),
    )


def router_experiment() -> ExperimentConfig:
    """Adds a degradation classifier to a trained model in minutes: `--set init.model=RUN_OR_FILE.keras`.

    The model's config and weights are adopted; only the classifier is trained (no joint steps, 600
    classifier steps), on the demo's synthesised data by default (`data.source` and `data.tfrecord_dir`
    point it at converted datasets), with one minibatch per head per cycle. The restored outputs stay
    bit-identical to the source model's.
    """
    demo = demo_experiment()
    return dataclasses.replace(
        demo,
        experiment="router",
        model=dataclasses.replace(demo.model, classifier=True),
        data=dataclasses.replace(demo.data, pattern=""),
        optimizer=OptimizerConfig(learning_rate=1e-3, moments="shared"),
        schedule=ScheduleConfig(total_steps=0, classifier_steps=600),
        checkpoint=CheckpointConfig(every_steps=200),
        logging=LoggingConfig(log_every=50, eval_every=0, eval_images=3, eval_max_side=128),
    )


def smoke_experiment() -> ExperimentConfig:
    """A seconds-long run of the whole pipeline (tiny preset, tiny photos) for tests and install checks."""
    return ExperimentConfig(
        experiment="smoke",
        model_preset="tiny",
        model=model_preset("tiny", topology="R>B>J>H"),
        data=DataConfig(
            source="demo", pattern="BBHRJ", batch_size=2, crop=16, val_split="test",
            demo=DemoDataConfig(train_photos=("astronaut", "camera"), held_out_photos=("coffee",),
                                max_side=40, variants=1),
        ),
        optimizer=OptimizerConfig(learning_rate=1e-3),
        schedule=ScheduleConfig(total_steps=10, plateau_window=5, plateau_patience=2),
        checkpoint=CheckpointConfig(every_steps=5),
        logging=LoggingConfig(log_every=5, eval_every=10, eval_images=1, eval_max_side=32, tensorboard=True),
    )


EXPERIMENTS: dict[str, Callable[[], ExperimentConfig]] = {
    "demo": demo_experiment,
    "paper": paper_experiment,
    "router": router_experiment,
    "smoke": smoke_experiment,
    "starter": starter_experiment,
}


def build_config(experiment: str = "demo", yaml_files: Sequence[str] = (),
                 assignments: Sequence[str] = ()) -> ExperimentConfig:
    """The named experiment with YAML files, then `key=value` assignments, applied and validated.

    If the overrides change `model_preset`, the `model` section is rebuilt from that preset
    (keeping the experiment's topology) and the overrides are applied again on top of it.
    """
    if experiment not in EXPERIMENTS:
        raise KeyError(f"unknown experiment {experiment!r}; known: {', '.join(EXPERIMENTS)}")
    base = EXPERIMENTS[experiment]()
    config = apply_overrides(base, yaml_files, assignments)
    if config.model_preset != base.model_preset:
        if config.model_preset not in MODEL_PRESETS:
            raise ValueError(f"model_preset: unknown preset {config.model_preset!r}; known: {', '.join(MODEL_PRESETS)}")
        rebased = dataclasses.replace(
            base, model_preset=config.model_preset,
            model=model_preset(config.model_preset, topology=base.model.topology, classifier=base.model.classifier),
        )
        config = apply_overrides(rebased, yaml_files, assignments)
    return validate(complete_pattern(adopt_init_model(config)))


def adopt_init_model(config: ExperimentConfig) -> ExperimentConfig:
    """With `init.model`, the model section becomes that model's (read from the file, its weights left
    for the trainer), keeping this config's `model.classifier*` fields."""
    if not config.init.model:
        return config
    source = read_model_config(config.init.model)
    ours = config.model
    model = dataclasses.replace(source, classifier=ours.classifier, classifier_hidden=ours.classifier_hidden,
                                classifier_backprop=ours.classifier_backprop,
                                classifier_statistics=ours.classifier_statistics)
    return dataclasses.replace(config, model=model)


def complete_pattern(config: ExperimentConfig) -> ExperimentConfig:
    """An empty `data.pattern` means one minibatch of every head (but `data.skip_heads`) per cycle."""
    if config.data.pattern:
        return config
    try:
        skipped = {get_task(key).name for key in config.data.skip_heads}
    except KeyError as error:
        raise ValueError(f"data.skip_heads: {error.args[0]}") from None
    pattern = "".join(t.letter for t in parse_topology(config.model.topology).tasks if t.name not in skipped)
    return dataclasses.replace(config, data=dataclasses.replace(config.data, pattern=pattern))
