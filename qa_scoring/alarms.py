"""Drift alarms: each night, each rule's and the team's rates on one day against a trailing baseline.

The one owner of the `alarms` table. Every figure comes from the stored daily facts (facts.py).

The test (the same for every rate): a p-chart with exact binomial limits for the day's own sample
size. The baseline's rate is not known exactly, so the day's count is compared with the
beta-binomial predictive distribution of k successes in the day's n given K of N in the baseline
(Jeffreys prior, K + ½ and N − K + ½): exact for the small samples of one agent-free rule on a
quiet day, and it widens by itself when the baseline is short. When the baseline's own days vary
more than binomially (a Pearson dispersion φ > 1 over its days, e.g. a mix that changes by weekday),
every count is divided by φ (the quasi-binomial correction), so a naturally noisy rate does not
alarm every other night. One night runs many tests (two per rule, plus the team's); a
Bonferroni correction keeps the chance of *any* false alarm on a quiet night at `ALPHA`: each test
alarms only when its two-sided p-value is below ALPHA / (number of tests run that night).
Bonferroni rather than Benjamini-Hochberg: a QA lead reads every alarm, so what matters is how
often a quiet night raises one (the family-wise rate), not the share of false ones among many.

Kinds (the `alarms` contract of `run --json` / `report --json`: kind, rule_id, day, rate,
baseline_rate, baseline_low, baseline_high, plus n, baseline_n, channel, p_value, operation):
  rule_pass_rate      passed / applicable, per rule
  rule_applicability  applicable / interactions with a result, per rule
  dissatisfaction     dissatisfied / surveyed with a readable answer
  calibration         observed dissatisfied / labelled and predicted, against the model's own mean
                      risk of those interactions that day (an exact binomial test, no baseline)
  blank_answers       blank answers / interactions
  volume              interactions per channel, against the same weekday of the baseline (Poisson,
                      widened to the baseline's own spread when larger); rate is a count
  unknown_words       words the model had no term for / words it read (predictions' token counts):
                      text unlike what it was trained on (a new template, another language, a
                      broken import). Only a rise alarms: fewer unknown words puts nothing at risk.
                      Words cluster within interactions, so the day-to-day dispersion correction
                      below is what sizes its limits.
Open interactions (still waiting for an answer) are left out of every rate; volume counts them.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

import duckdb
import numpy as np

from qa_scoring import store

log = logging.getLogger(__name__)
ALPHA = 0.002  # family-wise false-alarm chance per quiet night (about one such night in 500)
BASELINE_DAYS = 28
MIN_DAY_N = 20  # the day's sample size below which a rate is not tested (no power, only noise)
MIN_BASELINE_N = 100
MIN_BASELINE_DAYS = 7
KINDS = ("rule_pass_rate", "rule_applicability", "dissatisfaction", "calibration", "blank_answers", "volume",
         "unknown_words")
RISE_ONLY = frozenset({"unknown_words"})  # kinds where only a rate above the limits is a problem
MAX_EFFECTIVE_N = 2_000_000  # beyond this the limits are as narrow as they get; bounds the test's memory


@dataclass(frozen=True)
class Alarm:
    kind: str
    rule_id: str | None
    day: date
    rate: float
    baseline_rate: float
    baseline_low: float
    baseline_high: float
    n: int
    baseline_n: int
    p_value: float
    operation: str
    channel: str | None = None

    def to_dict(self) -> dict:
        out = asdict(self)
        out["day"] = self.day.isoformat()
        return out


@dataclass(frozen=True)
class AlarmCheck:
    """One night's comparison: the alarms raised and how many tests were run (the correction's m)."""

    day: date
    alarms: tuple[Alarm, ...]
    tests: int
    alpha: float

    def to_dict(self) -> dict:
        return {"day": self.day.isoformat(), "tests": self.tests, "alpha": self.alpha,
                "alarms": [a.to_dict() for a in self.alarms]}

    def text(self) -> str:
        if not self.alarms:
            return f"{self.day}: no drift alarm ({self.tests} tests at a family-wise {self.alpha:g})"
        listed = ", ".join(f"{a.kind}{' ' + a.rule_id if a.rule_id else ''}{' ' + a.channel if a.channel else ''}"
                           for a in self.alarms)
        return f"{self.day}: {len(self.alarms)} drift alarm(s) ({self.tests} tests): {listed}"


def run_check(con: duckdb.DuckDBPyConnection, day: date | None, run_id: int | None) -> AlarmCheck | str:
    """The nightly check of `day` (else the last day with facts), stored under the run; a reason
    string when there are no facts to check yet."""
    day = day if day is not None else default_day(con)
    if day is None:
        return "no daily facts yet (run 'qa-scoring score' first)"
    check = check_day(con, day)
    with store.atomic(con):
        store_alarms(con, check, run_id)
    for a in check.alarms:
        log.warning("drift alarm %s%s on %s: %.3g against %.3g (%.3g-%.3g), n %d", a.kind,
                    f" {a.rule_id}" if a.rule_id else (f" {a.channel}" if a.channel else ""), a.day, a.rate,
                    a.baseline_rate, a.baseline_low, a.baseline_high, a.n)
    return check


# --- the statistics (vectorised over tests) -----------------------------------------------------

def _betabinom_tails(k: np.ndarray, n: np.ndarray, a: np.ndarray, b: np.ndarray, q: float
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two-sided p-values of k of n under BetaBinomial(n, a, b), and the counts [low, high] that stay
    within the tails of mass q each (the limits for this n)."""
    from scipy.special import betaln, gammaln

    p_values, lows, highs = np.ones(len(k)), np.zeros(len(k)), np.zeros(len(k))
    for i in range(len(k)):  # one vector of n + 1 probabilities per test: tests are few (rules x kinds)
        x = np.arange(n[i] + 1)
        logpmf = (gammaln(n[i] + 1) - gammaln(x + 1) - gammaln(n[i] - x + 1)
                  + betaln(x + a[i], n[i] - x + b[i]) - betaln(a[i], b[i]))
        pmf = np.exp(logpmf - logpmf.max())
        pmf /= pmf.sum()
        cdf = np.cumsum(pmf)
        sf = 1.0 - cdf + pmf  # P(X >= x)
        p_values[i] = min(1.0, 2.0 * min(cdf[k[i]], sf[k[i]]))
        lows[i] = int(np.argmax(cdf >= q))
        inside = np.nonzero(sf >= q)[0]
        highs[i] = int(inside[-1]) if len(inside) else n[i]
    return p_values, lows, highs


def rate_tests(k, n, K, N, dispersion, alpha_each: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """p-values and the rate limits [low, high] of the day's k of n against the baseline's K of N,
    with counts divided by the baseline's dispersion (≥ 1)."""
    k, n, K, N, phi = (np.asarray(v, dtype=float) for v in (k, n, K, N, dispersion))
    phi = np.maximum(phi, 1.0)
    phi = np.maximum(phi, n / MAX_EFFECTIVE_N)
    n_eff = np.maximum(np.rint(n / phi), 1).astype(int)
    k_eff = np.clip(np.rint(k / phi), 0, n_eff).astype(int)
    a, b = K / phi + 0.5, (N - K) / phi + 0.5
    p, low, high = _betabinom_tails(k_eff, n_eff, a, b, alpha_each / 2)
    return p, low / n_eff, high / n_eff


def dispersion(day_k: list[float], day_n: list[float]) -> float:
    """Pearson χ² / (days − 1) of the baseline's daily counts around its pooled rate (1 when too few days)."""
    kk, nn = np.asarray(day_k, float), np.asarray(day_n, float)
    keep = nn > 0
    kk, nn = kk[keep], nn[keep]
    if len(nn) < MIN_BASELINE_DAYS:
        return 1.0
    p = kk.sum() / nn.sum()
    if p <= 0 or p >= 1:
        return 1.0
    return float(((kk - nn * p) ** 2 / (nn * p * (1 - p))).sum() / (len(nn) - 1))


def _normal_isf(q: float) -> float:
    from scipy.special import ndtri

    return float(-ndtri(q))


# --- reading the facts --------------------------------------------------------------------------

# (kind, rule_id / channel, day, k, n) from the facts, for the day and its baseline days.
_RATES_SQL = """
    SELECT 'rule_pass_rate' AS kind, operation, rule_id AS subject, day, sum(passed) AS k, sum(applicable) AS n
    FROM daily_rule_facts WHERE NOT is_open AND day BETWEEN $since AND $day GROUP BY ALL
    UNION ALL
    SELECT 'rule_applicability', operation, rule_id, day, sum(applicable), sum(total)
    FROM daily_rule_facts WHERE NOT is_open AND day BETWEEN $since AND $day GROUP BY ALL
    UNION ALL
    SELECT 'dissatisfaction', operation, NULL, day, sum(dissatisfied), sum(labeled)
    FROM daily_facts WHERE NOT is_open AND day BETWEEN $since AND $day GROUP BY ALL
    UNION ALL
    SELECT 'blank_answers', operation, NULL, day, sum(no_answer), sum(interactions)
    FROM daily_facts WHERE NOT is_open AND day BETWEEN $since AND $day GROUP BY ALL
    UNION ALL
    SELECT 'unknown_words', operation, NULL, day, sum(unknown_tokens), sum(tokens)
    FROM daily_facts WHERE NOT is_open AND day BETWEEN $since AND $day GROUP BY ALL HAVING sum(tokens) > 0
"""


def check_day(con: duckdb.DuckDBPyConnection, day: date, *, baseline_days: int = BASELINE_DAYS,
              alpha: float = ALPHA) -> AlarmCheck:
    """Compare `day` with the `baseline_days` before it, for every operation in the facts."""
    since = day - timedelta(days=baseline_days)
    params = {"since": since, "day": day}
    series: dict[tuple, dict] = {}
    for kind, operation, subject, d, k, n in con.execute(_RATES_SQL, params).fetchall():
        entry = series.setdefault((kind, operation, subject), {"day": (0, 0), "base": []})
        if d == day:
            entry["day"] = (int(k or 0), int(n or 0))
        else:
            entry["base"].append((int(k or 0), int(n or 0)))
    rate_keys, rows = [], []
    for key, entry in sorted(series.items(), key=lambda kv: tuple("" if v is None else str(v) for v in kv[0])):
        k, n = entry["day"]
        K, N = sum(b[0] for b in entry["base"]), sum(b[1] for b in entry["base"])
        if n < MIN_DAY_N or N < MIN_BASELINE_N or len(entry["base"]) < MIN_BASELINE_DAYS:
            continue
        rate_keys.append(key)
        rows.append((k, n, K, N, dispersion([b[0] for b in entry["base"]], [b[1] for b in entry["base"]])))
    calib = con.execute("""
        SELECT operation, sum(labeled_predicted_dissatisfied), sum(labeled_predicted), sum(labeled_risk_sum)
        FROM daily_facts WHERE NOT is_open AND day = $day GROUP BY operation ORDER BY operation""",
                        {"day": day}).fetchall()
    calib = [(op, int(o), int(n), float(r)) for op, o, n, r in calib if n and n >= MIN_DAY_N]
    volume = _volume_series(con, day, since)
    m = len(rows) + len(calib) + len(volume)
    alarms: list[Alarm] = []
    if m == 0:
        return AlarmCheck(day, (), 0, alpha)
    each = alpha / m
    if rows:
        k, n, K, N, phi = (np.array(c) for c in zip(*rows))
        p, low, high = rate_tests(k, n, K, N, phi, each)
        for i, (kind, operation, subject) in enumerate(rate_keys):
            if p[i] < each and not (kind in RISE_ONLY and k[i] / n[i] <= K[i] / N[i]):
                alarms.append(Alarm(kind, subject if kind.startswith("rule_") else None, day, float(k[i] / n[i]),
                                    float(K[i] / N[i]), float(low[i]), float(high[i]), int(n[i]), int(N[i]),
                                    float(p[i]), operation))
    if calib:
        ops = [c[0] for c in calib]
        o, n = np.array([c[1] for c in calib]), np.array([c[2] for c in calib])
        expected = np.array([c[3] for c in calib]) / n
        # an exact binomial test is the beta-binomial with a (nearly) known rate
        p, low, high = rate_tests(o, n, expected * 1e9, np.full(len(n), 1e9), np.ones(len(n)), each)
        for i, operation in enumerate(ops):
            if p[i] < each:
                alarms.append(Alarm("calibration", None, day, float(o[i] / n[i]), float(expected[i]), float(low[i]),
                                    float(high[i]), int(n[i]), int(n[i]), float(p[i]), operation))
    z = _normal_isf(each / 2)
    for operation, channel, x, mean, sd, days in volume:
        sigma = max(math.sqrt(max(mean, 1.0)), sd)
        p = math.erfc(abs(x - mean) / sigma / math.sqrt(2))
        if p < each:
            alarms.append(Alarm("volume", None, day, float(x), float(mean), max(0.0, mean - z * sigma),
                                float(mean + z * sigma), int(x), int(round(mean * days)), float(p), operation, channel))
    alarms.sort(key=lambda a: (a.operation, KINDS.index(a.kind), a.rule_id or "", a.channel or ""))
    return AlarmCheck(day, tuple(alarms), m, alpha)


def _volume_series(con: duckdb.DuckDBPyConnection, day: date, since: date) -> list[tuple]:
    """(operation, channel, the day's count, baseline mean, baseline sd, baseline days) per channel, on
    the same weekday of the baseline when it has at least 3 of them (volume follows the week)."""
    rows = con.execute("""
        WITH days AS (SELECT DISTINCT operation, day FROM daily_facts WHERE day BETWEEN $since AND $day),
        chans AS (SELECT DISTINCT operation, channel FROM daily_facts WHERE day BETWEEN $since AND $day),
        counts AS (SELECT operation, channel, day, sum(interactions) AS n FROM daily_facts
                   WHERE day BETWEEN $since AND $day GROUP BY ALL)
        SELECT d.operation, c.channel, d.day, coalesce(n.n, 0)
        FROM days d JOIN chans c USING (operation) LEFT JOIN counts n USING (operation, channel, day)
        ORDER BY 1, 2, 3""", {"since": since, "day": day}).fetchall()
    by: dict[tuple, dict] = {}
    for operation, channel, d, n in rows:
        entry = by.setdefault((operation, channel), {"x": None, "base": []})
        if d == day:
            entry["x"] = int(n)
        else:
            entry["base"].append((d, int(n)))
    out = []
    for (operation, channel), entry in sorted(by.items()):
        if entry["x"] is None or len(entry["base"]) < MIN_BASELINE_DAYS:
            continue  # the day itself has no data at all (not yet fetched): nothing to say
        same = [n for d, n in entry["base"] if d.weekday() == day.weekday()]
        base = same if len(same) >= 3 else [n for _, n in entry["base"]]
        mean = sum(base) / len(base)
        sd = float(np.std(base, ddof=1)) if len(base) > 1 else 0.0
        if mean < MIN_DAY_N and entry["x"] < MIN_DAY_N:
            continue
        out.append((operation, channel, entry["x"], mean, sd, len(base)))
    return out


# --- storing and reading ------------------------------------------------------------------------

def store_alarms(con: duckdb.DuckDBPyConnection, check: AlarmCheck, run_id: int | None) -> None:
    """Store this check's alarms under its run (each run keeps what it found; checking the same day
    twice in one run replaces the first check's rows)."""
    con.execute("DELETE FROM alarms WHERE day = ? AND run_id IS NOT DISTINCT FROM ?", [check.day, run_id])
    now = store.utc_now()
    for a in check.alarms:
        con.execute("INSERT INTO alarms VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [run_id, a.operation, a.day, a.kind, a.rule_id, a.channel, a.rate, a.baseline_rate,
                     a.baseline_low, a.baseline_high, a.n, a.baseline_n, a.p_value, now])


def alarms_of_runs(con: duckdb.DuckDBPyConnection, run_ids: list[int]) -> dict[int, list[dict]]:
    """Stored alarms per run id (for `runs`)."""
    if not run_ids:
        return {}
    out: dict[int, list[dict]] = {}
    cur = con.execute("""SELECT run_id, kind, rule_id, day, rate, baseline_rate, baseline_low, baseline_high, n,
                                baseline_n, p_value, operation, channel
                         FROM alarms WHERE run_id IN (SELECT unnest(?::BIGINT[]))
                         ORDER BY run_id, operation, kind, rule_id NULLS FIRST, channel NULLS FIRST""", [run_ids])
    for run_id, *rest in cur.fetchall():
        a = Alarm(*rest)
        out.setdefault(run_id, []).append(a.to_dict())
    return out


def default_day(con: duckdb.DuckDBPyConnection, until: date | datetime | None = None) -> date | None:
    """The day a check looks at: `until`, else the last day with facts."""
    if until is not None:
        return until.date() if isinstance(until, datetime) else until
    row = store.fetch_one(con, "SELECT max(day) FROM daily_facts")
    return row[0] if row else None
