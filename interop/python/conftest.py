"""What interop/run.sh tells the suite."""

import os

import pytest


def need(name):
    value = os.environ.get(name)
    if not value:
        pytest.exit(f"{name} is not set: run the suite with interop/run.sh", returncode=2)
    return value


@pytest.fixture(scope="session")
def env():
    suffix = need("INTEROP_SECRET_SUFFIX")
    return {
        "issuer": need("SIGNOFF_ISSUER"),
        "username": need("INTEROP_USERNAME"),
        "password": need("INTEROP_PASSWORD"),
        "client_id": "python-rp",
        "client_secret": f"python-rp-{suffix}",
        "redirect_uri": "http://127.0.0.1:9/python/callback",
        "post_logout_redirect_uri": "http://127.0.0.1:9/python/signed-out",
        "api_client_id": "python-api-client",
        "api_client_secret": f"python-api-client-{suffix}",
        "api_audience": "https://api.python.interop.test",
    }
