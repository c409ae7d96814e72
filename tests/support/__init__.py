"""Helpers shared by the test suite (imported as `tests.support.<module>`; the conftests hold only fixtures).

* `numpy_reference` — plainly readable float64 NumPy references of the layers' math;
* `layer_harness` — the checks every public layer passes (Keras's own `run_layer_test` among them);
* `tiny_models` — a tiny random network and a briefly trained one, built once per test process;
* `exports` — one export of the trained tiny network, shared by the export and serving tests;
* `serving_checks` — the client check run against the stand-in and the real TF Serving;
* `dataset_trees` — folder trees laid out like each dataset, and readers of converted folders;
* `processes` — child Python processes with the project on the path;
* `dist_run` — a few training steps under a chosen strategy (run in child processes).
"""
