"""URLs as they may be shown: `redact_url` hides the credentials a connection URL carries.

The one way the engine writes a warehouse, Redis or Postgres URL into a message, a log
line or a span. A password in the user-info part becomes ``***`` (the user name stays:
it tells which account was used); so does the value of a query parameter whose name says
it is a secret (``password``, ``token``, ``secret`` ...). A URL that cannot be parsed is
not echoed at all, since its password could be anywhere in it.
"""

from __future__ import annotations

from urllib.parse import SplitResult, parse_qsl, quote, urlencode, urlsplit

MASK = "***"
"""What a hidden secret is replaced with."""

_SECRET_PARAM_PARTS = ("password", "passwd", "pwd", "secret", "token", "passphrase")
UNPARSEABLE = "<unparseable URL>"
"""What `redact_url` returns for text that is not a URL it can take apart."""


def redact_url(url: str) -> str:
    """``url`` with its password and secret query values replaced by ``***``.

    ``snowflake://me:pw@acct/db/sc?warehouse=WH`` -> ``snowflake://me:***@acct/db/sc?...``;
    ``redis://:pw@host:6379/0`` -> ``redis://:***@host:6379/0``;
    ``postgresql://host/db?password=pw`` -> ``postgresql://host/db?password=***``.
    A URL without secrets is returned unchanged.
    """
    try:
        parts = urlsplit(url)
        params = parse_qsl(parts.query, keep_blank_values=True)
        parts.port  # noqa: B018 (a password with an unencoded "/" reads as a bad port)
    except ValueError:
        return UNPARSEABLE
    netloc = _redact_netloc(parts)
    query = parts.query
    if any(_is_secret(name) for name, _ in params):
        hidden = [(name, MASK if _is_secret(name) else value) for name, value in params]
        query = urlencode(hidden, safe="*", quote_via=quote)
    if netloc == parts.netloc and query == parts.query:
        return url
    return parts._replace(netloc=netloc, query=query).geturl()


def _redact_netloc(parts: SplitResult) -> str:
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at:
        return parts.netloc
    user, colon, _password = userinfo.partition(":")
    return f"{user}:{MASK}@{host}" if colon else parts.netloc


def _is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(part in lowered for part in _SECRET_PARAM_PARTS)
