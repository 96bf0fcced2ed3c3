"""The report stage: static, self-contained HTML audit reports for a period.

    data.py    set-based SQL over the period → frozen dataclasses (agents, rules, reviews, quality)
    stats.py   Wilson intervals, score intervals, empirical-Bayes shrinkage
    text.py    evidence highlighting by offsets, long-text excerpts, safe agent file names
    charts.py  inline SVG geometry
    model.py   the current model's evaluation (classify.py or the models table)
    i18n.py    one UI catalogue per language; number and date formatting
    render.py  jinja2 rendering and the atomic folder swap; `render_reports` is the stage function
"""

from qa_scoring.report.render import ReportSummary, render_reports

__all__ = ["ReportSummary", "render_reports"]
