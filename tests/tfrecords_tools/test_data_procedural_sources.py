"""`convert_synth --procedural / --photometric` and the demo's `procedural_images` / `photometric`: records
compared pixel for pixel with `dead_leaves_images`, `vary_photometry` and the task's synthesizer called
directly with the seeds the docs name."""

from __future__ import annotations

import os

import numpy as np
import pytest

from keras_durbm.config.experiment import build_config
from keras_durbm.config.tasks import HAZE, JPEG, RAIN
from keras_durbm.images.pixels import to_float, to_uint8
from keras_durbm.seeding import derive_seed
from tfrecords_tools import convert
from tfrecords_tools.converters import convert_synth
from tfrecords_tools.errors import ManifestError
from tfrecords_tools.manifest import load_manifest
from tfrecords_tools.synthesis import SYNTHESIZERS, resolve_params
from tfrecords_tools.synthesis.dead_leaves import dead_leaves_images
from tfrecords_tools.synthesis.photometric import vary_photometry


def by_source(records):
    return {r["source"]: r for r in records}


def degraded(task, clean_u8, seed):
    """The task's synthesizer on a clean uint8 image, as `convert_synth` stores it."""
    return to_uint8(SYNTHESIZERS[task.name](to_float(clean_u8), seed, **resolve_params(task)))


@pytest.mark.parametrize("task", [HAZE, JPEG], ids=lambda t: t.name)
def test_procedural_images_join_the_photos(tmp_path, trees, fast, task):
    src, out = str(tmp_path / "clean"), str(tmp_path / "out")
    photos = trees.clean_folder(src, names=("a.png", "b.jpg"), h=24, w=32)
    group = convert_synth(src, out, task=task, seed=5, variants=2, procedural=3, procedural_size=64, write=fast)
    leaves = dead_leaves_images(3, 64, derive_seed(5, "procedural"))
    records = trees.read_group(out, task, "train")
    assert [r["source"] for r in records] == [f"{n}#v={v}" for n in (*photos, *leaves) for v in (0, 1)]
    assert group.num_examples == 10
    for source, r in by_source(records).items():
        name, v = source.split("#v=")
        ex_seed = derive_seed(5, task.name, name, int(v))
        clean = {**photos, **leaves}[name]
        np.testing.assert_array_equal(r["target"], clean)
        np.testing.assert_array_equal(r["input"], degraded(task, clean, ex_seed))
        assert r["meta"]["seed"] == ex_seed and "photometric" not in r["meta"]
    record = load_manifest(out).groups[f"{task.name}/train"].synthesis["procedural"]
    assert (record["count"], record["size"]) == (3, 64)
    assert record["function"] == "tfrecords_tools.synthesis.dead_leaves.dead_leaves_images"


def test_photometric_varies_the_target_and_degrades_the_varied_image(tmp_path, trees, fast):
    src, out = str(tmp_path / "clean"), str(tmp_path / "out")
    photos = trees.clean_folder(src, names=("a.png", "b.png"), h=24, w=32)
    convert_synth(src, out, task=RAIN, seed=2, variants=2, procedural=1, procedural_size=32, photometric=True,
                  params={"length": [4, 8]}, write=fast)
    cleans = {**photos, **dead_leaves_images(1, 32, derive_seed(2, "procedural"))}
    records = by_source(trees.read_group(out, RAIN, "train"))
    assert len(records) == 6
    params = resolve_params(RAIN, {"length": [4, 8]})
    for source, r in records.items():
        name, v = source.split("#v=")
        ex_seed = derive_seed(2, "rain", name, int(v))
        varied, drawn = vary_photometry(to_float(cleans[name]), derive_seed(ex_seed, "photometric"), return_info=True)
        np.testing.assert_array_equal(r["target"], to_uint8(varied))
        ref = to_uint8(SYNTHESIZERS["rain"](to_float(to_uint8(varied)), ex_seed, **params))
        np.testing.assert_array_equal(r["input"], ref)
        assert r["meta"]["photometric"] == drawn
    assert not np.array_equal(records["a.png#v=0"]["target"], photos["a.png"])
    assert not np.array_equal(records["a.png#v=0"]["target"], records["a.png#v=1"]["target"])
    synthesis = load_manifest(out).groups["rain/train"].synthesis
    assert synthesis["photometric"]["function"] == "tfrecords_tools.synthesis.photometric.vary_photometry"


def test_defaults_write_the_photographs_and_the_synthesis_record_of_before(tmp_path, trees, fast):
    src, out = str(tmp_path / "clean"), str(tmp_path / "out")
    photos = trees.clean_folder(src, names=("a.png", "b.png"), h=24, w=32)
    group = convert_synth(src, out, task=HAZE, seed=1, write=fast)
    explicit = convert_synth(src, str(tmp_path / "explicit"), task=HAZE, seed=1, procedural=0, photometric=False,
                             write=fast)
    assert [s.sha256 for s in group.shards] == [s.sha256 for s in explicit.shards]
    assert group.identity == explicit.identity
    # the manifest's synthesis record (part of the identity a rerun compares) is the one written before
    # these options existed, so folders converted then still resume
    assert group.synthesis == {"task": "haze", "function": "tfrecords_tools.synthesis.haze.add_haze",
                               "params": resolve_params(HAZE), "seed": 1, "variants": 1,
                               "example_seed": "derive_seed(seed, task, image name, variant)"}
    for source, r in by_source(trees.read_group(out, HAZE, "train")).items():
        np.testing.assert_array_equal(r["target"], photos[source.split("#")[0]])
        assert set(r["meta"]) >= {"seed", "variant"} and "photometric" not in r["meta"]


def test_rerun_resumes_and_a_changed_option_is_refused_without_overwrite(tmp_path, trees, fast):
    src, out = str(tmp_path / "clean"), str(tmp_path / "out")
    trees.clean_folder(src, names=("a.png",), h=24, w=32)
    first = convert_synth(src, out, task=HAZE, procedural=1, procedural_size=32, write=fast)
    shard = os.path.join(out, first.shards[0].file)
    stamp = os.stat(shard).st_mtime_ns
    assert convert_synth(src, out, task=HAZE, procedural=1, procedural_size=32, write=fast).shards == first.shards
    assert os.stat(shard).st_mtime_ns == stamp  # kept, not rewritten
    for changed in ({"procedural": 2, "procedural_size": 32}, {"procedural": 1, "procedural_size": 40},
                    {"procedural": 1, "procedural_size": 32, "photometric": True}, {}):
        with pytest.raises(ManifestError, match="differs in: synthesis"):
            convert_synth(src, out, task=HAZE, write=fast, **changed)


def test_procedural_only_from_the_cli_and_its_bad_inputs(tmp_path, trees, capsys):
    out = str(tmp_path / "out")
    common = ["synth", "--task", "H", "--min-size", "8", "--workers", "1", "--no-progress"]
    assert convert.main([*common, "--procedural", "2", "--procedural-size", "32", "-", out]) == 0
    assert "haze/train: 2 examples" in capsys.readouterr().out
    records = trees.read_group(out, HAZE, "train")
    leaves = dead_leaves_images(2, 32, derive_seed(0, "procedural"))
    assert [r["source"] for r in records] == ["leaves-0000#v=0", "leaves-0001#v=0"]
    for r in records:
        np.testing.assert_array_equal(r["target"], leaves[r["source"].split("#")[0]])
    assert load_manifest(out).groups["haze/train"].source_dir is None
    for bad, message in ((["--procedural", "-1", "-"], "procedural must be >= 0, got -1"),
                         (["--procedural", "2", "--procedural-size", "0", "-"], "procedural_size must be >= 1"),
                         (["-"], "no clean images"),
                         (["--procedural", "2", "--procedural-size", "4", "-"], "procedural_size 4 is below")):
        assert convert.main([*common, *bad, str(tmp_path / "bad")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not os.path.exists(tmp_path / "bad")


@pytest.mark.parametrize("assignments, message", [
    (["data.demo.procedural_images=-1"], "data.demo: procedural_images must be >= 0, got -1"),
    (["data.demo.procedural_size=8"], "procedural_size must be >= 16"),
    (["data.demo.procedural_images=2", "data.demo.procedural_size=32"], "procedural_size 32 is below data.crop 48"),
])
def test_demo_config_rejects_bad_procedural_settings(assignments, message):
    with pytest.raises(ValueError, match=message):
        build_config("demo", assignments=assignments)


def test_demo_data_adds_procedural_images_to_training_only(tmp_path):
    from keras_durbm.training.demo import prepare_demo_data

    tiny = ["model.topology=R>H", "data.pattern=RH"]
    base = build_config("smoke", assignments=tiny)
    more = build_config("smoke", assignments=[*tiny, "data.demo.procedural_images=2", "data.demo.procedural_size=16",
                                              "data.demo.photometric=true"])
    groups = {}
    for name, config in (("base", base), ("more", more)):
        folder = prepare_demo_data(config, str(tmp_path / name), progress=False)
        groups[name] = load_manifest(folder).groups
    for task in ("rain", "haze"):
        train, held_out = f"{task}/train", f"{task}/test"
        assert groups["more"][train].num_examples == groups["base"][train].num_examples + 2
        assert groups["more"][train].synthesis["procedural"] == {**groups["more"][train].synthesis["procedural"],
                                                               "count": 2, "size": 16}
        assert "photometric" in groups["more"][train].synthesis
        assert [s.sha256 for s in groups["more"][held_out].shards] == [s.sha256 for s in groups["base"][held_out].shards]
        assert groups["more"][held_out].synthesis == groups["base"][held_out].synthesis
