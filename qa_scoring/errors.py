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


class DamagedDatabaseError(RunTimeError):
    """The database file is damaged or truncated: nothing more is written into it."""


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
# logging filter installed by the CLI), every landed payload and its decoded values through
# `secret_regexes` (parse.scrub_payload, parse.scrub_rows); the token itself is only ever read by `wolkvox.read_token`.
#
# A server can echo the token in any encoding, so a secret is matched as a pattern, not a string:
# each character literally, URL-encoded (either hex case, or twice), as an HTML entity (numeric or
# named), as a JSON or Python escape, with whitespace, encoded whitespace or zero-width characters
# between any two characters (a line break, a wrapped line); and its base64 / base64url form at each
# of the three byte alignments, so it is found inside a longer base64 text too. The pattern is
# written in the common subset of Python `re` and RE2 (no lookaround, no backreferences): the same
# text scrubs log lines here and whole pages in Arrow's RE2.

import base64 as _base64
import functools as _functools
import html.entities as _entities
import os as _os
import re as _re

_extra_secrets: set[str] = set()
MIN_SECRET = 4  # shorter values are not scrubbed (they would match ordinary words)
MAX_SECRET = 1024  # longer values are refused as tokens (wolkvox.read_token): a pattern per character
_MIN_BASE64 = 8  # base64 cores shorter than this would match random base64 (images) by chance
# Between two characters of a hidden secret: whitespace (a wrapped line), its JSON, URL and HTML
# encodings, zero-width and soft-hyphen characters. Literal characters so RE2 reads it too.
_GAP = ("(?:[\t\n\v\f\r \u0085\u00a0\u00ad\u1680\u2000-\u200f\u2028\u2029\u202f\u205f\u2060\u3000\ufeff]"
        r"|\\[bfnrt]|\\u(?:00(?:0[9aAbBcCdD]|20|[aA]0|[aA][dD])|200[0-9a-fA-F]|202[89fF]|2060|3000|[fF][eE][fF][fF])"
        r"|%(?:25)?(?:0[9aAdD]|20)|&#(?:0*(?:9|10|13|32)|[xX]0*(?:9|[aAdD]|20));?"
        r"|&(?:nbsp|NewLine|Tab|shy|ZeroWidthSpace);)*")
_HTML_NAMES: dict[str, list[str]] = {}
for _name, _value in _entities.html5.items():
    if len(_value) == 1 and _name.endswith(";"):
        _HTML_NAMES.setdefault(_value, []).append(_name)


def _hex(value: int, width: int) -> str:
    """A hex number as a pattern accepting either case."""
    return "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in f"{value:0{width}x}")


def _char_pattern(char: str) -> str:
    """Every common way to write one character inside text."""
    code = ord(char)
    options = [_re.escape(char)]
    utf8 = char.encode("utf-8")
    options.append("".join(f"%(?:25)?{_hex(b, 2)}" for b in utf8))  # URL-encoded, or twice
    options.append(f"&#0*{code};?")  # HTML numeric entities (the ';' is optional in HTML)
    options.append(f"&#[xX]0*{_hex(code, 1)};?")
    options += [_re.escape("&" + name) for name in _HTML_NAMES.get(char, [])]
    if code <= 0xFFFF:
        options.append(rf"\\u{_hex(code, 4)}")  # JSON / JavaScript
    if code <= 0xFF:
        options.append(rf"\\x{_hex(code, 2)}")  # Python / C
    if char in '/"\\':
        options.append(_re.escape("\\" + char))  # JSON's \/ (PHP json_encode), \" and \\
    return "(?:" + "|".join(options) + ")"


def _spread(chars: list[str]) -> str:
    return _GAP.join(chars)


def _base64_cores(secret: bytes) -> set[str]:
    """The base64 characters that depend only on the secret's bytes, at each byte alignment."""
    cores = set()
    for shift in range(3):
        text = _base64.b64encode(b"\0" * shift + secret).decode("ascii")
        # Character i carries bits 6i..6i+5: keep those wholly inside the secret's bits.
        core = text[(8 * shift + 5) // 6:(8 * (shift + len(secret))) // 6]
        if len(core) >= _MIN_BASE64:
            cores.add(core)
            cores.add(core.replace("+", "-").replace("/", "_"))  # base64url
    return cores


def _base64_char(char: str) -> str:
    if char == "/":
        return r"(?:/|\\/|%2[fF])"
    if char == "+":
        return r"(?:\+|%2[bB])"
    return char


def _secret_forms(secret: str) -> list[str]:
    forms = [_spread([_char_pattern(c) for c in secret])]
    forms += [_spread([_base64_char(c) for c in core])
              for core in sorted(_base64_cores(secret.encode("utf-8")))]
    return forms


def _secret_pattern(secret: str) -> str:
    return "|".join(_secret_forms(secret))


def known_secrets() -> tuple[str, ...]:
    """The secrets to scrub now: every registered value and $WOLKVOX_TOKEN, longest first."""
    secrets = set(_extra_secrets)
    token = _os.environ.get("WOLKVOX_TOKEN", "").strip()
    if MIN_SECRET <= len(token) <= MAX_SECRET:
        secrets.add(token)
    return tuple(sorted(secrets, key=lambda s: (-len(s), s)))


@_functools.lru_cache(maxsize=8)
def _pattern_for(secrets: tuple[str, ...]) -> str:
    return "|".join(f"(?:{_secret_pattern(s)})" for s in secrets)


def secret_regex() -> str | None:
    """One regular expression (Python re and RE2 alike) matching every known secret in every
    common encoding, or None when no secret is known."""
    secrets = known_secrets()
    return _pattern_for(secrets) if secrets else None


# RE2 scans at full speed only while its DFA fits its memory budget: one alternation of several
# secrets (one per operation) or of a long token's forms overflows it and RE2 falls back to a
# far slower engine. So whole pages are scrubbed in several passes of bounded pattern size.
_PASS_PATTERN_CHARS = 60_000


@_functools.lru_cache(maxsize=8)
def _passes_for(secrets: tuple[str, ...]) -> tuple[str, ...]:
    passes: list[list[str]] = []
    size = 0
    for form in (form for secret in secrets for form in _secret_forms(secret)):
        if not passes or size + len(form) > _PASS_PATTERN_CHARS:
            passes.append([])
            size = 0
        passes[-1].append(form)
        size += len(form) + 1
    return tuple("|".join(forms) for forms in passes)


def secret_regexes() -> tuple[str, ...]:
    """The known secrets' patterns (see `secret_regex`) split into passes RE2 runs at full speed,
    longest secret first; empty when no secret is known."""
    secrets = known_secrets()
    return _passes_for(secrets) if secrets else ()


@_functools.lru_cache(maxsize=8)
def _compiled(pattern: str) -> _re.Pattern:
    return _re.compile(pattern)


def register_secret(value: str) -> None:
    """Remember a secret value (e.g. a token read from a file) so it is scrubbed everywhere."""
    if value and MIN_SECRET <= len(value) <= MAX_SECRET:
        _extra_secrets.add(value)


def scrub_secrets(text: str) -> str:
    """Replace every known secret value in `text`, in any common encoding, with '***'."""
    pattern = secret_regex()
    return _compiled(pattern).sub("***", text) if pattern else text


# Characters that would let a server's text forge or hide log lines: C0/C1 controls (line breaks,
# escape sequences, backspace), DEL, the Unicode line and paragraph separators, bidirectional
# overrides and zero-width characters.
_CONTROL = _re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]+")


def one_line(text: str) -> str:
    """`text` as one printable line: control characters become spaces, runs of spaces one."""
    return " ".join(_CONTROL.sub(" ", text).split())
