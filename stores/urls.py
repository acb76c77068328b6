"""Showing connection URLs without their secrets."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

SECRET_PARAMS = frozenset(
    {"password", "passwd", "pwd", "sslpassword", "token", "secret", "private_key"}
)
"""Query parameters whose values are hidden as well as the password."""
MASK = "***"


def redact_url(url: str) -> str:
    """`url` with its password and secret query values replaced by ``***``.

    Everything else (scheme, user, host, port, path, other parameters) is kept, so the
    result still says where the URL points. Text that does not parse as a URL is
    returned as ``"<unparsable URL>"`` rather than risk showing a secret.
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a malformed port)
    except ValueError:
        return "<unparsable URL>"
    redacted = url
    if parts.password is not None:
        userinfo, _, hostport = parts.netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        redacted = redacted.replace(parts.netloc, f"{user}:{MASK}@{hostport}", 1)
    if parts.query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        if any(key.lower() in SECRET_PARAMS for key, _ in pairs):
            query = urlencode(
                [(k, MASK if k.lower() in SECRET_PARAMS else v) for k, v in pairs], safe="*/:"
            )
            redacted = redacted.replace("?" + parts.query, "?" + query, 1)
    return redacted
