"""Interop: Python's requests-oauthlib (a client we did not write) against a demo provider.

Usage: python requests_oauthlib_flows.py BASE_URL REDIRECT_URI
Runs the authorization code grant with PKCE (login and consent through the HTML forms), a userinfo call, a refresh,
and the client credentials grant. Exits non-zero with a message on the first failure.
"""

import os
import re
import sys

# The demo runs on loopback over plain http; oauthlib refuses http unless told otherwise.
os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"

import requests  # noqa: E402
from oauthlib.oauth2 import BackendApplicationClient  # noqa: E402
from requests_oauthlib import OAuth2Session  # noqa: E402

base, redirect = sys.argv[1], sys.argv[2]
meta = requests.get(base + "/.well-known/oauth-authorization-server", timeout=10).json()
assert meta["issuer"] == base, meta


def hidden(html, name):
    match = re.search(r'name="%s" value="([^"]*)"' % name, html)
    assert match, "no %s field in page" % name
    return match.group(1)


def approve(url):
    """A user signing in as alice and allowing; returns the redirect back to the client."""
    browser = requests.Session()
    page = browser.get(url, allow_redirects=False, timeout=10)
    assert page.status_code == 200, page.status_code
    login = {"username": "alice", "password": "alice-password",
             "csrf": hidden(page.text, "csrf"), "request": hidden(page.text, "request")}
    page = browser.post(base + "/login", data=login, allow_redirects=False, timeout=10)
    assert page.status_code == 200, page.status_code
    consent = {"decision": "allow", "csrf": hidden(page.text, "csrf"), "request": hidden(page.text, "request")}
    done = browser.post(base + "/consent", data=consent, allow_redirects=False, timeout=10)
    assert done.status_code == 302, done.status_code
    return done.headers["Location"]


# Authorization code + PKCE (S256); oauthlib checks the state.
oauth = OAuth2Session("demo-web", redirect_uri=redirect, scope=["profile"], pkce="S256")
url, _state = oauth.authorization_url(meta["authorization_endpoint"])
assert "code_challenge_method=S256" in url
token = oauth.fetch_token(meta["token_endpoint"], authorization_response=approve(url), client_secret="demo-web-secret")
assert token["token_type"].lower() == "bearer", token
me = oauth.get(meta["userinfo_endpoint"], timeout=10).json()
assert me == {"sub": "alice", "name": "Alice Liddell", "preferred_username": "alice"}, me

# Refresh, with client_secret_basic.
refreshed = oauth.refresh_token(meta["token_endpoint"], auth=("demo-web", "demo-web-secret"))
assert refreshed["access_token"] != token["access_token"], "refresh returned the same token"
assert refreshed["refresh_token"] != token["refresh_token"], "refresh token not rotated"
assert oauth.get(meta["userinfo_endpoint"], timeout=10).status_code == 200

# Client credentials.
service = OAuth2Session(client=BackendApplicationClient(client_id="demo-service"))
cc = service.fetch_token(meta["token_endpoint"], client_id="demo-service", client_secret="demo-service-secret")
assert cc["token_type"].lower() == "bearer" and "refresh_token" not in cc, cc

print("requests-oauthlib against %s: authorization code + PKCE, userinfo, refresh, client credentials: ok" % base)
