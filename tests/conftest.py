"""Shared fixtures: real DuckDB files under tmp_path, the bundled sample, the CLI runner."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from qa_scoring import store
from qa_scoring.ingest import import_files
from qa_scoring.resources import sample_files

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _restore_logging():
    """The CLI reconfigures the 'qa_scoring' logger (own handler, no propagation): undo it after
    each test so later tests that read logs through caplog still see them."""
    import logging

    logger = logging.getLogger("qa_scoring")
    saved = (logger.handlers[:], logger.propagate, logger.level)
    yield
    logger.handlers[:], logger.propagate, logger.level = saved


@pytest.fixture(autouse=True)
def _forget_registered_secrets():
    """A token read by one test is registered process-wide (as in a CLI run): forget it after the
    test, so a later test scrubs only the secrets it knows of (scrubbing costs a pass per secret)."""
    from qa_scoring import errors

    saved = set(errors._extra_secrets)
    yield
    errors._extra_secrets.clear()
    errors._extra_secrets.update(saved)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A path for a fresh database file (not created yet)."""
    return tmp_path / "qa.duckdb"


@pytest.fixture
def con(db_path: Path):
    """An open, migrated, empty database."""
    connection = store.connect(db_path)
    yield connection
    connection.close()


@pytest.fixture(scope="session")
def _sample_db_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sample") / "sample.duckdb"
    connection = store.connect(path)
    import_files(connection, sample_files(), operation="default", tz="America/Bogota")
    connection.close()
    return path


@pytest.fixture
def sample_db(_sample_db_template: Path, tmp_path: Path) -> Path:
    """A database file holding the bundled sample, imported once per session and copied per test."""
    path = tmp_path / "sample.duckdb"
    shutil.copy(_sample_db_template, path)
    return path


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def write_files(root: Path, files: dict[str, str]) -> Path:
    """Write {relative name: text} under root (rule packs, configs, data files) and return root."""
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return root
