"""Runs one of the paper's studies: `python -m keras_durbm.study NAME --study-dir DIR [options]`.

NAME is topologies (Table 2), four-task (section 5.3), ablation (Table 3), multitask (Table 3) or
features (Fig. 9). A study is a set of ordinary training runs under DIR/runs/ with one budget, each
scored on the test split with the paper's protocol, then a report: DIR/NAME.md (the paper's numbers
beside ours), .csv, .json and a figure .png. Without --data the runs train on the embedded default's
synthesised data (made once in DIR/data); with --data, on converted TFRecord shards (train and test
splits of every task the study needs).

Rerunning the same command skips finished runs and resumes an interrupted one. --shard I/N runs only
the I-th of N disjoint slices of the runs (SLURM arrays, Kubernetes indexed Jobs, one GPU each);
--report-only then merges what every shard wrote. docs/studies.md describes each study.

Exit status: 0 done (report written, or this shard's runs finished); 1 --report-only with runs still
missing; 2 bad arguments or data (unknown study, a shard like 3/2, --data without a task the study
needs, a --model without the study's heads): nothing written.
"""

from __future__ import annotations

import argparse
import os
import sys

from keras_durbm.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail, quiet_tensorflow
from keras_durbm.config.engine import assignments_to_dict, replace_fields
from keras_durbm.config.model import MODEL_PRESETS
from keras_durbm.errors import UsageError
from keras_durbm.studies.definitions import FEATURE_LAYERS, STUDIES, THREE
from keras_durbm.studies.plan import StudySettings, parse_shard, shard_of


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m keras_durbm.study", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", metavar="NAME", help=f"the study: {', '.join(STUDIES)}")
    parser.add_argument("--study-dir", required=True, metavar="DIR", help="folder of the study's runs and report")
    parser.add_argument("--data", metavar="TFRECORD_DIR", help="converted shards (default: the embedded default)")
    parser.add_argument("--preset", choices=sorted(MODEL_PRESETS),
                        help="model preset of every run (default: paper with --data, demo without)")
    parser.add_argument("--steps", type=int, help="training steps of every run (default: 100000 with --data, "
                                                     "1000 without)")
    parser.add_argument("--batch", type=int, help="global batch of every run (default: the study's, e.g. 3 for "
                                                     "the ablation as in the paper, else the experiment's)")
    parser.add_argument("--seed", type=int, help="seed of every run's weights and data (default 0)")
    parser.add_argument("--model", help="features: analyse this trained three-task model instead of training one")
    parser.add_argument("--shard", default="1/1", metavar="I/N", help="run only the I-th of N slices (default 1/1)")
    parser.add_argument("--report-only", action="store_true", help="write the report from the finished runs")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override every run's training config (e.g. data.crop=64), or a study setting "
                             "(study.base=R>B>H, study.eval_images=50, ...)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def _split_settings(assignments: list[str]) -> tuple[StudySettings, list[str]]:
    study = [a for a in assignments if a.split("=", 1)[0].strip().startswith("study.")]
    rest = [a for a in assignments if a not in study]
    tree = assignments_to_dict(study).get("study", {})
    return replace_fields(StudySettings(), tree, "study"), rest


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.name not in STUDIES:
            raise UsageError(f"unknown study {args.name!r}; the studies are {', '.join(STUDIES)}")
        study = STUDIES[args.name]
        shard = parse_shard(args.shard)
        if args.model and not study.uses_model:
            raise UsageError(f"--model is for the features study; {study.name} trains its own runs")
        for flag, value in (("--steps", args.steps), ("--batch", args.batch)):
            if value is not None and value < 1:
                raise UsageError(f"{flag} must be at least 1, got {value}")
        settings, assignments = _split_settings(args.set)
        quiet_tensorflow()
        # heavy (tf.data, Keras): imported once the arguments are known to be usable
        from keras_durbm.studies import runner

        context = runner.build_context(study, args.study_dir, data=args.data, preset=args.preset, steps=args.steps,
                                       batch=args.batch, seed=args.seed, assignments=assignments, settings=settings,
                                       with_model=bool(args.model))
        model = _given_model(args.model) if args.model else None
        runner.check_study_file(context)
    except (UsageError, KeyError, ValueError, TypeError, OSError) as error:
        return fail(error, EXIT_USAGE)
    return _run(args, context, shard, model)


def _given_model(path: str):
    from keras_durbm.models import load_durbm

    model = load_durbm(path)
    missing = [t for t in THREE if t not in model.task_names]
    if missing:
        raise UsageError(f"--model {path} has heads {', '.join(model.task_names)}; the features study needs a "
                         f"three-task model with heads {', '.join(THREE)} (missing: {', '.join(missing)})")
    return model


def _run(args, context, shard, model) -> int:
    from keras_durbm.studies import reports, runner

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    try:
        if not args.report_only:
            runner.prepare_data(context, progress=not args.no_progress)
            mine = shard_of(context.runs, shard)
            say(f"{context.study.name}: {len(mine)} of {len(context.runs)} run(s) in shard {shard[0]}/{shard[1]}")
            runner.run_all(context, mine, say, progress=not args.no_progress)
        results = {run.id: runner.load_result(context, run) for run in context.runs}
        missing = [run.label for run in context.runs if results[run.id] is None]
        if missing:
            text = f"{len(missing)} of {len(context.runs)} run(s) not finished yet: {', '.join(missing)}"
            if args.report_only:
                return fail(f"{text}; run the remaining shards, then --report-only again", EXIT_FAILED)
            say(f"{text}; the report is written once every shard has finished (--report-only merges them)")
            return EXIT_OK
        if context.study.name == "features":
            table = reports.features_table(context, _features(context, model, results))
        else:
            table = reports.TABLES[context.study.name](context, results)
        paths = reports.write_report(context, table, results)
    except (ValueError, OSError) as error:
        return fail(error, EXIT_USAGE)
    except KeyboardInterrupt:
        print("interrupted: finished runs are kept; rerun the same command to resume", file=sys.stderr)
        return 130
    print(reports.markdown_table(table))
    for note in table.notes:
        print(f"* {note}")
    print("report: " + ", ".join(paths))
    return EXIT_OK


def _features(context, model, results) -> dict:
    from keras_durbm.config.tasks import get_task
    from keras_durbm.studies.features import analyse, sample_crops
    from tfrecords_tools.pipeline import split_pairs

    label = "the given --model"
    if model is None:
        from keras_durbm.models import load_durbm

        run = context.runs[0]
        model = load_durbm(os.path.join(context.run_dir(run), "model.keras"))
        label = f"the study's {run.label} run ({run.topology})"
    settings = context.settings
    crops = {}
    for name in THREE:
        pairs, _ = split_pairs(context.data_dir, get_task(name), "test")
        crops[name] = sample_crops(list(pairs), settings.feature_crop, settings.feature_samples)
        if len(crops[name]) < settings.probe_folds:
            raise ValueError(f"{name}: only {len(crops[name])} test crop(s) of {settings.feature_crop} px; lower "
                             "study.feature_crop or add test images")
    analysis = analyse(model, crops, FEATURE_LAYERS, neighbours=settings.probe_neighbours,
                       folds=settings.probe_folds, seed=context.base.runtime.seed)
    analysis["model"] = label
    return analysis


if __name__ == "__main__":
    sys.exit(main())
