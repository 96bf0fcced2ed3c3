"""Settings: defaults → file → environment → flags; every mistake is one line naming the key."""

from __future__ import annotations

import pytest

from qa_scoring.cli import cli
from qa_scoring.config import load_settings
from qa_scoring.errors import ConfigError


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_settings(environ={})
    assert (s.database.path, s.wolkvox.lookback_days, s.report.lang) == ("qa_scoring.duckdb", 3.0, "es")
    assert s.source == "defaults"


def test_precedence_file_then_environment_then_flags(tmp_path):
    cfg = tmp_path / "qa.toml"
    cfg.write_text('[wolkvox]\nserver = "0001"\nmin_interval = 10\n[database]\npath = "a.duckdb"\n')
    s = load_settings(cfg, environ={})
    assert (s.wolkvox.server, s.wolkvox.min_interval, s.database.path) == ("0001", 10.0, "a.duckdb")
    s = load_settings(cfg, environ={"WOLKVOX_SERVER": "0042", "QA_SCORING_DB": "b.duckdb"})
    assert (s.wolkvox.server, s.database.path) == ("0042", "b.duckdb")
    s = load_settings(cfg, environ={"QA_SCORING_DB": "b.duckdb"}, overrides={"database.path": "c.duckdb"})
    assert s.database.path == "c.duckdb"


@pytest.mark.parametrize("text, message", [
    ('[wolkvox]\nlookback_dayz = 2\n', "qa.toml: wolkvox.lookback_dayz: unknown key 'wolkvox.lookback_dayz' (did you mean 'lookback_days'?)"),
    ('[wolkvx]\nserver = "1"\n', "qa.toml: unknown section [wolkvx] (did you mean 'wolkvox'?)"),
    ('[wolkvox]\nrow_cap = "many"\n', "qa.toml: wolkvox.row_cap: expected int, got 'many'"),
    ('[wolkvox]\ninclude_attachments = "yes"\n', "qa.toml: wolkvox.include_attachments: expected true or false, got 'yes'"),
    ('[wolkvox]\ntimezone = "Mars/Olympus"\n', "qa.toml: wolkvox.timezone: unknown time zone 'Mars/Olympus'"),
    ('[report]\nlang = "fr"\n', "qa.toml: report.lang: must be 'es' or 'en'"),
    ('[wolkvox]\nmax_window_days = 40\n', "qa.toml: wolkvox.max_window_days: the API refuses windows over 31 days"),
    ('[wolkvox\n', "Couldn't read config file"),
])
def test_bad_settings_name_the_file_and_key(tmp_path, text, message):
    cfg = tmp_path / "qa.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, environ={})
    assert str(info.value).replace(str(tmp_path) + "/", "").startswith(message)


def test_bad_environment_value(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="defaults: wolkvox.timezone"):
        load_settings(overrides={"wolkvox.timezone": "Nowhere/Land"}, environ={})


def test_cli_reports_config_errors_in_one_line_exit_2(runner, tmp_path):
    cfg = tmp_path / "qa.toml"
    cfg.write_text("[rules]\ndirr = 'x'\n")
    result = runner.invoke(cli, ["--config", str(cfg), "--db", str(tmp_path / "x.duckdb"), "runs"])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"Error: {cfg}: rules.dirr: unknown key 'rules.dirr' (did you mean 'dir'?)"


def test_missing_config_file(runner, tmp_path):
    result = runner.invoke(cli, ["--config", str(tmp_path / "nope.toml"), "runs"])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"Error: Couldn't read config file {tmp_path / 'nope.toml'}: no such file"


def test_memory_limit_is_validated_and_applied(runner, tmp_path):
    cfg = tmp_path / "qa.toml"
    cfg.write_text('[database]\nmemory_limit = "lots"\n')
    with pytest.raises(ConfigError, match="database.memory_limit: expected a size like '8GB', got 'lots'"):
        load_settings(cfg, environ={})
    from qa_scoring import store

    con = store.connect(tmp_path / "m.duckdb", memory_limit="512MB")
    assert con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0] in ("488.2 MiB", "512.0 MB", "488.2MiB")
