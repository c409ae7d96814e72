"""tf.data pipeline on real decoded values: pair-aligned crops and flips, per-task batch sizes, the cycle
schedule, determinism, sharding by input pipeline, and whole-image evaluation."""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from keras_durbm.config.tasks import HAZE, MOTION_BLUR, RAIN, get_task
from tfrecords_tools import pipeline
from tfrecords_tools.converters import convert_pairs
from tfrecords_tools.manifest import files_by_task, shard_files
from tfrecords_tools.writer import WriteConfig

H, W, CROP = 24, 32, 8
TASKS = {"motion_blur": 0, "haze": 1, "rain": 2}
STEMS = ("a", "b", "c", "d")


def ident(task_index: int, stem_index: int) -> int:
    return 40 * task_index + 8 * (stem_index + 1)


@pytest.fixture(scope="module")
def data(tmp_path_factory, trees):
    """Three tasks, four 24x32 pairs each, two shards per task. Inputs are coordinate images (R = 4x,
    G = 4y, B = image id), targets are 255 - input, so any crop tells where it came from and whether the
    target was cropped and flipped exactly like the input."""
    root = tmp_path_factory.mktemp("pipeline")
    out = str(root / "out")
    sources = {}
    for task, t in TASKS.items():
        src = root / task
        for s, stem in enumerate(STEMS):
            x = trees.coord_image(H, W, ident(t, s))
            trees.save(str(src / "input" / f"{stem}.png"), x)
            trees.save(str(src / "target" / f"{stem}.png"), 255 - x)
            sources[ident(t, s)] = x
        convert_pairs(str(src), out, task=get_task(task),
                      write=WriteConfig(min_shards=2, progress=False, workers=1, min_size=8))
    return out, sources


def u8(x) -> np.ndarray:
    return np.round(np.asarray(x) * 255).astype(np.int32)


def locate(crop: np.ndarray, sources: dict[int, np.ndarray]) -> tuple[int, int, int, bool]:
    """(image id, top, left, flipped) of an input crop, checked pixel by pixel against its source."""
    img = sources[int(crop[0, 0, 2])]
    top, x0 = int(crop[0, 0, 1]) // 4, int(crop[0, 0, 0]) // 4
    if np.array_equal(img[top:top + CROP, x0:x0 + CROP], crop):
        return int(crop[0, 0, 2]), top, x0, False
    left = x0 - CROP + 1
    assert np.array_equal(img[top:top + CROP, left:left + CROP][:, ::-1], crop), "crop is not a window of its source"
    return int(crop[0, 0, 2]), top, left, True


def test_crops_are_windows_of_their_source_with_the_same_crop_and_flip_for_the_target(data):
    out, sources = data
    ds = pipeline.task_dataset(shard_files(out, "haze", "train"), crop=CROP, batch_size=4, seed=0, task_index=1)
    assert ds.element_spec["input"].shape.as_list() == [4, CROP, CROP, 3]
    places, flips = set(), collections.Counter()
    for batch in ds.take(8):
        assert int(batch["task"]) == 1 and batch["task"].dtype == tf.int32
        x, y = u8(batch["input"]), u8(batch["target"])
        assert x.shape == (4, CROP, CROP, 3)
        np.testing.assert_array_equal(y, 255 - x)  # target cropped and flipped exactly like the input
        for crop in x:
            image, top, left, flipped = locate(crop, sources)
            assert image in {ident(1, s) for s in range(4)}
            places.add((image, top, left))
            flips[flipped] += 1
    assert len(places) > 20 and flips[True] > 5 and flips[False] > 5


@pytest.mark.parametrize("align", [4, 8])
def test_aligned_crops_start_on_the_grid_and_cover_every_grid_position(data, align):
    out, sources = data
    ds = pipeline.task_dataset(shard_files(out, "haze", "train"), crop=CROP, batch_size=4, seed=2, align=align)
    offsets = set()
    for batch in ds.take(100):
        x = u8(batch["input"])
        np.testing.assert_array_equal(u8(batch["target"]), 255 - x)
        for crop in x:
            _, top, left, _ = locate(crop, sources)
            assert top % align == 0 and left % align == 0, (top, left)
            offsets.add((top, left))
    expected = {(top, left) for top in range(0, H - CROP + 1, align) for left in range(0, W - CROP + 1, align)}
    assert offsets == expected


def test_crop_alignment_that_does_not_divide_the_crop_is_an_error(data):
    out, _ = data
    with pytest.raises(ValueError, match="divide the crop"):
        pipeline.task_dataset(shard_files(out, "haze", "train"), crop=CROP, batch_size=4, seed=0, align=3)
    with pytest.raises(ValueError, match="jpeg, which has no shards"):
        pipeline.multitask_dataset(files_by_task(out, split="train"), pattern="BHR", crop=CROP, seed=0,
                                   batch_sizes=dict.fromkeys(TASKS, 2), crop_align={"J": 8})


def test_same_seed_same_batches_and_another_seed_differs(data):
    out, _ = data
    files = shard_files(out, "rain", "train")

    def first(seed):
        ds = pipeline.task_dataset(files, crop=CROP, batch_size=3, seed=seed)
        return np.stack([b["input"].numpy() for b in ds.take(5)])

    a, b, c = first(7), first(7), first(8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_several_crops_per_image_stay_aligned(data):
    out, sources = data
    ds = pipeline.task_dataset(shard_files(out, "B", "train"), crop=CROP, batch_size=6, seed=1, crops_per_image=3)
    images = collections.Counter()
    for batch in ds.take(4):
        x = u8(batch["input"])
        np.testing.assert_array_equal(u8(batch["target"]), 255 - x)
        images.update(locate(c, sources)[0] for c in x)
    assert set(images) == {ident(0, s) for s in range(4)}


def test_evaluation_mode_centre_crops_every_record_once_in_file_order(data):
    out, sources = data
    ds = pipeline.task_dataset(shard_files(out, "haze", "train"), crop=CROP, batch_size=3, seed=0, training=False)
    batches = [u8(b["input"]) for b in ds]
    assert [len(b) for b in batches] == [3, 1]
    crops = np.concatenate(batches)
    assert [locate(c, sources) for c in crops] == [(ident(1, s), 8, 12, False) for s in range(4)]


def test_eval_dataset_yields_whole_images_with_task_and_source(data):
    out, sources = data
    items = list(pipeline.eval_dataset(shard_files(out, "rain", "train")))
    assert [i["source"].numpy().decode() for i in items] == [f"input/{s}.png" for s in STEMS]
    for s, item in enumerate(items):
        assert item["task"].numpy() == b"rain" and item["input"].dtype == tf.float32
        np.testing.assert_array_equal(u8(item["input"]), sources[ident(2, s)])
        np.testing.assert_array_equal(u8(item["target"]), 255 - sources[ident(2, s)])


def test_multitask_cycles_follow_the_pattern_in_shuffled_order_with_per_task_batches(data):
    out, sources = data
    fbt = files_by_task(out, "train", tasks=[MOTION_BLUR, HAZE, RAIN])
    assert list(fbt) == ["motion_blur", "haze", "rain"]
    sizes = {"motion_blur": 4, "H": 2, "R": 3}
    ds = pipeline.multitask_dataset(fbt, pattern="BBBHR", batch_sizes=sizes, crop=CROP, seed=3)
    elements = list(ds.take(40))
    tasks = [int(e["task"]) for e in elements]
    assert tasks == pipeline.cycle_schedule("BBBHR", list(fbt), seed=3, num_cycles=8)
    cycles = [tuple(tasks[i:i + 5]) for i in range(0, 40, 5)]
    for c in cycles:
        assert sorted(c) == [0, 0, 0, 1, 2], "every cycle holds the pattern's batches"
    assert len(set(cycles)) > 2, "the order inside cycles is shuffled"
    for e in elements:
        t = int(e["task"])
        x = u8(e["input"])
        assert x.shape[0] == (4, 2, 3)[t]
        np.testing.assert_array_equal(u8(e["target"]), 255 - x)
        assert {locate(c, sources)[0] for c in x} <= {ident(t, s) for s in range(4)}, "batch from its own task"
    again = list(pipeline.multitask_dataset(fbt, pattern="BBBHR", batch_sizes=sizes, crop=CROP, seed=3).take(40))
    assert [int(e["task"]) for e in again] == tasks
    for a, b in zip(elements, again, strict=True):
        np.testing.assert_array_equal(a["input"], b["input"])
    assert pipeline.cycle_schedule("BBBHR", list(fbt), seed=4, num_cycles=8) != tasks


def test_multitask_crop_alignment_applies_to_its_task_only(data):
    out, sources = data
    fbt = files_by_task(out, "train", tasks=[MOTION_BLUR, HAZE])
    ds = pipeline.multitask_dataset(fbt, pattern="BH", batch_sizes={"B": 4, "H": 4}, crop=CROP, seed=5,
                                    crop_align={"haze": 8})
    offsets = {0: set(), 1: set()}
    for e in ds.take(60):
        for c in u8(e["input"]):
            _, top, left, _ = locate(c, sources)
            offsets[int(e["task"])].add((top % 8, left % 8))
    assert offsets[1] == {(0, 0)}
    assert len(offsets[0]) > 10  # blur crops start anywhere


def test_multitask_rejects_inconsistent_patterns_and_batch_sizes(data):
    out, _ = data
    fbt = files_by_task(out, "train", tasks=[MOTION_BLUR, HAZE, RAIN])
    sizes = {"B": 2, "H": 2, "R": 2}
    with pytest.raises(ValueError, match="unknown task letter 'X'"):
        pipeline.multitask_dataset(fbt, pattern="BBXHR", batch_sizes=sizes, crop=CROP, seed=0)
    with pytest.raises(ValueError, match="task J=jpeg has no files"):
        pipeline.multitask_dataset(fbt, pattern="BBBHRJ", batch_sizes=sizes, crop=CROP, seed=0)
    with pytest.raises(ValueError, match="never schedules rain"):
        pipeline.multitask_dataset(fbt, pattern="BBBH", batch_sizes=sizes, crop=CROP, seed=0)
    with pytest.raises(ValueError, match="batch_sizes has no entry for haze"):
        pipeline.multitask_dataset(fbt, pattern="BBBHR", batch_sizes={"B": 2, "R": 2}, crop=CROP, seed=0)


def test_input_pipelines_read_disjoint_files_with_one_schedule(data):
    out, sources = data
    fbt = files_by_task(out, "train", tasks=[MOTION_BLUR, HAZE, RAIN])
    runs = []
    for i in range(2):
        ctx = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=i, num_replicas_in_sync=2)
        ds = pipeline.multitask_dataset(fbt, pattern="BBBHR", batch_sizes={"B": 4, "H": 2, "R": 6}, crop=CROP,
                                        seed=5, input_context=ctx)
        runs.append(list(ds.take(15)))
    assert [int(e["task"]) for e in runs[0]] == [int(e["task"]) for e in runs[1]]
    seen = [collections.defaultdict(set), collections.defaultdict(set)]
    for p, run in enumerate(runs):
        for e in run:
            t = int(e["task"])
            assert e["input"].shape[0] == (2, 1, 3)[t], "per-replica batch = global / replicas"
            seen[p][t] |= {locate(c, sources)[0] for c in u8(e["input"])}
    for t in range(3):
        assert seen[0][t] and seen[1][t] and not seen[0][t] & seen[1][t], "pipelines read disjoint shards"
    ctx = tf.distribute.InputContext(num_input_pipelines=3, input_pipeline_id=0, num_replicas_in_sync=3)
    with pytest.raises(ValueError, match=r"task motion_blur: 2 shard file\(s\) for 3 input pipelines.*--min-shards 3"):
        pipeline.multitask_dataset(fbt, pattern="BBBHR", batch_sizes={"B": 3, "H": 3, "R": 3}, crop=CROP, seed=0,
                                   input_context=ctx)


def test_one_pipeline_feeding_two_replicas_repeats_each_scheduled_task(data):
    out, _ = data
    fbt = files_by_task(out, "train", tasks=[MOTION_BLUR, HAZE, RAIN])
    ctx = tf.distribute.InputContext(num_input_pipelines=1, input_pipeline_id=0, num_replicas_in_sync=2)
    ds = pipeline.multitask_dataset(fbt, pattern="BBBHR", batch_sizes={"B": 4, "H": 2, "R": 2}, crop=CROP,
                                    seed=2, input_context=ctx)
    tasks = [int(e["task"]) for e in ds.take(20)]
    assert tasks[0::2] == tasks[1::2] == pipeline.cycle_schedule("BBBHR", list(fbt), seed=2, num_cycles=2)


def test_record_smaller_than_the_crop_fails_naming_its_source(data):
    out, _ = data
    ds = pipeline.task_dataset(shard_files(out, "haze", "train"), crop=30, batch_size=1, seed=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"record.*input/.\.png.*smaller than the crop"):
        next(iter(ds))


@pytest.mark.slow
def test_mirrored_strategy_replicas_train_the_same_task_each_step(data):
    """Two logical CPUs under MirroredStrategy with distribute_datasets_from_function (a fresh process,
    since logical devices must be set up before TensorFlow starts)."""
    out, _ = data
    code = textwrap.dedent(f"""
        import os, sys
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from tfrecords_tools import pipeline
        from keras_durbm.config.tasks import HAZE, MOTION_BLUR, RAIN
        from tfrecords_tools.manifest import files_by_task
        fbt = files_by_task({out!r}, "train", tasks=[MOTION_BLUR, HAZE, RAIN])
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        dist = strategy.distribute_datasets_from_function(lambda ctx: pipeline.multitask_dataset(
            fbt, pattern="BBBHR", batch_sizes={{"B": 4, "H": 2, "R": 2}}, crop=8, seed=0, input_context=ctx))
        it = iter(dist)
        for step in range(10):
            e = next(it)
            tasks = [int(t) for t in strategy.experimental_local_results(e["task"])]
            sizes = [int(x.shape[0]) for x in strategy.experimental_local_results(e["input"])]
            print(step, tasks, sizes)
            assert len(set(tasks)) == 1, tasks
            assert sizes == [{{0: 2, 1: 1, 2: 1}}[tasks[0]]] * 2, sizes
        print("OK")
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0 and "OK" in res.stdout, res.stdout + res.stderr[-3000:]
