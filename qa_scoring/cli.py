"""The `qa-scoring` command line: a thin layer that parses options, calls stage functions and prints.

Only this module imports click. Library code raises `errors.QAError` subclasses; `main` turns them
into one `Error: <message>` line on stderr and the exit status the class carries (1 run time,
2 bad input or usage). `--json` prints one summary object on stdout; logs go to stderr.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import click
import duckdb

from qa_scoring import __version__, store
from qa_scoring.config import DatabaseSettings, ReportSettings, Settings, WolkvoxSettings, load_settings
from qa_scoring.errors import DamagedDatabaseError, QAError, RunTimeError, one_line, scrub_secrets

log = logging.getLogger("qa_scoring")


# --- plumbing ---------------------------------------------------------------------------------

class _ScrubFilter(logging.Filter):
    """Keep the API token out of every log line, whatever the message carries."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub_secrets(one_line(record.getMessage()))  # one line: no forged log lines
        record.args = ()
        return True


def _setup_logging(verbose: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    handler.addFilter(_ScrubFilter())
    root = logging.getLogger("qa_scoring")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False


def error_line(err: BaseException) -> str:
    """The first line of an error, scrubbed (before the cut: a secret may span lines) and printable."""
    text = scrub_secrets(str(err))
    return one_line(next(line for line in text.splitlines() if line.strip())) if text.strip() else type(err).__name__


class _QAException(click.ClickException):
    """A QAError as click sees it: printed as `Error: <message>`, exit status from the class."""

    def __init__(self, err: QAError):
        super().__init__(error_line(err))
        self.exit_code = err.exit_code
        self.details = tuple(scrub_secrets(line) for line in err.details)

    def show(self, file=None) -> None:
        for line in self.details:  # plain lines, as the README shows them: no timestamp, no level
            click.echo(line, err=True)
        super().show(file)


def _as_qa_error(err: BaseException) -> BaseException:
    """A failure of the database file (damaged, folder not writable, disk full) as its one-line
    QAError; any other error as it is."""
    ctx = click.get_current_context(silent=True)
    app = ctx.find_object(App) if ctx else None
    if isinstance(err, QAError) or app is None or app.db_path is None:
        return err
    return store.database_fault(app.db_path, err) or err


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except QAError as err:
            raise _QAException(err) from None
        except duckdb.Error as err:
            fault = _as_qa_error(err)
            if fault is err:
                raise
            raise _QAException(fault) from None


@dataclass
class App:
    """What every command needs: settings, the database path, options of the group."""

    config_file: str | None
    db_option: str | None
    verbose: int
    _settings: Settings | None = field(default=None, repr=False)
    db_path: Path | None = None  # of the database open_db opened

    def settings(self, **overrides: Any) -> Settings:
        """Settings with `overrides` ("section.key": value; None = not given) applied last."""
        if db := self.db_option:
            overrides = {"database.path": db, **overrides}
        return load_settings(self.config_file, overrides=overrides)

    def open_db(self, settings: Settings | None = None, read_only: bool = False, create: bool = True):
        """Open the database for this command; it is closed when the command ends, whatever happens.

        Commands that only read data pass `read_only=True`, or `create=False` when they still
        write their run record (report): neither creates a missing database.
        """
        settings = settings or self.settings()
        self.db_path = settings.db_path
        con = store.connect(settings.db_path, read_only=read_only, memory_limit=settings.database.memory_limit,
                            create=create)
        path = settings.db_path

        def close() -> None:
            failure = sys.exc_info()[1]  # the error the command is ending with, if any
            if failure is not None and isinstance(store.database_fault(path, failure), DamagedDatabaseError):
                try:  # DuckDB checkpoints on close: it would write into the damaged file
                    con.execute("PRAGMA disable_checkpoint_on_shutdown")
                except duckdb.Error:
                    pass
            con.close()

        click.get_current_context().call_on_close(close)
        return con

    @contextmanager
    def recorded(self, con, command: str) -> Iterator[dict]:
        """Record the command in `runs`: 'running' now, then 'success' or 'failed' with the error line.

        The body fills the yielded dict: run_id and status (the status file, pipeline.RunStatus)
        are set; put counts under "counts" and optionally rule_pack_hash / model_id / metrics.
        """
        from qa_scoring.pipeline import RunStatus

        run_id = store.start_run(con, command)
        status = RunStatus(self.db_path, run_id, command)
        info: dict[str, Any] = {"run_id": run_id, "counts": {}, "status": status}
        try:
            yield info
        except BaseException as err:
            message = error_line(_as_qa_error(err))
            status.finish("failed", message)
            try:
                store.finish_run(con, run_id, "failed", counts=info.get("counts"), error=message)
            except duckdb.Error as again:  # the file failed (disk full, ...): the next run closes the record
                log.warning("the run record %d could not be closed: %s", run_id, error_line(_as_qa_error(again)))
            raise
        store.finish_run(con, run_id, "success", counts=info.get("counts"),
                         rule_pack_hash=info.get("rule_pack_hash"), model_id=info.get("model_id"),
                         metrics=info.get("metrics"))
        status.finish("success")


pass_app = click.make_pass_decorator(App)

json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print one JSON summary object on stdout (logs stay on stderr).")


@contextmanager
def stage_progress(total: int) -> Iterator[Any]:
    """A progress bar over the job's stages on a terminal; nothing at all under cron (no TTY)."""
    if not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=total, label="starting", file=sys.stderr, show_pos=True) as bar:
        seen = []

        def on_stage(name: str) -> None:
            if seen:
                bar.update(1)
            seen.append(name)
            bar.label = f"{name:<12}"
            bar.render_progress()

        yield on_stage
        bar.update(1)


def emit(summary: dict, as_json: bool, text: str) -> None:
    """Print a command's result: one JSON object with --json, else a human line."""
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False, default=str, sort_keys=True))
    else:
        click.echo(text)


# --- the group --------------------------------------------------------------------------------

@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", "db", metavar="PATH", default=None,
              help="DuckDB file (default: $QA_SCORING_DB, else [database] path in the settings, "
                   f"else {DatabaseSettings.path} here).")
@click.option("--config", "config_file", metavar="FILE", default=None,
              help="Settings file (default: ./qa-scoring.toml when it exists).")
@click.option("-v", "--verbose", count=True, help="More detail in the log on stderr.")
@click.version_option(__version__, prog_name="qa-scoring")
@click.pass_context
def cli(ctx: click.Context, db: str | None, config_file: str | None, verbose: int) -> None:
    """Audit the quality of contact-center chats and emails from Wolkvox, agent by agent.

    Fetches the chat_4 report into DuckDB, scores every interaction with the YAML rules in
    rules/, learns dissatisfaction from survey answers, and writes HTML audit reports.

    \b
    Example:
        qa-scoring demo                      # the whole job on the bundled sample
        qa-scoring import data/sample/*.json
        qa-scoring --db qa.duckdb runs --last 5
    """
    _setup_logging(verbose)
    ctx.obj = App(config_file=config_file, db_option=db, verbose=verbose)


def main() -> None:
    """Console entry point."""
    cli(prog_name="qa-scoring")


# --- import / rebuild / runs (ingest.py, store.py) --------------------------------------------

@cli.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--operation", default=None, metavar="NAME",
              help="Wolkvox server the files came from (default: [wolkvox] server in the settings, else 'default').")
@json_option
@pass_app
def import_cmd(app: App, files: tuple[Path, ...], operation: str | None, as_json: bool) -> None:
    """Load chat_4 data files (API-shaped JSON, a bare JSON list, or CSV) into the database.

    All files land in one transaction: a file that cannot be read changes nothing. Rows that
    cannot be used (bad date, missing agent...) go to the quarantine table with the reason.
    Importing the same file again changes nothing.

    \b
    Example:
        qa-scoring import data/sample/chat_4_sample.json
        qa-scoring --db qa.duckdb import --json export-nov.csv
    """
    from qa_scoring.ingest import import_files

    settings = app.settings()
    con = app.open_db(settings)
    with app.recorded(con, "import") as info:
        # a configured operation's files are in its own zone
        zone = next((op.wolkvox.timezone for op in settings.operations if op.name == operation),
                    settings.wolkvox.timezone)
        summary = import_files(con, list(files), operation=operation or settings.wolkvox.server or "default",
                               tz=zone, run_id=info["run_id"],
                               dates=store.DateRange(settings.ingest.earliest(), settings.ingest.max_days_ahead))
        info["counts"] = {k: v for k, v in summary.to_dict().items() if k != "per_file"}
    emit(summary.to_dict(), as_json, summary.text())


@cli.command("rebuild")
@json_option
@pass_app
def rebuild_cmd(app: App, as_json: bool) -> None:
    """Re-derive interactions and quarantine from the stored raw pages, without calling the API.

    Use it after upgrading qa-scoring or to recover from a damaged interactions table. Then
    run `score --full` and `predict` to refresh what depends on interactions.

    \b
    Example:
        qa-scoring rebuild && qa-scoring score --full
    """
    settings = app.settings()
    con = app.open_db(settings)
    with app.recorded(con, "rebuild") as info:
        summary = store.rebuild_interactions(
            con, store.DateRange(settings.ingest.earliest(), settings.ingest.max_days_ahead))
        info["counts"] = summary.to_dict()
    emit(summary.to_dict(), as_json,
         f"pages {summary.pages}, rows {summary.rows:,}, interactions {summary.interactions:,}, "
         f"quarantined {summary.quarantined:,}")


@cli.command("runs")
@click.option("--last", default=20, show_default=True, type=click.IntRange(min=1), help="How many runs.")
@click.option("--json", "as_json", is_flag=True,
              help='Print one JSON object, {"runs": [...]} newest first, on stdout.')
@pass_app
def runs_cmd(app: App, last: int, as_json: bool) -> None:
    """Show the run log: what ran, when, with which rule pack and model, and how it ended.

    Times are UTC. With --json each run carries its counts and metrics as JSON objects.

    \b
    Example:
        qa-scoring runs --last 5
        qa-scoring runs --last 1 --json
    """
    from qa_scoring.errors import LockedError
    from qa_scoring.pipeline import status_path

    try:
        con = app.open_db(read_only=True)
    except LockedError as err:  # a command holds the database: its progress is in the status file
        raise LockedError(f"{err}; its progress is in {status_path(app.db_path)}") from None
    runs = store.list_runs(con, last)
    if store.schema_version(con) >= 8:  # a read-only open does not migrate an older database
        from qa_scoring.alarms import alarms_of_runs

        found = alarms_of_runs(con, [r["run_id"] for r in runs])
        for r in runs:
            r["alarms"] = found.get(r["run_id"], [])
    if as_json:
        click.echo(json.dumps({"runs": runs}, default=str, ensure_ascii=False))
        return
    row = "{:>5}  {:<19}  {:<8} {:<8} {:<19}  {:<12} {:<12} {:>6}"
    click.echo(row.format("run", "started (UTC)", "command", "status", "ended (UTC)", "rule pack", "model",
                          "alarms") + "  error")
    for r in runs:
        line = row.format(r["run_id"], str(r["started_at"]), r["command"], r["status"], str(r["ended_at"] or "-"),
                          _short_ids(r["rule_pack_hash"]), _short_ids(r["model_id"]), len(r.get("alarms", [])))
        click.echo((line + (f"  {r['error']}" if r["error"] else "")).rstrip())
        for a in r.get("alarms", []):  # what each alarm says, one indented line each
            what = a["rule_id"] or a["channel"] or ""
            click.echo(f"       alarm {a['day']} {a['kind']} {what}: {a['rate']:.3g} against "
                       f"{a['baseline_rate']:.3g} ({a['baseline_low']:.3g}-{a['baseline_high']:.3g})".replace("  ", " "))


def _short_ids(value: str | None) -> str:
    """Hashes as the report footer shows them: 12 characters each (a report may span several packs)."""
    return ",".join(part[:12] for part in value.split(",")) if value else "-"


# --- fetch / sandbox (wolkvox.py, sandbox.py) -------------------------------------------------

class TimeParam(click.ParamType):
    """A time as the API and the docs write it: YYYY-MM-DD, 'YYYY-MM-DD HH:MM:SS' or YYYYmmddHHiiss."""

    name = "TIME"

    def __init__(self, end_of_day: bool = False):
        self.end_of_day = end_of_day  # for --until: a bare date includes that whole day

    def convert(self, value, param, ctx):
        from qa_scoring.errors import InputError
        from qa_scoring.wolkvox import parse_time

        if not isinstance(value, str):
            return value
        try:
            return parse_time(value, param.opts[0] if param else "time", end_of_day=self.end_of_day)
        except InputError as err:
            self.fail(str(err).split(": ", 1)[-1], param, ctx)


def _fetch_progress(state: dict) -> None:
    if sys.stderr.isatty():  # progress on a terminal only; cron stays quiet
        click.echo(f"\r  up to {state['until']}: {state['windows']} windows, {state['rows']:,} rows, "
                   f"{state['calls']} calls", err=True, nl=False)


def operation_option(fn):
    return click.option("--operation", "operations", multiple=True, metavar="NAME",
                        help="Only this operation (repeatable; default: every configured one).")(fn)


def _operations_failed(summary) -> str:
    failed = ", ".join(f"{name} ({error})" for name, error in summary.failed.items())
    landed = ", ".join(summary.fetched) or "none"
    return f"fetch failed for operation {failed}; landed: {landed} (the next run resumes each from its watermark)"


@cli.command("fetch")
@click.option("--since", type=TimeParam(), default=None,
              help="Start (local time of the operation). Default: the watermark minus the look-back.")
@click.option("--until", type=TimeParam(end_of_day=True), default=None,
              help="End, inclusive (a bare date includes that day). Default: now.")
@click.option("--min-interval", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="Seconds between two calls on the token "
                   f"(default: [wolkvox] min_interval in the settings, else {WolkvoxSettings.min_interval:g}).")
@operation_option
@json_option
@pass_app
def fetch_cmd(app: App, since, until, min_interval: float | None, operations: tuple[str, ...], as_json: bool) -> None:
    """Pull the chat_4 report from the Wolkvox API into the database.

    Without --since it continues from the last fetched window minus the look-back (3 days by
    default, so late surveys and closes update rows), or backfills 30 days the first time.
    Needs WOLKVOX_SERVER (or WOLKVOX_BASE_URL) and WOLKVOX_TOKEN (or WOLKVOX_TOKEN_FILE); with
    [operations.<name>] sections, each operation's own server and token (README, Operations):
    every operation is fetched from its own watermark, or only those named by --operation. One
    operation failing does not stop the others; the command then exits 1 naming it.

    \b
    Example:
        WOLKVOX_SERVER=0042 WOLKVOX_TOKEN=... qa-scoring fetch
        qa-scoring fetch --since 2026-11-01 --until 2026-11-07 --json
        qa-scoring fetch --operation lima
    """
    from qa_scoring import wolkvox

    settings = app.settings()
    chosen = settings.operation_list(operations)
    if not settings.operations:  # the single [wolkvox] operation: as it always was
        token = wolkvox.read_token()
        con = app.open_db(settings)
        with app.recorded(con, "fetch") as info:
            summary = wolkvox.fetch_interactions(con, settings, token, since=since, until=until,
                                                 min_interval=min_interval, run_id=info["run_id"],
                                                 progress=_fetch_progress)
            info["counts"] = summary.to_dict()
    else:
        con = app.open_db(settings)
        with app.recorded(con, "fetch") as info:
            summary = wolkvox.fetch_operations(con, settings, chosen, since=since, until=until,
                                               min_interval=min_interval, run_id=info["run_id"],
                                               progress=_fetch_progress)
            info["counts"] = summary.to_dict()
            if summary.failed:
                if sys.stderr.isatty():
                    click.echo(err=True)
                emit(summary.to_dict(), as_json, summary.text())
                raise RunTimeError(_operations_failed(summary))
    if sys.stderr.isatty():
        click.echo(err=True)
    emit(summary.to_dict(), as_json, summary.text())


@cli.command("sandbox")
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1; loopback unless given).")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535),
              help="Port (0: any free port).")
@click.option("--token", default="sandbox-token", show_default=True, help="The token clients must send.")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def sandbox_cmd(host: str | None, port: int, token: str, files: tuple[Path, ...]) -> None:
    """Serve data files (default: the bundled sample) as a Wolkvox-compatible chat_4 API.

    The first line of stdout is the base URL; point WOLKVOX_BASE_URL at it. Runs until
    interrupted (Ctrl-C). It reproduces the API's traps: 404 for empty windows, 403 flavours,
    a 60,000-row cap, one request at a time per token, a daily quota.

    \b
    Example:
        qa-scoring sandbox --port 8765 &
        WOLKVOX_BASE_URL=http://127.0.0.1:8765 WOLKVOX_TOKEN=sandbox-token qa-scoring fetch --min-interval 0
    """
    from qa_scoring.sandbox import start_sandbox

    if host is not None and host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("sandbox listening on %s: anyone who can reach it can read the data", host)
    server = start_sandbox(list(files) or None, host=host or "127.0.0.1", port=port, token=token)
    click.echo(server.base_url)
    sys.stdout.flush()
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()


# --- rules check / score (rules.py) -----------------------------------------------------------

@cli.group("rules")
def rules_group() -> None:
    """Work with QA rule packs (folders of YAML rules; see rules/README.md).

    \b
    Example:
        qa-scoring rules check            # the configured (or bundled) pack
        qa-scoring rules check my-rules/
    """


@rules_group.command("check")
@click.argument("directory", required=False, type=click.Path(path_type=Path))
@json_option
@pass_app
def rules_check_cmd(app: App, directory: Path | None, as_json: bool) -> None:
    """Validate a rule pack and run every rule's examples through the scoring SQL.

    Prints `ok: N rules, M examples passed`, or every problem as `file:line: rule <id>: <what>`
    on stderr and exits 2. DIRECTORY defaults to [rules] dir in the settings, else the bundled pack.

    \b
    Example:
        qa-scoring rules check rules/
    """
    from qa_scoring.rules import check_rule_pack, default_rules_dir

    summary = check_rule_pack(directory or default_rules_dir(app.settings()))
    emit(summary.to_dict(), as_json, summary.text())


@rules_group.command("list")
@click.option("--json", "as_json", is_flag=True,
              help='Print one JSON object, {"packs": [...]}, the current pack first, on stdout.')
@pass_app
def rules_list_cmd(app: App, as_json: bool) -> None:
    """List the rule packs stored in the database: hash, when, source, rules, which is current.

    A pack is stored each time `score` runs with it; the current pack is the one `score` last
    ran, and reports read it. The results of the other packs are kept until `rules prune`.

    \b
    Example:
        qa-scoring rules list
        qa-scoring rules list --json
    """
    from qa_scoring.rules.stored import list_packs

    packs = list_packs(app.open_db(create=False))
    if as_json:
        click.echo(json.dumps({"packs": [p.to_dict() for p in packs]}, ensure_ascii=False))
        return
    row = "{:<1} {:<12}  {:<19}  {:<19}  {:>5}  {:>12}  {}"
    click.echo(row.format("", "rule pack", "stored (UTC)", "current since (UTC)", "rules", "interactions", "source"))
    for p in packs:
        click.echo(row.format("*" if p.current else "", p.rule_pack_hash[:12], str(p.loaded_at),
                              str(p.current_since or "-"), p.rules, f"{p.interactions:,}", p.source or "-"))


@rules_group.command("prune")
@click.option("--keep", required=True, type=int, metavar="N",
              help="How many packs to keep: the current one and the N-1 most recently current.")
@json_option
@pass_app
def rules_prune_cmd(app: App, keep: int, as_json: bool) -> None:
    """Drop the results and metadata of old rule packs, keeping the current one and the newest others.

    Nothing is ever dropped without this command; the current pack is always kept.

    \b
    Example:
        qa-scoring rules prune --keep 3
    """
    from qa_scoring.rules.stored import prune_packs

    con = app.open_db(create=False)
    with app.recorded(con, "rules prune") as info:
        summary = prune_packs(con, keep)
        info["counts"] = {"dropped": len(summary.dropped), "interactions_dropped": summary.interactions_dropped}
    emit(summary.to_dict(), as_json, summary.text())


@cli.group("reviews")
def reviews_group() -> None:
    """The QA team's own verdicts: import them, measure agreement, draw audit samples.

    \b
    Example:
        qa-scoring reviews sample --per-rule 10 --out audit.csv
        qa-scoring reviews import audit.csv evaluaciones_wolkvox.csv
        qa-scoring reviews agreement --json
    """


@reviews_group.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--reviewer", default=None, metavar="NAME",
              help="Reviewer of rows whose reviewer (EVALUATOR) column is missing or empty.")
@json_option
@pass_app
def reviews_import_cmd(app: App, files: tuple[Path, ...], reviewer: str | None, as_json: bool) -> None:
    """Import human verdicts: Wolkvox's evaluation export or qa-scoring's review CSV.

    The shape is told from the header (`,` or `;`, UTF-8 with or without BOM, or Latin-1).
    A verdict is matched to its interaction by interaction_id, else case_id (and channel when
    given), and to its rule by rule_id or by the rules' `attribute:` names. Unmatched rows are
    counted by reason. Re-importing the same file changes nothing; a bad file exits 2 naming the
    file and line, and nothing is stored. Verdicts override the automatic outcomes in scores
    unless [reviews] override = false.

    \b
    Example:
        qa-scoring reviews import audit.csv --reviewer "Laura Gómez"
    """
    from qa_scoring.reviews.stored import import_reviews

    settings = app.settings()
    con = app.open_db(settings, create=False)
    with app.recorded(con, "reviews import") as info:
        summary = import_reviews(con, list(files), reviewer=reviewer, run_id=info["run_id"],
                                 override=settings.reviews.override)
        info["counts"] = summary.to_dict()
    emit(summary.to_dict(), as_json, summary.text())


@reviews_group.command("agreement")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), default=None, metavar="D",
              help="First day of the interactions judged (YYYY-MM-DD).")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), default=None, metavar="D",
              help="Last day, included.")
@click.option("--operation", default=None, metavar="NAME", help="Only this operation's interactions (default: all).")
@json_option
@pass_app
def reviews_agreement_cmd(app: App, since, until, operation: str | None, as_json: bool) -> None:
    """Agreement of each rule with the reviewers: Cohen's kappa with its 95% interval, precision
    and recall of the rule's failures, N/A disagreements, and kappa between reviewers.

    \b
    Example:
        qa-scoring reviews agreement --since 2026-11-01 --json
    """
    from qa_scoring.backtest import check_operation
    from qa_scoring.reviews.agreement import agreement

    con = app.open_db(read_only=True)
    check_operation(con, "reviews agreement", operation)
    result = agreement(con, since=since and since.date(), until=until and until.date(), operation=operation)
    emit(result.to_dict(), as_json, result.text())


@reviews_group.command("sample")
@click.option("--per-rule", default=10, show_default=True, type=click.IntRange(1, 10000), metavar="N",
              help="Pairs per rule: half where the rule failed, half where it did not.")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), default=None, metavar="D", help="First day (YYYY-MM-DD).")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), default=None, metavar="D", help="Last day, included.")
@click.option("--seed", default=0, show_default=True, type=int, help="The same seed draws the same sample.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The CSV to write; the printable worksheet goes beside it (.html).")
@click.option("--lang", type=click.Choice(["es", "en"]), default=None,
              help=f"Worksheet language (default: [report] lang in the settings, else {ReportSettings.lang}).")
@click.option("--bom", is_flag=True, help="Start the CSV with a UTF-8 byte order mark (for Excel).")
@json_option
@pass_app
def reviews_sample_cmd(app: App, per_rule: int, since, until, seed: int, out: Path, lang: str | None, bom: bool,
                       as_json: bool) -> None:
    """Write a stratified audit sample for the analysts to label (CSV + printable worksheet).

    For each rule: pairs where it failed and pairs where it did not, excluding what was already
    reviewed. Fill the verdict and reviewer columns and import the CSV back as it is.

    \b
    Example:
        qa-scoring reviews sample --per-rule 20 --since 2026-11-01 --out audit.csv --bom
    """
    from qa_scoring.reviews.sample import write_sample

    settings = app.settings(**{"report.lang": lang})
    con = app.open_db(settings, read_only=True)
    summary = write_sample(con, out, per_rule=per_rule, seed=seed, since=since and since.date(),
                           until=until and until.date(), lang=settings.report.lang, bom=bom,
                           mask_personal=settings.report.mask_personal)
    emit(summary.to_dict(), as_json, summary.text())


@cli.command("score")
@click.option("--rules", "rules_dir", type=click.Path(path_type=Path), default=None, metavar="DIR",
              help="Rule pack folder (default: [rules] dir in the settings, else the bundled pack).")
@click.option("--full", is_flag=True, help="Rescore every interaction, not only new or changed ones.")
@json_option
@pass_app
def score_cmd(app: App, rules_dir: Path | None, full: bool, as_json: bool) -> None:
    """Score interactions with the rule pack: rule_results (with evidence) and a 0-100 score each.

    Incremental: only new or changed interactions are scored, or all of them when the rule
    pack changed. Results are replaced in one transaction.

    \b
    Example:
        qa-scoring score
        qa-scoring score --rules my-rules/ --full --json
    """
    from qa_scoring.classify.labels import LabelMapping
    from qa_scoring.rules import default_rules_dir, load_rule_pack, score_interactions

    settings = app.settings()
    con = app.open_db(settings)
    with app.recorded(con, "score") as info:
        pack = load_rule_pack(rules_dir or default_rules_dir(settings))
        info["rule_pack_hash"] = pack.hash
        summary = score_interactions(con, pack, full=full, run_id=info["run_id"], overrides=settings.reviews.override,
                                     labels=LabelMapping.from_settings(settings.classifier))
        info["counts"] = summary.to_dict()
    emit(summary.to_dict(), as_json, summary.text())


# --- train / predict (classify.py) ------------------------------------------------------------

@cli.command("train")
@json_option
@pass_app
def train_cmd(app: App, as_json: bool) -> None:
    """Learn which conversations leave customers dissatisfied, from the survey answers.

    Survey answers become labels through [classifier] scale and words (default on 1-5:
    4-5 satisfied, 1-3 dissatisfied; unknown answers are counted, never used). The newest
    20% of surveyed interactions are held out: ROC AUC, PR AUC and Brier score on them are
    printed next to the prior baseline. Exits 2 when labels are too few or all one class.

    \b
    Example:
        qa-scoring train
        qa-scoring --db qa.duckdb train --json
    """
    from qa_scoring.classify import train_model

    settings = app.settings()
    con = app.open_db(settings)
    with app.recorded(con, "train") as info:
        summary = train_model(con, settings, run_id=info["run_id"])
        info.update(model_id=summary.model_id, counts={"n_train": summary.n_train, "n_test": summary.n_test},
                    metrics={k: summary.to_dict()[k] for k in ("roc_auc", "pr_auc", "brier", "baseline",
                                                                    "text_baseline")})
    emit(summary.to_dict(), as_json, summary.text())


@cli.command("predict")
@click.option("--full", is_flag=True, help="Recompute every interaction, not only new or changed ones.")
@json_option
@pass_app
def predict_cmd(app: App, full: bool, as_json: bool) -> None:
    """Give every interaction a dissatisfaction risk (0-1, calibrated) and the words behind it.

    Uses the current model from `train`. Incremental: only interactions without a prediction
    from this model, or changed since, are scored; all in one transaction.

    \b
    Example:
        qa-scoring predict
        qa-scoring predict --full --json
    """
    from qa_scoring.classify import predict_interactions

    settings = app.settings()
    con = app.open_db(settings)
    with app.recorded(con, "predict") as info:
        summary = predict_interactions(con, settings, run_id=info["run_id"], full=full)
        info.update(model_id=summary.model_id, counts=summary.to_dict())
    emit(summary.to_dict(), as_json, summary.text())


# --- report (report.py) -----------------------------------------------------------------------

@cli.command("report")
@click.option("--out", default=None, metavar="DIR",
              help=f"Report folder, replaced as a whole (default: [report] out in the settings, else {ReportSettings.out}).")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), default=None, metavar="D",
              help="First day (YYYY-MM-DD; default: the first day with data).")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), default=None, metavar="D",
              help="Last day, included (default: the last day with data).")
@click.option("--weeks", type=int, default=None, metavar="N",
              help="The last N weeks ending on the last day (instead of --since).")
@click.option("--lang", type=click.Choice(["es", "en"]), default=None,
              help=f"Language (default: [report] lang in the settings, else {ReportSettings.lang}).")
@click.option("--operation", default=None, metavar="NAME",
              help="Only this operation's pages (default: all; several operations get a folder each and an overview).")
@json_option
@pass_app
def report_cmd(app: App, out: str | None, since, until, weeks: int | None, lang: str | None,
               operation: str | None, as_json: bool) -> None:
    """Write the HTML audit reports for a period: index, one page per agent, rules and model.

    Static, self-contained pages (no JavaScript, nothing loaded from the network). The folder
    is written beside DIR and swapped in when complete: readers never see half a report. When
    the database holds several operations, each gets its own folder of pages and index.html
    compares them.

    \b
    Example:
        qa-scoring report --out reports --since 2026-11-01 --until 2026-11-30
        qa-scoring report --weeks 4 --lang en --json
        qa-scoring report --operation lima --out reports-lima
    """
    from qa_scoring.report import render_reports

    settings = app.settings(**{"report.out": out, "report.lang": lang})
    con = app.open_db(settings, create=False)
    with app.recorded(con, "report") as info:
        summary = render_reports(con, settings, out_dir=Path(settings.report.out), since=since and since.date(),
                                 until=until and until.date(), lang=settings.report.lang, run_id=info["run_id"],
                                 operation=operation, weeks=weeks)
        info.update(counts=summary.to_dict(), rule_pack_hash=",".join(summary.rule_pack_hashes) or None,
                    model_id=",".join(summary.model_ids) or None)
    emit(summary.to_dict(), as_json, summary.text())


@cli.command("backtest")
@click.option("--rules", "rules_dir", type=click.Path(path_type=Path), required=True, metavar="DIR",
              help="The candidate rule pack folder.")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), default=None, metavar="D",
              help="First day (YYYY-MM-DD; default: the first day with data).")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), default=None, metavar="D",
              help="Last day, included (default: the last day with data).")
@click.option("--out", default="backtest", show_default=True, metavar="DIR",
              help="Folder of the diff report, replaced as a whole.")
@click.option("--lang", type=click.Choice(["es", "en"]), default=None,
              help=f"Language (default: [report] lang in the settings, else {ReportSettings.lang}).")
@click.option("--flips", "flips_per_rule", default=10, show_default=True, type=click.IntRange(0, 1000),
              metavar="N", help="Flipped interactions listed per rule.")
@click.option("--operation", default=None, metavar="NAME", help="Only this operation's interactions (default: all).")
@json_option
@pass_app
def backtest_cmd(app: App, rules_dir: Path, since, until, out: str, lang: str | None, flips_per_rule: int,
                 operation: str | None, as_json: bool) -> None:
    """What a candidate rule pack would have done to a period, without changing any result.

    Scores the period's interactions under the candidate pack beside the current one (the
    current pack, scores, predictions and reports stay exactly as they were) and writes a
    self-contained HTML diff report: rules added, removed, changed and unchanged, pass rates
    with the difference's 95% interval, flips, agents' scores and ranks, the flipped
    interactions with both packs' evidence, and each rule's relation to survey outcomes.
    A bad candidate pack exits 2 with the messages of `rules check`, and nothing is written.

    \b
    Example:
        qa-scoring backtest --rules my-rules/ --since 2026-11-01 --until 2026-11-30
        qa-scoring backtest --rules my-rules/ --lang en --json
    """
    from qa_scoring.backtest import load_candidate, run_backtest

    settings = app.settings(**{"report.lang": lang})
    candidate = load_candidate(rules_dir)  # a bad pack stops here: nothing opened, nothing written
    con = app.open_db(settings, create=False)
    with app.recorded(con, "backtest") as info:
        summary = run_backtest(con, settings, candidate, out_dir=Path(out), since=since and since.date(),
                               until=until and until.date(), lang=settings.report.lang,
                               flips_per_rule=flips_per_rule, operation=operation)
        result = summary.to_dict()
        info["counts"] = {"interactions": result["interactions"], "candidate_pack": result["candidate_pack"],
                          "flipped": sum(r["flipped"] for r in result["rules"].values())}
    emit(result, as_json, summary.text())


# --- run / demo / export (pipeline.py, export.py) ---------------------------------------------

@cli.command("run")
@click.option("--since", type=TimeParam(), default=None, help="Fetch from here instead of the watermark.")
@click.option("--until", type=TimeParam(end_of_day=True), default=None,
              help="Fetch up to here (inclusive; a bare date includes that day) instead of now.")
@click.option("--out", default=None, metavar="DIR",
              help=f"Reports root (default: [report] out in the settings, else {ReportSettings.out}).")
@click.option("--report-day", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Report this day and its month to date instead of yesterday's (re-running a past night).")
@click.option("--wait", is_flag=True, help="Wait for another run on this database instead of failing.")
@click.option("--fail-on-alarm", is_flag=True,
              help="Exit 1 when the night raised a drift alarm (the run itself is still recorded as a success).")
@operation_option
@json_option
@pass_app
def run_cmd(app: App, since, until, out: str | None, report_day, wait: bool, fail_on_alarm: bool,
            operations: tuple[str, ...], as_json: bool) -> None:
    """The nightly job: fetch → score → train (when due) → predict → drift alarms → report.

    Needs WOLKVOX_TOKEN (or WOLKVOX_TOKEN_FILE) and WOLKVOX_SERVER. Writes one line per stage on
    stderr; reports go to <out>/day-YYYY-MM-DD/ and <out>/month-YYYY-MM/. A second run on the
    same database exits 1 at once unless --wait. Drift alarms are listed under "alarms" in the
    JSON and never change the exit status, unless --fail-on-alarm.

    \b
    Example:
        WOLKVOX_SERVER=0042 WOLKVOX_TOKEN_FILE=/etc/qa/token qa-scoring run --json
    """
    from qa_scoring import pipeline, wolkvox

    settings = app.settings()
    chosen = settings.operation_list(operations) if settings.operations else None
    token = None if chosen else wolkvox.read_token()  # operations read their own tokens while fetching
    today = report_day.date() + timedelta(days=1) if report_day else pipeline.local_today(settings, chosen)
    with pipeline.run_lock(settings.db_path, wait=wait):
        con = app.open_db(settings)
        stages = pipeline.stage_count(token if token is not None else "", settings, None, today)
        with app.recorded(con, "run") as info, stage_progress(stages) as on_stage:
            summary = pipeline.run_job(con, settings, token, run_info=info, since=since, until=until,
                                       out_dir=Path(out) if out else None, today=today, on_stage=on_stage,
                                       status=info["status"], operations=chosen)
            if summary.failed_operations:
                emit(summary.to_dict(), as_json, summary.text())
                failed = ", ".join(f"{n} ({e})" for n, e in summary.failed_operations.items())
                raise RunTimeError(f"run: fetch failed for operation {failed}; the others' data was scored and "
                                   "reported (the next run resumes each from its watermark)")
    emit(summary.to_dict(), as_json, summary.text())
    if fail_on_alarm and summary.alarms:
        from qa_scoring.errors import RunTimeError

        raise RunTimeError(f"{len(summary.alarms)} drift alarm(s) on {summary.alarms[0]['day']} (--fail-on-alarm)")


@cli.command("demo")
@click.option("--out", default="reports", show_default=True, metavar="DIR", help="Where the reports go.")
@json_option
@pass_app
def demo_cmd(app: App, out: str, as_json: bool) -> None:
    """Run the whole nightly job on the bundled sample, with no credentials and no network.

    Starts two sandbox APIs on 127.0.0.1 (free ports), one per demo operation (bogota, lima:
    the bundled sample's agents dealt between them, each with its own token and time zone),
    runs fetch → score → train → predict → report against them through the real HTTP client,
    with the sample's QA reviews imported after scoring (the calibration pages), prints where
    the overview index.html is and stops the sandboxes. Running it again updates; a database
    of the earlier one-operation demo is moved aside to <db>.old-demo first.

    \b
    Example:
        qa-scoring demo && xdg-open reports/index.html
    """
    from qa_scoring import pipeline, sandbox
    from qa_scoring.resources import sample_files, sample_reviews

    settings = app.settings()
    files = sample_files()
    reviews = sample_reviews()
    since, until = pipeline.sample_range(files)
    split = pipeline.demo_split(files)

    def serves(i: int):
        return lambda row: split.get(str(row.get("agent_name") or ""), 0) == i

    with ExitStack() as servers:  # one sandbox per operation, each with its own token and port
        urls = [servers.enter_context(sandbox.start_sandbox(files, token=pipeline.demo_token(name), keep=serves(i))).base_url
                for i, (name, _) in enumerate(pipeline.DEMO_OPERATIONS)]
        demo, environ = pipeline.demo_settings(settings, urls)
        with pipeline.run_lock(demo.db_path):
            pipeline.retire_old_demo(demo.db_path)
            con = app.open_db(demo)
            periods = [pipeline.Period("", None, None)]
            with app.recorded(con, "demo") as info, \
                    stage_progress(pipeline.stage_count("demo", demo, periods, date.today(), bool(reviews))) as on_stage:
                summary = pipeline.run_job(con, demo, None, run_info=info, since=since, until=until,
                                           out_dir=Path(out), periods=periods, on_stage=on_stage,
                                           status=info["status"], reviews_files=reviews,
                                           operations=list(demo.operations), environ=environ)
    emit(summary.to_dict(), as_json, f"{summary.text()}\nopen {Path(summary.reports[0]).resolve()}")


@cli.command("export")
@click.option("--what", required=True, type=click.Choice(["scores", "rule_results", "predictions"]),
              help="What to export.")
@click.option("--format", "fmt", required=True, type=click.Choice(["csv", "parquet"]), help="File format.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Output file.")
@click.option("--bom", is_flag=True, help="Start the CSV with a UTF-8 byte order mark (for Excel).")
@json_option
@pass_app
def export_cmd(app: App, what: str, fmt: str, out: Path, bom: bool, as_json: bool) -> None:
    """Export scores, rule results or predictions for BI tools (Power BI, Excel).

    CSV cells that start with = + - @ are neutralised with a leading apostrophe (formula
    injection). The file is written whole or not at all.

    \b
    Example:
        qa-scoring export --what scores --format csv --bom --out scores.csv
    """
    from qa_scoring.export import export

    con = app.open_db(read_only=True)
    summary = export(con, what, fmt, out, bom=bom)
    emit(summary.to_dict(), as_json, summary.text())
