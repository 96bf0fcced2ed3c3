"""Render the report folder: prepared data → jinja2 templates → a temporary folder → renamed into place.

One `Environment(autoescape=True, undefined=StrictUndefined)`; templates receive dataclasses and
format them with the language's `Formatter`; nothing marks user text safe. The folder is written
beside the target and swapped in with renames, so a reader sees the old report or the new one,
never half of one, and a failed render leaves the old one untouched.
"""

from __future__ import annotations

import functools
import glob
import logging
import os
import re
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path

import jinja2

from qa_scoring import store
from qa_scoring.errors import InputError, RunTimeError
from qa_scoring.mask import mask_text
from qa_scoring.report import charts
from qa_scoring.report.calibration import Calibration, prepare_calibration
from qa_scoring.report.data import DEFAULT_LABEL_SQL, MIN_CELL, ReportData, RuleInfo, prepare, resolve_period
from qa_scoring.report.i18n import LANGUAGES, Formatter
from qa_scoring.report.model import ModelView, load_model_view
from qa_scoring.report.rulewords import what_expected, why_applied
from qa_scoring.report.text import agent_file_names, segment_text
from qa_scoring.resources import templates_dir

log = logging.getLogger(__name__)

MARKER = ".qa-scoring-report"  # marks a folder as ours: only such a folder is ever replaced
PRINT_REVIEWS = 3  # review cards an agent page prints (the rest stay on screen): ~4 A4 pages in all
STALE_SECONDS = 3600  # leftovers of a crashed render older than this are removed


@dataclass(frozen=True)
class ReportSummary:
    """What one report render wrote."""

    out_dir: str
    index: str
    since: str
    until: str
    lang: str
    agents: int
    pages: int
    interactions: int
    seconds: float
    rule_pack_hashes: tuple[str, ...] = ()  # what the footer names: the packs and models behind the figures
    model_ids: tuple[str, ...] = ()
    empty: bool = False  # no interaction in the period (the pages say so; so does a warning)
    warnings: tuple[str, ...] = ()
    open_pending: int = 0  # open interactions of the period left out of the figures (in `interactions`)
    operations: tuple[str, ...] = ()  # the operations rendered (one folder each when several)
    alarms: tuple[dict, ...] = ()  # contract: drift alarms of the period's last day (alarms.py)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in ((k, getattr(self, k)) for k in self.__dataclass_fields__)}

    def text(self) -> str:
        return (f"report {self.since} – {self.until} ({self.lang}): {self.interactions:,} interactions, "
                f"{self.agents} agents, {self.pages} pages in {self.seconds:.1f} s → {self.index}")


# --- inputs from the other stages -------------------------------------------------------------

def _rule_catalogue(con, lang: str):
    """rule_id → RuleInfo from the stored packs (the current one first), never from the YAML folder:
    the titles are those of the pack the results came from. An unknown id stands for its title."""
    from qa_scoring.rules.stored import rule_catalogue

    fmt = Formatter(lang)
    known = {rule_id: RuleInfo(rule_id, r.title, r.description, r.severity, r.weight,
                               what_expected(r.spec, fmt), why_applied(r.spec, fmt),
                               kind=r.check_kind or "")
             for rule_id, r in rule_catalogue(con, lang).items()}

    def info(rule_id: str) -> RuleInfo:
        return known.get(rule_id) or known.setdefault(rule_id, RuleInfo(rule_id, rule_id, "", "", None))

    return info


def _label_sql(settings) -> tuple[str, dict, str]:
    """The survey → dissatisfied SQL (TRUE/FALSE/NULL), its parameters and its scale ("auto": the
    default mapping, words included; see `label_text`)."""
    try:
        from qa_scoring.classify.labels import DISSATISFIED, SATISFIED, LabelMapping

        mapping = LabelMapping.from_settings(settings.classifier)
        expr, params = mapping.sql("i.survey_raw")
        sql = f"CASE ({expr}) WHEN '{DISSATISFIED}' THEN TRUE WHEN '{SATISFIED}' THEN FALSE END"
        default_words = mapping == LabelMapping()
        return sql, params, "auto" if mapping.scale == "auto" and default_words else mapping.scale
    except ImportError:
        return DEFAULT_LABEL_SQL, {}, "auto"


def label_text(scale: str, fmt: Formatter) -> str:
    """How survey answers become labels, in the report's language ("auto" is the default mapping)."""
    from qa_scoring.classify.labels import SCALES

    if scale == "auto":
        return fmt.t("label_auto")
    if scale in SCALES:
        low, high, sat = SCALES[scale]
        return fmt.t("lm_numeric_scale", scale=scale, sat=fmt.num(sat), high=fmt.num(high), low=fmt.num(low))
    return fmt.t("lm_numeric_auto")


# The calibration note `train` stores in English (classify/stage.py)
_CALIBRATION_NOTE = re.compile(r"^(platt|isotonic), fitted on the newest ([0-9.]+)% of the training rows$")


def model_texts(model: ModelView, fmt: Formatter) -> ModelView:
    """The model's stored descriptions (written by `train`, in English) in the report's language:
    the calibration note, split timestamps and the label mapping."""
    split = []
    for name, value in model.split:
        if isinstance(value, str) and (note := _CALIBRATION_NOTE.match(value)):
            value = fmt.t("s_calibration_text", method=note[1].capitalize(), share=fmt.pct(float(note[2]) / 100))
        elif isinstance(value, str):
            try:
                value = fmt.datetime(datetime.fromisoformat(value))
            except ValueError:
                pass
        split.append((name, value))
    scale = dict(model.mapping).get("scale", "auto")
    mapping = []
    for name, value in model.mapping:
        if name == "scale" and value == "auto":
            value = fmt.t("lm_scale_auto")
        elif name == "numeric":
            value = fmt.t("lm_numeric_auto") if scale == "auto" else label_text(scale, fmt)
        elif name == "unknown":
            value = fmt.t("lm_unknown_text")
        mapping.append((name, value))
    return replace(model, split=tuple(split), mapping=tuple(mapping))


def opts_weeks(settings) -> int:
    """How many weeks the trends show (`report.weeks` when the settings have it)."""
    from qa_scoring.report.trends import WEEKS

    return int(getattr(settings.report, "weeks", WEEKS) or WEEKS)


def alarm_lines(check, fmt: Formatter, rule_info) -> list[str]:
    """Each alarm of an `alarms.AlarmCheck` as one plain sentence of the report's language."""
    from qa_scoring import alarms

    lines = []
    for a in check.alarms:
        volume = a.kind == "volume"
        value = (lambda v: fmt.num(v)) if volume else (lambda v: fmt.pct(v))
        lines.append(fmt.t(f"alarm_{a.kind}", rule=rule_info(a.rule_id).title if a.rule_id else "",
                           channel=a.channel or "", day=fmt.date(a.day), rate=value(a.rate),
                           base=fmt.num(a.baseline_rate, 1) if volume else value(a.baseline_rate),
                           low=value(a.baseline_low), high=value(a.baseline_high), days=alarms.BASELINE_DAYS))
    return lines


def weekly_view(trend, fmt: Formatter, team=None) -> dict:
    """A weekly trend (report/trends.py) as the page shows it: a chart, the sentence and its verdict."""
    index = range(len(trend.weeks))
    own = [(i, w.score) for i, w in zip(index, trend.weeks) if w.score is not None]
    series = [("agent" if team is not None else "team", own, "")]
    if team is not None:
        series.insert(0, ("team", [(i, w.score) for i, w in zip(index, team.weeks) if w.score is not None], ""))
    dots = [("agent" if team is not None else "team", i, w.score, 2.5,
             f"{fmt.date(w.start)} – {fmt.date(w.end)}: {fmt.score(w.score)}"
             + (f" ({fmt.score(w.low)}–{fmt.score(w.high)})" if w.low is not None else "") + f", n = {fmt.num(w.n)}")
            for i, w in zip(index, trend.weeks) if w.score is not None]
    picks = sorted({0, len(trend.weeks) // 2, len(trend.weeks) - 1})
    chart = charts.line_chart(series, x_range=(0, max(len(trend.weeks) - 1, 1)), y_range=(0, 100),
                              xticks=[(i, fmt.short_date(trend.weeks[i].end)) for i in picks],
                              yticks=_score_ticks(fmt), ylabel=fmt.t("score"),
                              title=fmt.t("trend_weekly", n=len(trend.weeks)), dots=dots, width=960, height=200)
    words = fmt.t(trend.verdict)
    if trend.diff_low is not None:
        sentence = fmt.t("trend_sentence", last=fmt.score(trend.last), before=fmt.score(trend.before),
                         low=fmt.signed(trend.diff_low), high=fmt.signed(trend.diff_high), verdict=words)
    else:
        sentence = fmt.t("trend_sentence_few", last=fmt.score(trend.last), before=fmt.score(trend.before),
                         verdict=words)
    return {"chart": chart, "sentence": sentence, "verdict": trend.verdict, "weeks": len(trend.weeks)}


# --- the jinja2 environment and charts --------------------------------------------------------

def environment(folder: Path | None = None) -> jinja2.Environment:
    """The one template environment: autoescape everywhere, undefined names are errors. One per
    folder and process: jinja2 keeps the compiled templates (recompiling one whose file changed)."""
    return _environment(str(folder or templates_dir()))


@functools.lru_cache(maxsize=8)
def _environment(folder: str) -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(folder),
                              autoescape=True, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def _days(data: ReportData) -> list[date]:
    return [data.period.since + timedelta(days=i) for i in range(data.period.days)]


def _day_ticks(days: list[date], fmt: Formatter) -> list[tuple[float, str]]:
    if len(days) == 1:
        return [(0, fmt.short_date(days[0]))]
    picks = sorted({0, (len(days) - 1) // 2, len(days) - 1})
    return [(i, fmt.short_date(days[i])) for i in picks]


def _score_ticks(fmt: Formatter) -> list[tuple[float, str]]:
    return [(v, fmt.num(v)) for v in (0, 25, 50, 75, 100)]


def trend_chart(data: ReportData, fmt: Formatter, agent_days=None) -> charts.Chart:
    """Score by day: the team, and the agent when given (points where there is data)."""
    index = {d: i for i, d in enumerate(_days(data))}
    team = [(index[p.day], p.score) for p in data.team.days if p.score is not None and p.day in index]
    series = [("team", team, fmt.t("trend_legend_team"))]
    dots = []
    if agent_days is not None:
        own = [(index[p.day], p.score) for p in agent_days if p.score is not None and p.day in index]
        series.append(("agent", own, fmt.t("trend_legend_agent")))
        dots = [("agent", index[p.day], p.score, 2.5,
                 f"{fmt.date(p.day)}: {fmt.score(p.score)} (n = {fmt.num(p.n)})")
                for p in agent_days if p.score is not None and p.day in index]
    if len(index) == 1:  # a one-day report: a line needs two points, so each series gets its dot
        dots += [("team", i, v, 3.5, f"{fmt.t('trend_legend_team')}: {fmt.score(v)}") for i, v in team]
    return charts.line_chart(series, x_range=(0, max(len(index) - 1, 1)), y_range=(0, 100),
                             xticks=_day_ticks(_days(data), fmt), yticks=_score_ticks(fmt),
                             ylabel=fmt.t("score"), title=fmt.t("trend_by_day"), dots=dots, width=960, height=220)


def kappa_chart(cal, fmt: Formatter) -> charts.WhiskerChart | None:
    """Each rule's κ with its 95 % interval, on -0.2 … 1 (lower values are drawn at the edge), with the
    thresholds of the verdicts (0.6 acceptable, 0.8 reliable) as reference lines."""
    from qa_scoring.reviews.agreement import ACCEPTABLE, RELIABLE

    if cal is None or not cal.rows:
        return None
    rows = []
    for r in cal.rows:
        k = r.kappa
        tip = (f"{r.rule.title}: κ {fmt.num(k.kappa, 2)}" if k.kappa is not None else r.rule.title) + (
            f" [{fmt.num(k.low, 2)}, {fmt.num(k.high, 2)}]" if k.low is not None else "") + f" (n = {fmt.num(k.n)})"
        rows.append((r.rule.title, k.kappa, k.low, k.high, r.verdict, tip))
    ticks = [(v, fmt.num(v, 1)) for v in (-0.2, 0.0, 0.2, 0.4, 0.6, 0.8, 1.0)]
    return charts.whisker_chart(rows, x_range=(-0.2, 1.0), xticks=ticks,
                                refs=[(v, f"κ {fmt.num(v, 1)}: {fmt.t(key)}") for v, key in
                                      ((ACCEPTABLE, "cal_acceptable"), (RELIABLE, "cal_reliable"))],
                                title=fmt.t("cal_chart_title"))


def model_charts(model: ModelView | None, fmt: Formatter) -> dict[str, charts.Chart | None]:
    if model is None:
        return {"roc": None, "pr": None, "calibration": None}
    ticks = charts.unit_ticks(lambda v: fmt.num(v, 2))

    def chart(points, extra, xlabel, ylabel, title, dots=()):
        if not points and not dots:
            return None
        return charts.line_chart([*extra, ("model", sorted(points), "")] if points else extra,
                                 x_range=(0, 1), y_range=(0, 1), xticks=ticks, yticks=ticks, xlabel=xlabel,
                                 ylabel=ylabel, title=title, width=360, height=300, dots=dots)

    base = model.positive_rate
    pr_extra = [("chance", [(0, base), (1, base)], "")] if base is not None else []
    cal_dots = [("model", p, o, 3, f"{fmt.pct(p)} → {fmt.pct(o)} (n = {fmt.num(n)})") for p, o, n in model.calibration]
    return {
        "roc": chart(model.roc, [("chance", [(0, 0), (1, 1)], "")], fmt.t("fpr"), fmt.t("tpr"), fmt.t("roc_curve")),
        "pr": chart(model.pr, pr_extra, fmt.t("recall"), fmt.t("precision"), fmt.t("pr_curve")),
        "calibration": chart([(p, o) for p, o, _ in model.calibration], [("chance", [(0, 0), (1, 1)], "")],
                             fmt.t("predicted"), fmt.t("observed"), fmt.t("calibration"), cal_dots),
    }


# --- the folder swap --------------------------------------------------------------------------

def _check_target(out_dir: Path) -> None:
    """Refuse to replace anything that is not one of our report folders (or empty)."""
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        raise InputError(f"report --out {out_dir}: exists and is not a folder")
    if out_dir.is_dir() and not (out_dir / MARKER).exists() and any(out_dir.iterdir()):
        raise InputError(f"report --out {out_dir}: folder is not empty and is not a qa-scoring report; "
                         "choose another folder")


def _clean_leftovers(out_dir: Path) -> None:
    now = time.time()
    for path in out_dir.parent.glob(f".{glob.escape(out_dir.name)}.*-*"):
        try:
            if path.is_dir() and now - path.stat().st_mtime > STALE_SECONDS and (path / MARKER).exists():
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass


def write_folder(out_dir: Path, files: dict[str, str]) -> None:
    """Write `files` (relative path → text) to a temporary folder beside `out_dir`, then swap it in."""
    out_dir = Path(out_dir)
    _check_target(out_dir)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    except OSError as err:
        raise RunTimeError(f"report --out {out_dir}: cannot create the folder ({err.strerror or err})") from None
    try:
        (tmp / MARKER).write_text("qa-scoring report folder: replaced as a whole on every render\n",
                                  encoding="utf-8")
        for rel, text in files.items():
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a report is meant to be read
        old = None
        if out_dir.exists():
            old = out_dir.parent / f".{out_dir.name}.old-{uuid.uuid4().hex[:12]}"
            os.rename(out_dir, old)
        try:
            os.rename(tmp, out_dir)
        except OSError:
            if old is not None:
                os.rename(old, out_dir)
            raise
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(err, OSError):
            raise RunTimeError(f"report --out {out_dir}: cannot write ({err.strerror or err})") from None
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    _clean_leftovers(out_dir)


# --- pages ------------------------------------------------------------------------------------

def render_pages(data: ReportData, model: ModelView | None, fmt: Formatter, footer: dict,
                 env: jinja2.Environment | None = None, cal: Calibration | None = None,
                 extra: dict | None = None, alarms: dict | None = None, trends: tuple | None = None,
                 rule_rates: dict | None = None, agent_rule_rates: dict | None = None) -> dict[str, str]:
    """Every page of the report as {relative path: HTML}; `alarms` = {day, lines, alpha} for the index,
    `trends` = (the team's weekly trend, {agent: trend}) and `rule_rates` from report/trends.py."""
    env = env or environment()
    team_trend, agent_trends = trends if trends is not None else (None, {})
    weekly = {name: weekly_view(t, fmt, team_trend) for name, t in agent_trends.items()}
    changed = [(a, weekly[a.name]) for a in data.agents
               if a.name in weekly and weekly[a.name]["verdict"] in ("trend_improving", "trend_worsening")]
    # each rule that failed in the period has its own page with all of its failures (up to the cap)
    rule_files = agent_file_names([r.rule.rule_id for r in data.rules if r.failed])
    reviewed = {item.interaction_id for items in data.reviews.values() for item in items}
    common = {"t": fmt.t, "f": fmt, "data": data, "footer": footer, "lang": fmt.lang, "rule_files": rule_files,
              "min_cell": MIN_CELL, "print_reviews": PRINT_REVIEWS, "cal": cal,
              "low_agreement": cal.low if cal else {},
              "verdicts_on": cal.by_interaction if cal else {},
              # in a several-operations report: this operation's name and zone (a link to the overview)
              "operation": None, "zone": None, **(extra or {})}
    pages: dict[str, str] = {}
    # the interval strips share one scale, zoomed to where the agents are (a multiple of 10); the
    # sparklines share the scale of all agents' daily scores
    # (on a short report the table ranks on the rolling window: strips and sparklines show it too)
    ranked = [a.window or a for a in data.agents]
    ends = [v for a in ranked for v in (a.score_low, a.expected) if v is not None]
    strip_lo = max(0, min(90, int(min(ends, default=0) // 10 * 10)))
    daily = [p.score for a in ranked for p in a.days if p.score is not None]
    spark_lo = max(0, min(90, int(min(daily, default=0) // 10 * 10)))
    spark_days = _days(data) if data.ranking is None else [
        data.ranking.since + timedelta(days=i) for i in range(data.ranking.days)]
    sparks = {a.name: charts.sparkline([{p.day: p.score for p in r.days}.get(d) for d in spark_days], lo=spark_lo)
              for a, r in zip(data.agents, ranked)}
    pages["index.html"] = env.get_template("index.html").render(
        **common, root="", page="index", sparks=sparks, trend=trend_chart(data, fmt), strip_lo=strip_lo,
        alarms=alarms or {"lines": []}, team_weekly=weekly_view(team_trend, fmt) if team_trend else None,
        changed=changed, trend_min=data.min_sample)
    rule_sparks = {rule_id: charts.sparkline(values) for rule_id, values in (rule_rates or {}).items()}
    pages["rules.html"] = env.get_template("rules.html").render(**common, root="", page="rules",
                                                                rule_sparks=rule_sparks)
    pages["model.html"] = env.get_template("model.html").render(
        **common, root="", page="model", model=model, curves=model_charts(model, fmt))
    pages["calibration.html"] = env.get_template("calibration.html").render(
        **common, root="", page="calibration", kappa=kappa_chart(cal, fmt))
    rule_page = env.get_template("rule.html")
    for r in data.rules:
        if r.rule.rule_id in rule_files:
            pages[f"rules/{rule_files[r.rule.rule_id]}"] = rule_page.render(
                **common, root="../", page="rules", r=r, failures=data.rule_failures.get(r.rule.rule_id, ()),
                reviewed=reviewed)
    agent_page = env.get_template("agent.html")
    rule_weeks = agent_rule_rates or {}
    n_weeks = len(next((v for rates in rule_weeks.values() for v in rates.values()), ()))
    for a in data.agents:
        weekly_rules = {rule_id: charts.sparkline(values) for rule_id, values in rule_weeks.get(a.name, {}).items()}
        pages[f"agents/{a.file}"] = agent_page.render(
            weekly_rules=weekly_rules, rule_weeks=n_weeks,
            **common, root="../", page="agent", agent=a, trend=trend_chart(data, fmt, a.days),
            queues=data.queues.get(a.name, ()), rules=data.agent_rules.get(a.name, ()),
            reviews=data.reviews.get(a.name, ()), critical=data.critical.get(a.name, ()), reviewed=reviewed,
            focus=data.focus.get(a.name, ()), weekly=weekly.get(a.name), trend_min=data.min_sample)
    return pages


@dataclass(frozen=True)
class OperationRow:
    """One line of the operations overview (the top-level index when the database holds several)."""

    name: str
    folder: str  # its report's folder under the root
    timezone: str
    team: object  # report.data.Team of that operation
    agents: int


def stored_operations(con) -> list[tuple[str, str]]:
    """(operation, time zone) of every operation with interactions, by name."""
    return con.execute("SELECT operation, min(timezone) FROM interactions GROUP BY 1 ORDER BY 1").fetchall()


def operation_folders(names: list[str]) -> dict[str, str]:
    """Folder name per operation: the name itself when it is a configured-style name (letters, digits,
    '_', '-'), else a safe slug with a hash (an imported operation name is user text)."""
    plain = {n: n for n in names if re.fullmatch(r"[A-Za-z0-9_-]{1,40}", n) and n not in ("agents", "rules")}
    other = agent_file_names([n for n in names if n not in plain])
    return {**plain, **{n: other[n].removesuffix(".html") for n in other}}


def _one_report(con, settings, fmt: Formatter, period, rule_info, run_id, operation: str | None, label, model):
    """Data, calibration, model view and footer of one report (one operation, or all)."""
    opts = settings.report
    label_sql, label_params, label_scale = label
    names = [n for (n,) in con.execute(
        "SELECT DISTINCT agent_name FROM interactions WHERE created_at >= ? AND created_at < ? "
        "AND (? IS NULL OR operation = ?) ORDER BY 1",
        [period.since, period.until + timedelta(days=1), operation, operation]).fetchall()]
    files = agent_file_names(names)
    personal = opts.mask_personal
    data = prepare(con, period, rule_info=rule_info, file_of=files.__getitem__,
                   segment_text=functools.partial(segment_text, personal=personal),
                   mask=functools.partial(mask_text, personal=personal),
                   label_sql=label_sql, label_params=label_params,
                   label_text=label_text(label_scale, fmt),
                   min_sample=opts.min_sample, review_per_agent=opts.review_per_agent,
                   low_score=opts.low_score, high_risk=opts.high_risk,
                   open_max_age_hours=opts.open_max_age_hours, ranking_days=opts.ranking_days,
                   review_team=opts.review_team,
                   rule_failures_max=opts.rule_failures_max, operation=operation)
    cal = prepare_calibration(con, period, rule_info=rule_info, file_of=files.get,
                              mask=functools.partial(mask_text, personal=personal),
                              days=opts.calibration_days, override=settings.reviews.override, operation=operation)
    from qa_scoring import alarms
    from qa_scoring.report.trends import daily_rule_rates, weekly_rule_rates, weekly_trends

    check = alarms.check_day(con, period.until)
    shown = replace(check, alarms=tuple(a for a in check.alarms if operation is None or a.operation == operation))
    trend_pages = {"alarms": {"day": fmt.date(period.until), "lines": alarm_lines(shown, fmt, rule_info),
                              "alpha": fmt.num(check.alpha, 3), "days": alarms.BASELINE_DAYS},
                   "trends": weekly_trends(con, period.until, opts.min_sample, weeks=opts_weeks(settings),
                                           operation=operation),
                   "rule_rates": daily_rule_rates(con, period.until, operation=operation),
                   "agent_rule_rates": weekly_rule_rates(con, period.until, weeks=opts_weeks(settings),
                                                         operation=operation),
                   "check": check}
    model_ids = data.model_ids or ((model.model_id,) if model else ())
    footer = {
        "generated": fmt.datetime(store.utc_now()) + " UTC",
        "window": fmt.date_range(period.since, period.until),
        "pack": ", ".join(h[:12] for h in data.rule_pack_hashes) or fmt.t("none"),
        "model": ", ".join(m[:12] for m in model_ids) or fmt.t("none"),
        "versions": " · ".join(f"{k} {v}" for k, v in store.versions().items()),
        "run": str(run_id) if run_id is not None else "–",
    }
    return data, model, cal, model_ids, footer, trend_pages


def _page_extras(trend_pages: dict) -> dict:
    """The trend and alarm arguments of render_pages from one report's prepared values."""
    return {k: trend_pages[k] for k in ("alarms", "trends", "rule_rates", "agent_rule_rates")}


def render_reports(con, settings, *, out_dir: Path, since: date | None, until: date | None,
                   lang: str = "es", run_id: int | None = None, operation: str | None = None,
                   weeks: int | None = None) -> ReportSummary:
    """Render index, agent, rules and model pages for a period into `out_dir`, atomically.

    A database holding several operations gets one folder of those pages per operation (its agents,
    its team, its days) and an overview comparing them as the top-level index.html; `operation`
    renders that operation's pages alone into `out_dir`."""
    started = time.perf_counter()
    if lang not in LANGUAGES:
        raise InputError(f"report --lang {lang}: must be one of {', '.join(LANGUAGES)}")
    out_dir = Path(out_dir)
    _check_target(out_dir)
    fmt = Formatter(lang)
    label = _label_sql(settings)
    with store.atomic(con):  # one consistent snapshot of every table the report reads
        operations = stored_operations(con)
        if operation is not None and operation not in {name for name, _ in operations}:
            known = ", ".join(name for name, _ in operations) or "none"
            raise InputError(f"report --operation {operation}: no interactions of that operation (stored: {known})")
        several = operation is None and len(operations) > 1
        period = resolve_period(con, since, until, operation, weeks)
        rule_info = _rule_catalogue(con, lang)
        # the model is one for every operation: read once
        model = load_model_view(con, rule_title=lambda rule_id: rule_info(rule_id).title, agent_word=fmt.t("agent_word"))
        if model is not None:
            model = model_texts(model, fmt)
        if several:
            folders = operation_folders([name for name, _ in operations])
            reports = [(name, zone, _one_report(con, settings, fmt, period, rule_info, run_id, name, label, model))
                       for name, zone in operations]
        else:
            reports = [(operation, None, _one_report(con, settings, fmt, period, rule_info, run_id, operation, label,
                                                     model))]
    prepared = time.perf_counter()
    pages: dict[str, str] = {}
    rows = []
    env = environment()  # compiled once: compiling the templates costs more than rendering one report
    for name, zone, (data, model, cal, _ids, footer, trend_pages) in reports:
        if several:
            prefix = folders[name] + "/"
            extra = {"operation": name, "zone": zone}
            pages.update({prefix + k: v for k, v in render_pages(data, model, fmt, footer, env, cal=cal, extra=extra,
                                                                      **_page_extras(trend_pages)).items()})
            rows.append(OperationRow(name, folders[name], zone, data.team, len(data.agents)))
        else:
            pages.update(render_pages(data, model, fmt, footer, env, cal=cal, **_page_extras(trend_pages)))
    if several:
        footer = reports[0][2][4]
        pages["index.html"] = env.get_template("operations.html").render(
            t=fmt.t, f=fmt, footer=footer, lang=fmt.lang, root="", page="operations", period=period,
            operations=rows, operation=None, zone=None)
    rendered = time.perf_counter()
    write_folder(out_dir, pages)
    log.debug("report: data %.2f s, templates %.2f s, write %.2f s", prepared - started, rendered - prepared,
              time.perf_counter() - rendered)
    datas = [r[2][0] for r in reports]
    n = sum(d.team.n + d.team.pending for d in datas)
    warnings = () if n else (_empty_period_warning(con, period),)
    for warning in warnings:
        log.warning("%s", warning)
    summary = ReportSummary(out_dir=str(out_dir), index=str(out_dir / "index.html"), since=str(period.since),
                            until=str(period.until), lang=lang, agents=sum(len(d.agents) for d in datas),
                            pages=len(pages), interactions=n, seconds=round(time.perf_counter() - started, 3),
                            rule_pack_hashes=tuple(sorted({h for d in datas for h in d.rule_pack_hashes})),
                            model_ids=tuple(sorted({m for r in reports for m in r[2][3]})),
                            empty=not n, warnings=warnings, open_pending=sum(d.team.pending for d in datas),
                            operations=tuple(name for name, _ in operations) if several else
                            ((operation,) if operation else ()),
                            alarms=tuple(a.to_dict() for a in reports[0][2][5]["check"].alarms))
    log.debug("%s", summary.text())
    return summary


def _empty_period_warning(con, period) -> str:
    """Why a report came out empty: the period against the days the data covers."""
    first, last = store.fetch_one(con, "SELECT min(created_at)::DATE, max(created_at)::DATE FROM interactions")
    covers = f"the data covers {first} – {last}" if first else "the database has no interactions"
    return f"report {period.since} – {period.until}: no interactions in this period ({covers}); the report is empty"
