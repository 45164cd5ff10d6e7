"""The fake server answers the browser's CORS preflight, so the page's worker can use it."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

from .fake_api import OPENAI_CHAT, FakeApi


def request(api: FakeApi, method: str, path: str, headers: dict[str, str],
            body: bytes | None = None) -> http.client.HTTPResponse:
    netloc = urlsplit(api.url).netloc
    connection = http.client.HTTPConnection(netloc, timeout=5)
    connection.request(method, path, body=body, headers=headers)
    return connection.getresponse()


def test_preflight_echoes_the_requested_headers():
    with FakeApi() as api:
        response = request(api, "OPTIONS", OPENAI_CHAT, {
            "Origin": "http://127.0.0.1:8000", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-stainless-os"})
        assert response.status == 204
        assert response.getheader("Access-Control-Allow-Origin") == "*"
        assert response.getheader("Access-Control-Allow-Headers") == \
            "authorization,content-type,x-stainless-os"
        assert "POST" in response.getheader("Access-Control-Allow-Methods")


def test_answers_carry_cors_headers_and_expose_retry_after():
    with FakeApi() as api:
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x"}]})
        response = request(api, "POST", OPENAI_CHAT, {"Origin": "http://127.0.0.1:8000",
                                                      "Content-Type": "application/json"},
                           body.encode())
        assert response.status == 200
        assert response.getheader("Access-Control-Allow-Origin") == "*"
        assert response.getheader("Access-Control-Expose-Headers") == "*"
        assert json.loads(response.read())["choices"][0]["message"]["content"] == "echo: x"
