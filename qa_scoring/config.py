"""Settings: defaults → qa-scoring.toml → environment → command-line flags, validated in one place.

Each section of the TOML file is a frozen dataclass below; a key that is not a field of its section is
an error (with a "did you mean" when a field is close), and so is a value of the wrong type or out of
range. The API token is deliberately *not* a setting: it is read from the environment only when a
command needs it (see `wolkvox.read_token`), so it can never be printed with the settings.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import tomllib
import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from qa_scoring.errors import ConfigError

DEFAULT_CONFIG_NAME = "qa-scoring.toml"
DEFAULT_DB_NAME = "qa_scoring.duckdb"


def _check(cond: bool, message: str) -> str | None:
    return None if cond else message


@dataclass(frozen=True)
class DatabaseSettings:
    # Environment: QA_SCORING_DB. Flag: --db.
    path: str = DEFAULT_DB_NAME
    memory_limit: str = ""  # DuckDB's memory_limit, e.g. "8GB" (default: DuckDB's, 80% of RAM)

    def problems(self) -> list[tuple[str, str]]:
        import re

        if self.memory_limit and not re.fullmatch(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", self.memory_limit.strip(), re.I):
            return [("memory_limit", f"expected a size like '8GB', got {self.memory_limit!r}")]
        return []


@dataclass(frozen=True)
class WolkvoxSettings:
    # Environment: WOLKVOX_SERVER, WOLKVOX_BASE_URL. The token is never a setting.
    server: str = ""
    base_url: str = ""  # overrides https://wv{server}.wolkvox.com (e.g. the sandbox)
    timezone: str = "America/Bogota"  # the operation's wall-clock zone; the API speaks naive local time
    lookback_days: float = 3.0  # re-fetch this much before the watermark (late surveys, late closes)
    backfill_start: str = ""  # first fetch with no watermark starts here (default: 30 days ago)
    min_interval: float = 300.0  # seconds between two calls on one token (vendor advice)
    row_cap: int = 60000  # the API's silent per-call row limit
    truncation_margin: int = 1000  # a window with >= row_cap - margin rows is treated as truncated
    max_window_days: int = 31
    min_window_seconds: int = 60  # never split a window below this
    connect_timeout: float = 15.0
    read_timeout: float = 90.0  # per socket read
    call_deadline: float = 300.0  # one HTTP call, connect to last byte (a slow drip resets no per-read timeout)
    max_body_mb: int = 512  # a response body over this, as sent or decompressed, stops the fetch (the API: 256 MB)
    max_attempts: int = 4  # per window, transient failures included (every call spends quota)
    include_attachments: bool = False
    attach_array: str = "no"
    lock_dir: str = ""  # where the per-token lock file lives (default: the system temp folder)
    retry_backoff: float = 2.0  # base of the exponential backoff (with jitter) between retries, seconds
    maintenance_wait: float = 60.0  # first wait after a "temporarily disabled" 403; doubles each time

    def problems(self) -> list[tuple[str, str]]:
        out = []
        if self.server and not re.fullmatch(r"[A-Za-z0-9-]{1,32}", self.server):
            out.append(("server", f"expected the server number (letters, digits, '-'), got {self.server!r}"))
        if self.base_url and not re.match(r"https?://[^/\s]+", self.base_url):
            out.append(("base_url", f"expected an http:// or https:// URL, got {self.base_url!r}"))
        if self.backfill_start and not re.fullmatch(
                r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2})?|\d{14}", self.backfill_start.strip()):
            out.append(("backfill_start", "expected YYYY-MM-DD, 'YYYY-MM-DD HH:MM:SS' or YYYYmmddHHiiss"))
        for key in ("retry_backoff", "maintenance_wait"):
            if getattr(self, key) < 0:
                out.append((key, "must be >= 0"))
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            out.append(("timezone", f"unknown time zone {self.timezone!r}"))
        for key in ("lookback_days", "min_interval"):
            if getattr(self, key) < 0:
                out.append((key, "must be >= 0"))
        for key in ("row_cap", "max_window_days", "min_window_seconds", "max_attempts", "max_body_mb"):
            if getattr(self, key) < 1:
                out.append((key, "must be >= 1"))
        if not 0 <= self.truncation_margin < self.row_cap:
            out.append(("truncation_margin", "must be >= 0 and below row_cap"))
        if self.max_window_days > 31:
            out.append(("max_window_days", "the API refuses windows over 31 days"))
        for key in ("connect_timeout", "read_timeout", "call_deadline"):
            if getattr(self, key) <= 0:
                out.append((key, "must be > 0"))
        if self.attach_array not in ("yes", "no"):
            out.append(("attach_array", "must be 'yes' or 'no'"))
        return out


@dataclass(frozen=True)
class IngestSettings:
    # Interaction dates accepted by import, fetch and rebuild; rows outside go to quarantine.
    earliest_date: str = "2000-01-01"  # older dates (0001-01-01, the epoch's 1970-01-01) are not real data
    max_days_ahead: float = 1.0  # days after the page landed (local time may run ahead of UTC by 14 h)

    def problems(self) -> list[tuple[str, str]]:
        out = []
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", self.earliest_date.strip()):
            out.append(("earliest_date", "expected YYYY-MM-DD"))
        else:
            try:
                if self.earliest() < datetime(1900, 1, 1):
                    out.append(("earliest_date", "must be 1900-01-01 or later"))
            except ValueError:
                out.append(("earliest_date", f"not a date: {self.earliest_date!r}"))
        if not 0 <= self.max_days_ahead <= 366:
            out.append(("max_days_ahead", "must be between 0 and 366"))
        return out

    def earliest(self) -> datetime:
        return datetime.strptime(self.earliest_date.strip(), "%Y-%m-%d")


@dataclass(frozen=True)
class RulesSettings:
    dir: str = ""  # rule pack folder (default: the bundled rules/)


@dataclass(frozen=True)
class ClassifierSettings:
    min_labels: int = 200  # refuse to train with fewer surveyed interactions
    min_per_class: int = 30  # ... or fewer of either class
    test_fraction: float = 0.2  # newest share of surveyed interactions held out
    # How evaluation_survey maps to satisfied / dissatisfied. "auto" understands 1-5, 1-10/0-10 and
    # the usual Spanish and English words; see classify.py and the model report.
    scale: str = "auto"
    satisfied_words: tuple[str, ...] = ()  # extra text answers counted as satisfied
    dissatisfied_words: tuple[str, ...] = ()  # extra text answers counted as dissatisfied
    batch_size: int = 20000  # prediction streams in chunks of this many rows
    max_train_rows: int = 200000  # train on the newest N surveyed interactions (0: all of them)
    workers: int = 0  # prediction worker processes (0: one per core); used when there are > 2 batches
    max_text_chars: int = 10000  # the classifier reads the first N characters of each text field

    def problems(self) -> list[tuple[str, str]]:
        out = []
        if self.min_labels < 2:
            out.append(("min_labels", "must be >= 2"))
        if self.min_per_class < 1:
            out.append(("min_per_class", "must be >= 1"))
        if not 0 < self.test_fraction < 1:
            out.append(("test_fraction", "must be between 0 and 1"))
        if self.scale not in ("auto", "1-5", "1-10", "0-10"):
            out.append(("scale", "must be one of auto, 1-5, 1-10, 0-10"))
        if self.batch_size < 1:
            out.append(("batch_size", "must be >= 1"))
        if self.max_train_rows < 0:
            out.append(("max_train_rows", "must be >= 0 (0: no cap)"))
        elif 0 < self.max_train_rows < self.min_labels:
            out.append(("max_train_rows", "must be at least min_labels"))
        if self.workers < 0:
            out.append(("workers", "must be >= 0 (0: one per core)"))
        if self.max_text_chars < 1:
            out.append(("max_text_chars", "must be >= 1"))
        return out


@dataclass(frozen=True)
class ReportSettings:
    out: str = "reports"
    lang: str = "es"
    min_sample: int = 30  # agents with fewer scored interactions get the "small sample" marker
    # A report shorter than this many days (the nightly one-day report) ranks agents on the rolling
    # window of this many days ending with its last day; 0 ranks on the period itself.
    ranking_days: int = 7
    review_per_agent: int = 8  # interactions listed under "review these first" on each agent page
    review_team: int = 20  # the team's worst interactions listed on the summary page
    rule_failures_max: int = 500  # failures listed on each rule's page (the count is always the full one)
    low_score: float = 60.0  # an interaction scored below this is a review candidate
    high_risk: float = 0.5  # predicted dissatisfaction from which an unsurveyed interaction is one
    # An open interaction (status open / no close date) is left out of every figure until it closes
    # or is this old (counted from the newest interaction of its operation); 72 h = the fetch
    # look-back, after which a late close would not be fetched again. 0: open ones count at once.
    open_max_age_hours: float = 72.0
    # Card numbers and CVVs are always masked in reports and exports (PCI DSS); this also masks
    # e-mail addresses, phone numbers and document numbers on the report pages.
    mask_personal: bool = False
    # The calibration page measures the rules' agreement with the QA team's verdicts over at least
    # this many days ending with the report's last day (a day holds too few reviews to judge a rule).
    calibration_days: int = 90

    def problems(self) -> list[tuple[str, str]]:
        out = [("lang", "must be 'es' or 'en'")] if self.lang not in ("es", "en") else []
        if self.min_sample < 1:
            out.append(("min_sample", "must be >= 1"))
        if not 1 <= self.calibration_days <= 3660:
            out.append(("calibration_days", "must be between 1 and 3660"))
        if not 0 <= self.ranking_days <= 366:
            out.append(("ranking_days", "must be between 0 and 366 (0: rank on the period)"))
        if not 0 <= self.review_per_agent <= 100:
            out.append(("review_per_agent", "must be between 0 and 100"))
        if not 0 <= self.review_team <= 500:
            out.append(("review_team", "must be between 0 and 500"))
        if not 0 <= self.rule_failures_max <= 100000:
            out.append(("rule_failures_max", "must be between 0 and 100000"))
        if not 0 <= self.low_score <= 100:
            out.append(("low_score", "must be between 0 and 100"))
        if not 0 <= self.high_risk <= 1:
            out.append(("high_risk", "must be between 0 and 1"))
        if self.open_max_age_hours < 0:
            out.append(("open_max_age_hours", "must be >= 0 (0: open interactions count at once)"))
        return out


@dataclass(frozen=True)
class RunSettings:
    train: str = "auto"  # auto: when the model is missing or stale; always; never
    model_max_age_days: float = 7.0
    report_days: int = 0  # 0: the month to date (and the last complete day); N: the last N days

    def problems(self) -> list[tuple[str, str]]:
        out = []
        if self.train not in ("auto", "always", "never"):
            out.append(("train", "must be auto, always or never"))
        if self.report_days < 0:
            out.append(("report_days", "must be >= 0"))
        return out


@dataclass(frozen=True)
class ReviewsSettings:
    override: bool = True  # a reviewer's verdict replaces the rule's automatic outcome in scores and aggregates


OPERATION_NAME = re.compile(r"[A-Za-z0-9_-]{1,40}")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
LEGACY_TOKEN_ENV = "WOLKVOX_TOKEN"  # the single [wolkvox] section's token (or WOLKVOX_TOKEN_FILE)


@dataclass(frozen=True)
class Operation:
    """One Wolkvox operation: its own server, token, time zone, look-back and pacing.

    `[operations.<name>]` sections take every `[wolkvox]` key (unset keys inherit `[wolkvox]`)
    plus where the token is: `token_env` (an environment variable, default WOLKVOX_TOKEN_<NAME>)
    or `token_file`. Without such sections, `[wolkvox]` alone is one operation named by its
    server number ("default" without one), its token in WOLKVOX_TOKEN or WOLKVOX_TOKEN_FILE."""

    name: str
    wolkvox: WolkvoxSettings
    token_env: str = ""
    token_file: str = ""
    legacy: bool = False  # the single-section configuration

    @staticmethod
    def default_token_env(name: str) -> str:
        return "WOLKVOX_TOKEN_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


@dataclass(frozen=True)
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    wolkvox: WolkvoxSettings = field(default_factory=WolkvoxSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    rules: RulesSettings = field(default_factory=RulesSettings)
    classifier: ClassifierSettings = field(default_factory=ClassifierSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    run: RunSettings = field(default_factory=RunSettings)
    reviews: ReviewsSettings = field(default_factory=ReviewsSettings)
    operations: tuple[Operation, ...] = ()  # [operations.<name>] sections, in file order
    source: str = "defaults"  # where the file part came from, for messages

    @property
    def db_path(self) -> Path:
        return Path(self.database.path)

    def operation_list(self, names: tuple[str, ...] | list[str] = ()) -> list[Operation]:
        """The configured operations (the single [wolkvox] one when there are no sections), or
        those named; an unknown name is a ConfigError naming the known ones."""
        known = list(self.operations) or [Operation(self.wolkvox.server or "default", self.wolkvox,
                                                    legacy=True)]
        if not names:
            return known
        by_name = {op.name: op for op in known}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise ConfigError(f"--operation {unknown[0]}: no such operation (configured: "
                              f"{', '.join(by_name)}){_did_you_mean(unknown[0], list(by_name))}")
        return [by_name[n] for n in dict.fromkeys(names)]


NOT_SECTIONS = ("source", "operations")
SECTIONS = {f.name: f.type for f in dataclasses.fields(Settings) if f.name not in NOT_SECTIONS}
# Environment variables that set one key (documented in the README).
ENVIRONMENT = {
    "QA_SCORING_DB": ("database", "path"),
    "WOLKVOX_SERVER": ("wolkvox", "server"),
    "WOLKVOX_BASE_URL": ("wolkvox", "base_url"),
}


def _section_class(name: str) -> type:
    return {f.name: f.default_factory for f in dataclasses.fields(Settings) if f.name not in NOT_SECTIONS}[name]


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _coerce(value: Any, default: Any, where: str, from_text: bool) -> Any:
    """Check `value` against the type of the field's default; strings from the environment are parsed."""
    kind = type(default)
    if from_text and isinstance(value, str) and kind is not str and kind is not tuple:
        text = value.strip()
        try:
            if kind is bool:
                if text.lower() in ("1", "true", "yes", "on"):
                    return True
                if text.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(text)
            return kind(text)
        except ValueError:
            raise ConfigError(f"{where}: expected {kind.__name__}, got {value!r}") from None
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: expected a list of strings, got {value!r}")
        return tuple(value)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"{where}: expected {kind.__name__}, got {value!r}")
    return value


def _apply(sections: dict[str, dict[str, Any]], section: str, key: str, value: Any, where: str,
           from_text: bool = False) -> None:
    cls = _section_class(section)
    names = [f.name for f in dataclasses.fields(cls)]
    if key not in names:
        raise ConfigError(f"{where}: unknown key '{section}.{key}'{_did_you_mean(key, names)}")
    default = getattr(cls(), key)
    sections.setdefault(section, {})[key] = _coerce(value, default, where, from_text)


def load_settings(
    config_file: str | os.PathLike | None = None,
    environ: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    """Build validated settings: defaults → TOML file → environment → `overrides` ("section.key": value)."""
    environ = os.environ if environ is None else environ
    sections: dict[str, dict[str, Any]] = {}
    source = "defaults"
    operation_tables: dict[str, dict[str, Any]] = {}

    path = Path(config_file) if config_file else Path(DEFAULT_CONFIG_NAME)
    if config_file or path.is_file():
        source = str(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"Couldn't read config file {path}: no such file") from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
            raise ConfigError(f"Couldn't read config file {path}: {err}") from None
        for section, table in data.items():
            if section == "operations":
                operation_tables = _operation_tables(path, table)
                continue
            if section not in SECTIONS:
                raise ConfigError(
                    f"{path}: unknown section [{section}]{_did_you_mean(section, list(SECTIONS))}"
                )
            if not isinstance(table, dict):
                raise ConfigError(f"{path}: [{section}] must be a table")
            for key, value in table.items():
                _apply(sections, section, key, value, f"{path}: {section}.{key}")

    for var, (section, key) in ENVIRONMENT.items():
        if environ.get(var):
            _apply(sections, section, key, environ[var], f"environment {var}", from_text=True)

    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        section, key = dotted.split(".", 1)
        _apply(sections, section, key, value, f"option for {dotted}", from_text=True)

    built = {name: _section_class(name)(**sections.get(name, {})) for name in SECTIONS}
    for name, obj in built.items():
        for key, message in getattr(obj, "problems", lambda: [])():
            raise ConfigError(f"{source}: {name}.{key}: {message}")
    operations = _build_operations(source, built["wolkvox"], operation_tables, environ)
    return Settings(**built, operations=operations, source=source)


def _operation_tables(path: Path, table: Any) -> dict[str, dict[str, Any]]:
    """[operations.<name>] tables, checked: names, keys and types (values inherit [wolkvox])."""
    if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
        raise ConfigError(f"{path}: [operations] must hold one table per operation, e.g. [operations.bogota]")
    names = [f.name for f in dataclasses.fields(WolkvoxSettings)] + ["token_env", "token_file"]
    defaults = WolkvoxSettings()
    out: dict[str, dict[str, Any]] = {}
    for name, keys in table.items():
        if not OPERATION_NAME.fullmatch(name):
            raise ConfigError(f"{path}: [operations.{name[:40]}]: an operation name is 1-40 letters, digits, '_' or '-'")
        checked = {}
        for key, value in keys.items():
            where = f"{path}: operations.{name}.{key}"
            if key not in names:
                raise ConfigError(f"{where}: unknown key{_did_you_mean(key, names)}")
            checked[key] = _coerce(value, "" if key in ("token_env", "token_file") else getattr(defaults, key), where,
                                   False)
        out[name] = checked
    return out


def _build_operations(source: str, base: WolkvoxSettings, tables: dict[str, dict[str, Any]],
                      environ) -> tuple[Operation, ...]:
    from qa_scoring.errors import register_secret

    inherited = {f.name: getattr(base, f.name) for f in dataclasses.fields(WolkvoxSettings)}
    out = []
    for name, keys in tables.items():
        token_env, token_file = keys.pop("token_env", ""), keys.pop("token_file", "")
        if token_env and token_file:
            raise ConfigError(f"{source}: operations.{name}: set token_env or token_file, not both")
        token_env = token_env or ("" if token_file else Operation.default_token_env(name))
        if token_env and not ENV_NAME.fullmatch(token_env):
            raise ConfigError(f"{source}: operations.{name}.token_env: {token_env[:40]!r} is not an environment "
                              "variable name")
        ws = WolkvoxSettings(**{**inherited, **keys})
        for key, message in ws.problems():
            raise ConfigError(f"{source}: operations.{name}.{key}: {message}")
        if not (ws.server or ws.base_url):
            raise ConfigError(f"{source}: operations.{name}: needs server (the Wolkvox server number) or base_url")
        if token_env and environ.get(token_env):
            register_secret(environ[token_env].strip())  # scrubbed everywhere from the start
        out.append(Operation(name, ws, token_env, token_file))
    return tuple(out)
