"""The command-line tools as a user meets them: every command the README and docs name exists and answers
`--help` without importing TensorFlow and without a stray stderr line; a real call is quiet (TensorFlow's
C++ start-up lines are hidden unless the user sets TF_CPP_MIN_LOG_LEVEL) and fails with `error: ...`."""

from __future__ import annotations

import glob
import os
import re

import pytest

from tests.support.processes import ROOT, run_python

DOCUMENTED = re.compile(r"python -m ([a-z_][a-z0-9_.]*)")
TF_NOISE = ("cudart_stub", "oneDNN custom operations", "absl::InitializeLog", "cpu_feature_guard")
PROBE = ("import runpy, sys; sys.argv = [{tool!r}, '--help']\n"
         "try:\n    runpy.run_module({tool!r}, run_name='__main__')\nexcept SystemExit as e:\n    code = e.code\n"
         "print('EXIT', code, 'TF', 'tensorflow' in sys.modules, 'KERAS', 'keras' in sys.modules)")


def documented_commands() -> list[str]:
    found = set()
    for path in [os.path.join(ROOT, "README.md"), *glob.glob(os.path.join(ROOT, "docs", "*.md")),
                 os.path.join(ROOT, "serving", "README.md")]:
        with open(path, encoding="utf-8") as handle:
            found.update(m.rstrip(".") for m in DOCUMENTED.findall(handle.read()))
    return sorted(m for m in found if m.split(".")[0] in ("keras_durbm", "tfrecords_tools", "export", "serving"))


def test_the_docs_name_the_main_commands():
    commands = documented_commands()
    for expected in ("keras_durbm.train", "keras_durbm.evaluate", "keras_durbm.restore", "keras_durbm.model_card",
                     "tfrecords_tools.convert", "tfrecords_tools.inspect_shards", "export", "serving.client",
                     "serving.standin"):
        assert expected in commands


AS_A_USER = {"TF_CPP_MIN_LOG_LEVEL": None, "KERAS_DURBM_SET_TF_LOG_LEVEL": None}


@pytest.mark.parametrize("tool", documented_commands())
def test_every_documented_command_answers_help_without_tensorflow(tool):
    done = run_python(["-c", PROBE.format(tool=tool)], timeout=120, **AS_A_USER)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "EXIT 0 TF False KERAS False" in done.stdout, (tool, done.stdout[-500:])
    assert done.stderr.strip() == "", done.stderr[-1000:]


def test_a_real_call_is_quiet_and_its_error_has_no_traceback(tmp_path):
    done = run_python(["-m", "keras_durbm.evaluate", "--model", str(tmp_path / "none.keras"), "--task", "haze",
                       "--pairs", str(tmp_path), str(tmp_path), "--no-progress"], timeout=300, **AS_A_USER)
    assert done.returncode == 2
    assert not any(noise in done.stderr for noise in TF_NOISE), done.stderr
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr


def test_tensorflow_deprecation_notices_from_installed_libraries_are_dropped():
    """tf2onnx's and the TFLite converter's TF1 calls make TensorFlow log "… is deprecated" notices that the
    user cannot act on; a deprecated call from the project's own code still shows."""
    import logging

    from keras_durbm.cli import quiet_tensorflow

    quiet_tensorflow()
    logger = logging.getLogger("tensorflow")
    notice = ("From {}: convert_variables_to_constants (from tensorflow.python.framework.convert_to_constants) "
              "is deprecated and will be removed in a future version.\nInstructions for updating: ...")

    def shown(path):
        record = logger.makeRecord("tensorflow", logging.WARNING, __file__, 1, notice.format(path), (), None)
        return logger.filter(record)

    assert not shown("/venv/lib/python3.11/site-packages/tf2onnx/tf_loader.py:164")
    assert shown("/work/keras_durbm/inference.py:12")
    assert shown("unrelated") and logger.filter(
        logger.makeRecord("tensorflow", logging.WARNING, __file__, 1, "something else", (), None))
