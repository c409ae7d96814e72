"""The paper's studies as commands (`python -m keras_durbm.study NAME`): Table 2's topologies, the
four-task search, Table 3's ablation and single- vs multi-task rows, Fig. 9's features (docs/studies.md).

`definitions` holds the studies and the paper's numbers, `plan` what a study and a run are, `runner`
how the runs are trained and scored, `reports` the tables and figures, `features` the Fig. 9 analysis.
"""
