"""A browser without JavaScript for the interop suite: a cookie jar, manual
redirects, and the hosted pages' forms read from their HTML."""

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import requests


class _Forms(HTMLParser):
    def __init__(self, page_url):
        super().__init__()
        self.page_url = page_url
        self.forms = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append(
                {"action": urljoin(self.page_url, a.get("action") or ""), "fields": [], "buttons": []}
            )
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["fields"].append((a["name"], a.get("value") or "", a.get("type") or "text"))
        elif tag == "button" and self.forms:
            self.forms[-1]["buttons"].append((a.get("name"), a.get("value")))


def parse_forms(html, page_url):
    parser = _Forms(page_url)
    parser.feed(html)
    return parser.forms


class Browser:
    def __init__(self, issuer):
        self.origin = "{0.scheme}://{0.netloc}".format(urlsplit(issuer))
        self.http = requests.Session()

    def _origin(self, url):
        return "{0.scheme}://{0.netloc}".format(urlsplit(url))

    def follow(self, url, response):
        """Follow redirects within the issuer; stop at a page or at a redirect
        elsewhere. Returns (url, response, leaving)."""
        for _ in range(10):
            if not response.is_redirect:
                break
            target = urljoin(url, response.headers["location"])
            if self._origin(target) != self.origin:
                return url, response, target
            url = target
            response = self.http.get(url, allow_redirects=False)
        return url, response, None

    def go(self, url):
        return self.follow(url, self.http.get(url, allow_redirects=False))

    def submit(self, form, extra=()):
        data = [(k, v) for k, v, _ in form["fields"]] + list(extra)
        response = self.http.post(form["action"], data=data, allow_redirects=False)
        return self.follow(form["action"], response)

    def authorize(self, url, username, password):
        """Run an authorization request as a person: sign in when the login
        page shows, approve consent when asked. Returns the URL the OP sends
        the browser to (the redirect URI with a code or an error)."""
        at, response, leaving = self.go(url)
        for _ in range(4):
            if leaving:
                return leaving
            forms = parse_forms(response.text, at)
            login = next((f for f in forms if any(t == "password" for _, _, t in f["fields"])), None)
            if login:
                values = {"username": username, "password": password}
                login["fields"] = [(k, values.get(k, v), t) for k, v, t in login["fields"]]
                at, response, leaving = self.submit(login)
            elif forms and ("decision", "approve") in forms[0]["buttons"]:
                at, response, leaving = self.submit(forms[0], [("decision", "approve")])
            else:
                raise AssertionError(f"unexpected page at {at} ({response.status_code}): {response.text[:500]}")
        if not leaving:
            raise AssertionError(f"the authorization did not finish at {at}")
        return leaving

    def logout(self, url):
        """Open an end-session URL and press "Sign out" on the confirmation
        page. Returns where the OP sends the browser afterwards."""
        at, response, leaving = self.go(url)
        if leaving:
            return leaving
        form = next(
            (f for f in parse_forms(response.text, at) if any(v == "logout" for _, v in f["buttons"])),
            None,
        )
        assert form, f"no sign-out confirmation at {at}: {response.text[:500]}"
        return self.submit(form, [("decision", "logout")])[2]
