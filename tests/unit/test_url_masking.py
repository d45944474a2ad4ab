"""``mask_url``: every credential a URL can carry is masked, the rest is kept for diagnosis."""

from __future__ import annotations

import pytest

from runner.errors import mask_url, redact, register_url_secrets


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://erp:pw@db:5432/erp", "postgresql://erp:***@db:5432/erp"),
        ("postgresql://erp@db/erp?password=S3cret", "postgresql://erp@db/erp?password=***"),
        ("mysql://u@h/d?PassWd=a&charset=utf8&pwd=b",
         "mysql://u@h/d?PassWd=***&charset=utf8&pwd=***"),
        ("https://api.example.com/v1?token=t1&page=2&api_key=k&apikey=k2&key=k3",
         "https://api.example.com/v1?token=***&page=2&api_key=***&apikey=***&key=***"),
        ("https://h/x?access_token=a&client_secret=s&secret=z&sslpassword=q",
         "https://h/x?access_token=***&client_secret=***&secret=***&sslpassword=***"),
        ("https://h/x?refresh_token=r&X-Api-Key=k#frag",
         "https://h/x?refresh_token=***&X-Api-Key=***#frag"),
        ("sqlite:///var/erp.db", "sqlite:///var/erp.db"),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
    ],
)
def test_mask_url(url: str, expected: str) -> None:
    assert mask_url(url) == expected


def test_redact_masks_urls_inside_any_message() -> None:
    text = "reading t on postgresql+psycopg://erp@db/erp?password=Zq81x: connection failed"
    assert redact(text) == (
        "reading t on postgresql+psycopg://erp@db/erp?password=***: connection failed")


def test_registered_url_secrets_are_masked_wherever_they_appear_later() -> None:
    register_url_secrets("postgresql://erp:Pw-Only-9@db/erp?sslpassword=Other-7x")
    assert redact("the driver said: password Pw-Only-9 / Other-7x rejected") == (
        "the driver said: password *** / *** rejected")
