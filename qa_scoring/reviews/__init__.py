"""Calibration against the QA team's own evaluations: verdicts in (`reviews import`), agreement per
rule (`reviews agreement`), audit samples out (`reviews sample`) and overrides of the automatic
outcomes. `stored.py` owns the tables; `files.py` reads the two file shapes."""
