"""The nightly job: fetch → score → train (when due) → predict → report, and the offline demo.

Each stage commits on its own (one transaction per window / stage), so a failure leaves the previous
state and the next run picks up where the data is. A lock per database keeps two runs apart.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import filelock

from qa_scoring import store
from qa_scoring.config import Settings
from qa_scoring.errors import LockedError, ModelError

log = logging.getLogger(__name__)


# --- one run at a time per database -----------------------------------------------------------

def _lock_paths(db_path: Path) -> tuple[Path, Path]:
    db_path = Path(db_path).resolve()
    return db_path.with_name(db_path.name + ".run.lock"), db_path.with_name(db_path.name + ".run.json")


@contextmanager
def run_lock(db_path: Path, wait: bool = False) -> Iterator[None]:
    """Hold the database's run lock; a second run fails at once (or waits with `wait`).

    The lock is an OS file lock (filelock), released by the kernel when the holder dies, so a lock
    left by a killed process never blocks the next run. Who holds it is written beside it.
    """
    lock_path, info_path = _lock_paths(db_path)
    lock = filelock.FileLock(str(lock_path), timeout=-1 if wait else 0)
    try:
        lock.acquire()
    except filelock.Timeout:
        holder = ""
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
            holder = f" (pid {info['pid']}, started {info['started']})"
        except (OSError, ValueError, KeyError):
            pass
        raise LockedError(f"another qa-scoring run holds {db_path}{holder}") from None
    try:
        info_path.write_text(json.dumps({"pid": os.getpid(),
                                         "started": datetime.now().strftime("%Y-%m-%d %H:%M:%S")}),
                             encoding="utf-8")
        yield
    finally:
        try:
            info_path.unlink()
        except OSError:
            pass
        lock.release()


# --- the status file: monitoring while a command holds the database ----------------------------

STATUS_FORMAT = 1


def status_path(db_path: Path) -> Path:
    """`<database>.status.json`, beside the database file."""
    db_path = Path(db_path).resolve()
    return db_path.with_name(db_path.name + ".status.json")


class RunStatus:
    """The status file of the current (or last) recorded command on a database.

    While a command holds the database DuckDB lets no other process open it, not even to read, so
    `runs` cannot show a run in progress; this small JSON file can be read at any time. It is
    replaced whole at each change (written beside, then renamed), so a reader never sees half of it.
    A status that stays `running` while its pid is gone is a killed run (the next command marks it
    failed in `runs`). Writing it never fails the command: monitoring is not worth a failed night.
    """

    def __init__(self, db_path: Path, run_id: int, command: str):
        self.path = status_path(db_path)
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.data: dict[str, Any] = {"format": STATUS_FORMAT, "database": str(Path(db_path).resolve()),
                                     "run_id": run_id, "command": command, "pid": os.getpid(),
                                     "status": "running", "stage": None, "stages_done": [],
                                     "started_at": now, "updated_at": now, "error": None}
        self._warned = False
        self._write()

    def stage(self, name: str) -> None:
        """A stage starts."""
        self.data["stage"] = name
        self._write()

    def stage_done(self, name: str, seconds: float) -> None:
        self.data["stages_done"].append({"stage": name, "seconds": round(seconds, 2)})
        self.data["stage"] = None
        self._write()

    def finish(self, status: str, error: str | None = None) -> None:
        """The command ended: `success` or `failed` (with its one-line error)."""
        self.data.update(status=status, error=error, stage=None)
        self._write()

    def _write(self) -> None:
        self.data["updated_at"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(self.data, ensure_ascii=False) + "\n", encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as err:
            if not self._warned:
                log.warning("cannot write the status file %s (%s)", self.path, err.strerror or err)
                self._warned = True
            try:
                tmp.unlink()
            except OSError:
                pass


# --- periods ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    name: str  # folder name under the reports root
    since: date | None
    until: date | None


def local_today(settings: Settings, operations: list | None = None, now: datetime | None = None) -> date:
    """Today in the operations' time zones (the API's and the QA teams' calendars): the earliest of
    their local dates, so that "yesterday", the night's report day, has ended in every operation
    the night covers (`operations`: those chosen, all configured by default). `now` is aware."""
    now = now or datetime.now(timezone.utc)
    return min(now.astimezone(ZoneInfo(op.wolkvox.timezone)).date()
               for op in operations or settings.operation_list())


def report_periods(settings: Settings, today: date) -> list[Period]:
    """The nightly report periods: the last complete day and the month to date (or the last N days)."""
    yesterday = today - timedelta(days=1)
    if settings.run.report_days:
        start = today - timedelta(days=settings.run.report_days)
        return [Period(f"last-{settings.run.report_days}-days", start, yesterday)]
    month_start = yesterday.replace(day=1)
    return [Period(f"day-{yesterday:%Y-%m-%d}", yesterday, yesterday),
            Period(f"month-{yesterday:%Y-%m}", month_start, yesterday)]


# --- the job ----------------------------------------------------------------------------------

@dataclass
class RunSummary:
    stages: dict[str, dict] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    reports: list[str] = field(default_factory=list)
    model_id: str | None = None
    rule_pack_hash: str | None = None
    failed_operations: dict[str, str] = field(default_factory=dict)  # operation → why its fetch failed
    alarms: list[dict] = field(default_factory=list)  # contract: the night's drift alarms (alarms.py)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def text(self) -> str:
        lines = [f"{name}: {self.seconds.get(name, 0):.1f} s" for name in self.stages]
        lines += [f"report: {path}" for path in self.reports]
        return "\n".join(lines)


def _stage(summary: RunSummary, name: str, fn: Callable[[], Any],
           on_stage: Callable[[str], None] | None = None, status: RunStatus | None = None) -> Any:
    """Run one stage, log one line with its counts and seconds, remember its summary."""
    if on_stage:
        on_stage(name)
    if status:
        status.stage(name)
    started = time.monotonic()
    result = fn()
    elapsed = time.monotonic() - started
    if status:
        status.stage_done(name, elapsed)
    summary.seconds[name] = round(elapsed, 2)
    if result is None:
        summary.stages[name] = {"skipped": True}
        log.info("%s: skipped (%.1f s)", name, elapsed)
        return None
    if isinstance(result, str):  # a reason for skipping
        summary.stages[name] = {"skipped": True, "reason": result}
        log.info("%s: skipped, %s", name, result)
        return None
    summary.stages[name] = result.to_dict()
    one_line = "; ".join(part.strip() for part in result.text().splitlines() if part.strip())
    log.info("%s: %s (%.1f s)", name, one_line, elapsed)
    return result


def _train_is_due(con, settings: Settings) -> str | None:
    """None when the model should be (re)trained now, else the reason not to."""
    from qa_scoring import classify

    if settings.run.train == "never":
        return "run.train = never"
    if settings.run.train == "always":
        return None
    model = classify.current_model(con)
    if model is None:
        return None
    # A model this installation cannot read (another scikit-learn or model format) is retrained.
    from qa_scoring.classify.model import validate_spec

    spec = store.fetch_one(con, "SELECT spec FROM models WHERE model_id = ?", [model.model_id])[0]
    try:
        validate_spec(json.loads(spec) if isinstance(spec, str) else spec, model.model_id)
    except ModelError as err:
        log.info("retraining: %s", err)
        return None
    age = store.utc_now() - model.created_at
    if age > timedelta(days=settings.run.model_max_age_days):
        return None
    return f"current model {model.model_id[:12]} is {age.days} days old"


def stage_count(token: str | None, settings: Settings, periods: list[Period] | None, today: date,
                reviews: bool = False) -> int:
    """How many stages run_job will go through (for a progress bar)."""
    n_reports = len(periods) if periods is not None else len(report_periods(settings, today))
    return (1 if token is not None else 0) + 4 + (1 if reviews else 0) + n_reports


def run_job(con, settings: Settings, token: str | None, *, run_info: dict,
            since: datetime | None = None, until: datetime | None = None,
            out_dir: Path | None = None, periods: list[Period] | None = None,
            today: date | None = None, on_stage: Callable[[str], None] | None = None,
            status: RunStatus | None = None, reviews_files: list[Path] | None = None,
            operations: list | None = None, environ=None) -> RunSummary:
    """The nightly job on an open database. `token=None` skips fetching (data came by import).
    With `operations` (configured [operations.<name>] sections), each is fetched with its own token;
    one failing leaves the others' data, which the later stages process as usual, and is named in
    `summary.failed_operations` (the CLI then exits 1).
    `reviews_files` (the demo's bundled QA verdicts) are imported right after scoring; `environ`
    (the demo's) is where the operations' tokens are read, os.environ by default.

    `on_stage(name)` is called as each stage starts (the CLI draws a progress bar on a terminal);
    `status` (the status file) is updated as each stage starts and ends.
    """
    from qa_scoring import classify, report, rules, wolkvox
    from qa_scoring.resources import rules_dir

    summary = RunSummary()
    run_id = run_info["run_id"]
    if operations:
        fetched = _stage(summary, "fetch", lambda: wolkvox.fetch_operations(
            con, settings, operations, since=since, until=until, run_id=run_id,
            environ=os.environ if environ is None else environ), on_stage, status)
        summary.failed_operations = dict(fetched.failed)
    elif token is not None:
        _stage(summary, "fetch", lambda: wolkvox.fetch_interactions(
            con, settings, token, since=since, until=until, run_id=run_id), on_stage, status)

    pack = rules.load_rule_pack(Path(settings.rules.dir) if settings.rules.dir else rules_dir())
    summary.rule_pack_hash = run_info["rule_pack_hash"] = pack.hash
    scored = _stage(summary, "score", lambda: rules.score_interactions(
        con, pack, run_id=run_id, overrides=settings.reviews.override,
        labels=classify.LabelMapping.from_settings(settings.classifier)), on_stage, status)
    if reviews_files:
        from qa_scoring.reviews.stored import import_reviews

        _stage(summary, "reviews", lambda: import_reviews(con, reviews_files, run_id=run_id,
                                                          override=settings.reviews.override), on_stage, status)

    def train() -> Any:
        reason = _train_is_due(con, settings)
        if reason:
            return reason
        try:
            return classify.train_model(con, settings, run_id=run_id)
        except ModelError as err:
            if settings.run.train == "always":
                raise
            return f"not enough labels yet ({err})"

    trained = _stage(summary, "train", train, on_stage, status)
    if trained is not None:
        run_info["metrics"] = {k: trained.to_dict().get(k) for k in ("roc_auc", "pr_auc", "brier", "n_train", "n_test")}
    model = classify.current_model(con)
    summary.model_id = run_info["model_id"] = model.model_id if model else None
    # score left every day's rule facts current, and predictions are no part of them
    _stage(summary, "predict", lambda: classify.predict_interactions(
        con, settings, run_id=run_id, rule_facts_current=scored is not None) if model else "no model yet",
        on_stage, status)

    out_root = Path(out_dir or settings.report.out)
    tz_today = today or local_today(settings, operations)
    # Drift alarms compare yesterday (the night's report day; the last day with data when the
    # periods are given, as in the demo) with its trailing baseline, before the reports show them.
    from qa_scoring import alarms

    check = _stage(summary, "alarms", lambda: alarms.run_check(
        con, None if periods is not None else tz_today - timedelta(days=1), run_id), on_stage, status)
    summary.alarms = [a.to_dict() for a in check.alarms] if check is not None else []
    for period in periods if periods is not None else report_periods(settings, tz_today):
        target = out_root / period.name if period.name else out_root
        result = _stage(summary, f"report {period.name}".strip(), lambda: report.render_reports(
            con, settings, out_dir=target, since=period.since, until=period.until,
            lang=settings.report.lang, run_id=run_id), on_stage, status)
        summary.reports.append(str(Path(result.to_dict().get("index", target / "index.html"))))
    run_info["counts"] = summary.stages
    return summary


# --- the demo ---------------------------------------------------------------------------------

def sample_range(files: list[Path]) -> tuple[datetime, datetime]:
    """First and last parseable timestamps in the sample, so the demo fetches all of it."""
    stamps = []
    for path in files:
        doc = json.loads(path.read_text(encoding="utf-8"))
        for row in doc["data"] if isinstance(doc, dict) else doc:
            for key in ("date_creation", "close_date"):
                try:
                    stamps.append(datetime.strptime(str(row.get(key, "")).strip(), "%Y-%m-%d %H:%M:%S"))
                except ValueError:
                    pass
    return min(stamps).replace(hour=0, minute=0, second=0), max(stamps).replace(hour=23, minute=59, second=59)


# The demo's two operations: (name, time zone). The sample's agents are dealt between them in
# name order, so each has its own team and a new user sees the overview comparing operations.
DEMO_OPERATIONS = (("bogota", "America/Bogota"), ("lima", "America/Lima"))


def demo_split(files: list[Path]) -> dict[str, int]:
    """Which demo operation (index into DEMO_OPERATIONS) serves each agent of the sample."""
    names: set[str] = set()
    for path in files:
        doc = json.loads(path.read_text(encoding="utf-8"))
        names.update(str(row.get("agent_name") or "") for row in (doc["data"] if isinstance(doc, dict) else doc)
                     if isinstance(row, dict))
    return {name: i % len(DEMO_OPERATIONS) for i, name in enumerate(sorted(names))}


def demo_token(name: str) -> str:
    return f"demo-token-{name}"


def demo_settings(settings: Settings, base_urls: list[str]) -> tuple[Settings, dict[str, str]]:
    """The user's settings with the demo's operations, each pointed at its own local sandbox,
    without pacing (they are our own servers); and the environment their tokens are read from."""
    from qa_scoring.config import Operation

    operations, environ = [], {}
    for (name, zone), url in zip(DEMO_OPERATIONS, base_urls):
        ws = dataclasses.replace(settings.wolkvox, base_url=url, server=settings.wolkvox.server or "demo",
                                 timezone=zone, min_interval=0.0)
        op = Operation(name, ws, token_env=Operation.default_token_env(name))
        environ[op.token_env] = demo_token(name)
        operations.append(op)
    return dataclasses.replace(settings, operations=tuple(operations)), environ


def retire_old_demo(db_path: Path) -> Path | None:
    """Move aside a database that only demo runs wrote and that holds other operations than the
    demo's (the one-operation demo of earlier versions stored its rows as operation "demo"), so
    a rerun of the demo gives the same result as a clean one. Nothing is deleted; a database any
    other command wrote is left as it is. Returns where the old file went."""
    if not db_path.exists():
        return None
    con = store.connect(db_path, read_only=True, create=False)
    try:
        foreign = con.execute("SELECT count(*) FROM interactions WHERE operation NOT IN (SELECT unnest($names))",
                              {"names": [n for n, _ in DEMO_OPERATIONS]}).fetchone()[0]
        others = con.execute("SELECT count(*) FROM runs WHERE command <> 'demo'").fetchone()[0]
    finally:
        con.close()
    if not foreign or others:
        return None
    target = db_path.with_name(db_path.name + ".old-demo")
    for suffix in ("", ".wal"):
        old = db_path.with_name(db_path.name + suffix)
        if old.exists():
            old.replace(target.with_name(target.name + suffix))
    log.warning("demo: %s held the one-operation demo; moved to %s", db_path, target)
    return target
