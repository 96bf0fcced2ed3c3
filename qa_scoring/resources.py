"""Where the bundled rule pack, templates and sample live, in a source checkout and in a wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_BUNDLED = _PACKAGE / "_bundled"  # filled by the wheel build (see pyproject.toml)
_CHECKOUT = _PACKAGE.parent  # the repository root, for editable installs and tests


def _find(name: str, checkout_name: str | None = None) -> Path:
    bundled = _BUNDLED / name
    if bundled.is_dir():
        return bundled
    return _CHECKOUT / (checkout_name or name)


def rules_dir() -> Path:
    """The default rule pack (`rules/`)."""
    return _find("rules")


def templates_dir() -> Path:
    """The jinja2 report templates (`templates/`)."""
    return _find("templates")


def sample_dir() -> Path:
    """The bundled sample data (`data/sample/`)."""
    return _find("sample", "data/sample")


def sample_files() -> list[Path]:
    """The bundled sample's JSON files (the API-shaped ones; the CSV holds the same rows)."""
    return sorted(sample_dir().glob("*.json"))


def sample_reviews() -> list[Path]:
    """The bundled sample's QA verdicts (what the demo imports), when present."""
    return sorted(sample_dir().glob("reviews_*.csv"))
