"""`--model starter`: the name resolves to the model that ships in the package, a file or folder of that
name in the working directory wins, and a missing starter says how to get one."""

import os

import pytest

from keras_durbm.config import model_file


def test_starter_names_the_packaged_model(tmp_path, monkeypatch):
    packaged = tmp_path / "package" / "model.keras"
    packaged.parent.mkdir()
    packaged.write_bytes(b"not read here")
    monkeypatch.setattr(model_file, "STARTER_PATH", str(packaged))
    monkeypatch.chdir(tmp_path)
    assert model_file.resolve_model_path("starter") == str(packaged)
    (tmp_path / "starter").mkdir()  # a run folder called starter: the user's own
    (tmp_path / "starter" / "model.keras").write_bytes(b"")
    assert model_file.resolve_model_path("starter") == os.path.join("starter", "model.keras")


def test_a_missing_starter_says_how_to_train_one(tmp_path, monkeypatch):
    monkeypatch.setattr(model_file, "STARTER_PATH", str(tmp_path / "absent" / "model.keras"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="--experiment starter"):
        model_file.resolve_model_path("starter")


def test_the_packaged_path_is_inside_the_package():
    import keras_durbm

    package = os.path.dirname(os.path.abspath(keras_durbm.__file__))
    assert model_file.STARTER_PATH == os.path.join(package, "starter", "model.keras")
