"""Signing in to the dashboard: a form that puts an API key in a cookie.

A browser cannot add an ``x-api-key`` header to a page it navigates to, so the dashboard
also takes the key from the ``sophia_key`` cookie, which ``POST /dashboard/login`` sets
after checking the key (the same check as every request: `graphs.server.auth`). The
cookie is ``HttpOnly`` (scripts cannot read it), ``SameSite=Strict`` (no other site's
page makes the browser send it), scoped to ``/dashboard`` and ``Secure`` over HTTPS;
authentication reads it on GET requests under ``/dashboard`` only, so it can never
start a run. ``POST /dashboard/logout`` clears it. An unauthenticated visit to the page
is redirected to the form.
"""

from __future__ import annotations

import html
from urllib.parse import parse_qs

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute
from starlette.types import Scope

from graphs.server.auth import COOKIE, Authenticator
from graphs.server.body import BodyError, read_bytes
from graphs.server.openapi import Answer, ApiRoute, Operation

FORM_BYTES = 4096
COOKIE_MAX_AGE_S = 12 * 3600
FORM = "application/x-www-form-urlencoded"

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sophia engine · sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<style>body{{font:15px system-ui,sans-serif;max-width:28em;margin:4em auto;padding:0 1em}}
input{{width:100%;font:inherit;padding:.4em;margin:.4em 0}}button{{font:inherit;padding:.4em 1em}}
.error{{color:#b00}}</style></head><body>
<h1>Sophia engine</h1><p>Sign in to the dashboard with an API key
(<code>sophia keys create NAME</code>).</p>{message}
<form method="post" action="/dashboard/login">
<label for="key">API key</label>
<input id="key" name="key" type="password" autocomplete="off" required autofocus>
<button type="submit">Sign in</button></form></body></html>"""


class LoginForm(BaseModel):
    """``POST /dashboard/login``: the form's one field."""

    key: str = Field(description="An API key.", max_length=200)


def _page(message: str = "", status_code: int = 200) -> HTMLResponse:
    shown = f'<p class="error">{html.escape(message)}</p>' if message else ""
    return HTMLResponse(_PAGE.format(message=shown), status_code=status_code,
                        headers={"Cache-Control": "no-store"})  # fmt: skip


def to_login(scope: Scope) -> Response:
    """Where an unauthenticated visit to the dashboard page goes."""
    return RedirectResponse("/dashboard/login", status_code=303)


async def login_page(request: Request) -> Response:
    """``GET /dashboard/login``: the sign-in form."""
    return _page()


async def login(request: Request) -> Response:
    """``POST /dashboard/login``: check the key; set the cookie and go to the dashboard."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != FORM:
        return _page("The form must be posted as a web form.", 415)
    try:
        raw = await read_bytes(request, max_bytes=FORM_BYTES, timeout_s=10.0)
    except BodyError as exc:
        return _page(exc.message, exc.status)
    try:
        key = (parse_qs(raw.decode("utf-8"), max_num_fields=4).get("key") or [""])[0].strip()
    except (UnicodeDecodeError, ValueError):
        key = ""
    auth: Authenticator | None = getattr(request.app.state, "auth", None)
    if auth is None:
        return _page("The service is starting; try again.", 503)
    if not auth.required:
        return RedirectResponse("/dashboard", status_code=303)  # open: nothing to sign in to
    caller = await auth.key_caller(key) if key else None
    if caller is None:
        return _page("That key is not valid (unknown, wrong or revoked).", 401)
    response = RedirectResponse("/dashboard", status_code=303)
    response.set_cookie(
        COOKIE, key, max_age=COOKIE_MAX_AGE_S, path="/dashboard", httponly=True,
        samesite="strict", secure=request.url.scheme == "https",
    )  # fmt: skip
    return response


async def logout(request: Request) -> Response:
    """``POST /dashboard/logout``: forget the cookie."""
    response = RedirectResponse("/dashboard/login", status_code=303)
    response.delete_cookie(COOKIE, path="/dashboard", httponly=True, samesite="strict")
    return response


def login_routes() -> list[BaseRoute]:
    """The sign-in routes (public: they are how a browser gets credentials)."""
    page = Answer("The sign-in form.", text=("text/html",))
    moved = Answer("Signed in (out): on to the dashboard (the form).", headers=("Location",))
    return [
        ApiRoute("/dashboard/login", login_page, method="GET", operation=Operation(
            "dashboard_login_page", "The dashboard's sign-in form", "dashboard",
            {200: page}, access="public",
        )),
        ApiRoute("/dashboard/login", login, method="POST", operation=Operation(
            "dashboard_login", "Sign in with an API key (sets the dashboard's cookie)",
            "dashboard",
            {303: moved, 401: Answer("Not a valid key: the form again.", text=("text/html",)),
             408: Answer("The form did not arrive in time.", text=("text/html",)),
             413: Answer("The form is too large.", text=("text/html",)),
             415: Answer("Not a web form.", text=("text/html",)),
             503: Answer("The service is starting.", text=("text/html",))},
            body=LoginForm, body_media_type=FORM, access="public",
        )),
        ApiRoute("/dashboard/logout", logout, method="POST", operation=Operation(
            "dashboard_logout", "Sign out (clears the cookie)", "dashboard",
            {303: moved}, access="public",
        )),
    ]  # fmt: skip
