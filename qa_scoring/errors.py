"""One error hierarchy for the whole project.

Every class carries the process exit status it stands for; `cli.main` turns any of them into a single
`Error: <message>` line on stderr. Tracebacks are only for real bugs.
"""


class QAError(Exception):
    """Base class: a failure the user should read about in one line."""

    exit_code = 1
    # Lines the CLI prints on stderr before the `Error:` line (e.g. every problem of a rule pack).
    details: tuple[str, ...] = ()


class RunTimeError(QAError):
    """Something failed while running (API down after retries, disk full, ...): exit 1."""

    exit_code = 1


class InputError(QAError):
    """Bad input or usage (bad file, bad rule, bad date, missing token): exit 2."""

    exit_code = 2


class ConfigError(InputError):
    """The configuration file, environment or flags are invalid."""


class DataFileError(InputError):
    """A data file given to `import` cannot be read as chat_4 data."""


class RulePackError(InputError):
    """A rule pack failed validation."""


class ModelError(InputError):
    """The classifier cannot be trained or loaded (too few labels, incompatible model, ...)."""


class LockedError(RunTimeError):
    """Another qa-scoring process holds the database or the API token."""


class APIError(RunTimeError):
    """The Wolkvox API failed in a way retries did not fix."""


class AuthError(InputError):
    """The Wolkvox token is missing, malformed or rejected."""


class QuotaError(RunTimeError):
    """The token's daily call quota is spent: stop at once."""


# --- secrets ----------------------------------------------------------------------------------
# The API token must never reach a log line, an error message, the database or a report. Every
# outgoing text that could carry it goes through `scrub_secrets` (the CLI's error printer and a
# logging filter installed by the CLI); the token itself is only ever read by `wolkvox.read_token`.

import os as _os

_extra_secrets: set[str] = set()


def register_secret(value: str) -> None:
    """Remember a secret value (e.g. a token read from a file) so it is scrubbed everywhere."""
    if value and len(value) >= 4:
        _extra_secrets.add(value)


def scrub_secrets(text: str) -> str:
    """Replace every known secret value in `text` with '***'."""
    secrets = set(_extra_secrets)
    token = _os.environ.get("WOLKVOX_TOKEN", "").strip()
    if len(token) >= 4:
        secrets.add(token)
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
