"""Study runs answered without training, so a study's plan, shards, budget, resume and report can be checked
on all of its runs while only a chosen few train and score for real (through the same `run_all`).

`answer_runs_without_training(monkeypatch, real={"four-R_B_J_H"})` makes every other run's training return
at once (its summary says it reached the study's step budget, which is what the report reads) and scores
it with made-up numbers that differ per run and task, so ranks and correlations stay defined.
"""

from __future__ import annotations

import os
import zlib


class _Untrained:
    """What `load_durbm` returns for a run that was not trained: `score_model` recognises it."""

    def __init__(self, run_dir: str):
        self.run_dir = run_dir


def made_up_scores(run_dir: str, tasks) -> dict[str, dict]:
    """Scores of `score_model`'s shape, a fixed function of the run's folder name and the task."""
    scores = {}
    for task in tasks:
        name = getattr(task, "name", task)
        draw = zlib.crc32(f"{os.path.basename(run_dir)}/{name}".encode()) % 1000 / 1000.0
        restored = {"psnr_y": 20.0 + 10.0 * draw, "ssim_y": 0.5 + 0.4 * draw}
        scores[name] = {"psnr": restored["psnr_y"], "ssim": restored["ssim_y"], "space": "y",
                        "input_psnr": 20.0, "input_ssim": 0.5, "n": 1, "scores": restored,
                        "protocol": "made up by tests/support/studies.py"}
    return scores


def answer_runs_without_training(monkeypatch, real: set[str] = frozenset()) -> list[str]:
    """Patches the training loop, the model loader and the study's scoring; returns the list the run ids
    that did train are appended to."""
    import keras_durbm.models
    from keras_durbm.studies import runner
    from keras_durbm.training import loop

    trained: list[str] = []
    train, load, score = loop.train, keras_durbm.models.load_durbm, runner.score_model

    def train_or_answer(config, run_dir, **kwargs):
        if os.path.basename(run_dir) in real:
            trained.append(os.path.basename(run_dir))
            return train(config, run_dir, **kwargs)
        os.makedirs(run_dir, exist_ok=True)  # as training would
        return loop.RunResult({"final_step": config.schedule.total_steps, "wall_seconds": 0.0})

    def load_or_stand_in(path):
        return load(path) if os.path.basename(str(path)) in real else _Untrained(str(path))

    def score_or_make_up(context, model, tasks):
        if isinstance(model, _Untrained):
            return made_up_scores(model.run_dir, tasks)
        return score(context, model, tasks)

    monkeypatch.setattr(loop, "train", train_or_answer)
    monkeypatch.setattr(keras_durbm.models, "load_durbm", load_or_stand_in)
    monkeypatch.setattr(runner, "score_model", score_or_make_up)
    return trained
