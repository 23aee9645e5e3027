"""What the Socrata source says when a request fails for good: one line with the URL, the
server's own words and what to do (the CLI prints a CrashesError as that line, exit code 2)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit, urlunsplit

from requests import ConnectionError as RequestsConnectionError
from requests import HTTPError, RequestException, Response
from urllib3.exceptions import NameResolutionError, NewConnectionError

from crashes.errors import CrashesError

BASE_URL_HINT = "check --base-url (the portal's root, e.g. https://data.cityofchicago.org, without /resource)"
HINTS = {
    400: "the server refused the query: check --page-size (Socrata allows at most 50000) and --since/--until",
    401: "check SOCRATA_APP_TOKEN (or .dlt/secrets.toml)",
    403: "check SOCRATA_APP_TOKEN (or .dlt/secrets.toml)",
    404: BASE_URL_HINT,
    429: "the server kept throttling: set SOCRATA_APP_TOKEN or try again later",
}
SERVER_FAILING = "the server is failing: try again later (nothing was loaded, the cursor did not move)"


class SocrataError(CrashesError):
    """The server could not be reached, or answered with no data we can load (after retries)."""


def _url(url: str | None) -> str:
    """The URL without its query: the path says which dataset, the server's words say the rest."""
    if not url:
        return "?"
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def server_words(response: Response) -> str:
    """Socrata's error body is JSON with a `message`; anything else is quoted, shortened."""
    try:
        body = response.json()
        text = str(body.get("message") or body) if isinstance(body, dict) else response.text
    except (ValueError, json.JSONDecodeError):
        text = response.text
    return " ".join(text.split())[:300] or response.reason or "no message"


def from_http_error(dataset: str, exc: HTTPError) -> SocrataError:
    response = exc.response
    if response is None:
        return SocrataError(f"{dataset}: {exc}")
    status = response.status_code
    hint = HINTS.get(status) or (SERVER_FAILING if status >= 500 else "check --base-url and the options")
    retried = " after retries" if status == 429 or status >= 500 else ""
    return SocrataError(
        f"{dataset}: GET {_url(response.url)} answered HTTP {status}{retried}: {server_words(response)} — {hint}"
    )


def cannot_connect(exc: BaseException | None) -> bool:
    """No connection at all (refused, unknown host): retrying for half a minute will not help.
    A connection dropped mid-answer is not this, and stays retried like a 5xx."""
    if not isinstance(exc, RequestsConnectionError) or not exc.args:
        return False
    return isinstance(getattr(exc.args[0], "reason", None), NewConnectionError)


def from_request_error(dataset: str, exc: RequestException, attempts: int) -> SocrataError:
    url = _url(exc.request.url if exc.request is not None else None)
    if cannot_connect(exc):
        reason = exc.args[0].reason  # type: ignore[union-attr]
        if isinstance(reason, NameResolutionError):
            why = "the host name does not resolve"
        elif "refused" in str(reason).lower():
            why = "Connection refused (nothing listens there)"
        else:
            why = " ".join(str(reason).split())[:200]
        return SocrataError(f"{dataset}: cannot connect to {url}: {why} — is the server running? {BASE_URL_HINT}")
    detail = " ".join(str(exc).split())[:300]
    return SocrataError(
        f"{dataset}: GET {url} failed {attempts} times: {type(exc).__name__}: {detail} — {SERVER_FAILING}"
    )
