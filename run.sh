#!/usr/bin/env bash
# The project's set-up-and-go commands (see README):
#   ./run.sh demo [train args]   install if needed, then train the embedded default (python -m keras_durbm.train)
#   ./run.sh test [pytest args]  install if needed, lint (ruff, import-linter's layers contract), run the test suite
#                                in two pytest-xdist workers (KERAS_DURBM_TEST_WORKERS=N for another count, 0 for none)
#   ./run.sh card [args]         install if needed, print the model card (python -m keras_durbm.model_card)
#   ./run.sh app [args]          install if needed, serve the restoration page with the starter model that
#                                ships (python -m keras_durbm.app; --model runs/demo for the demo's)
# The virtual environment lives in .venv (override with KERAS_DURBM_VENV) and is
# reinstalled when pyproject.toml changes.
set -euo pipefail
cd "$(dirname "$0")"
venv="${KERAS_DURBM_VENV:-.venv}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.installed" ] || [ pyproject.toml -nt "$venv/.installed" ]; then
  echo "== installing keras_durbm and its dependencies into $venv (first run takes a few minutes)"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet -e ".[all]"
  touch "$venv/.installed"
fi

command="${1:-}"
[ $# -gt 0 ] && shift
case "$command" in
  demo) exec "$venv/bin/python" -m keras_durbm.train "$@" ;;
  test)
    "$venv/bin/ruff" check .
    "$venv/bin/lint-imports" --no-cache --no-logo
    exec "$venv/bin/python" -m pytest -n "${KERAS_DURBM_TEST_WORKERS:-2}" "$@"
    ;;
  card) exec "$venv/bin/python" -m keras_durbm.model_card "$@" ;;
  app) exec "$venv/bin/python" -m keras_durbm.app "$@" ;;
  *)
    echo "usage: ./run.sh demo|test|card|app [args...]" >&2
    exit 2
    ;;
esac
