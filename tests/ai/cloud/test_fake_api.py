"""The fake server answers the browser's CORS preflight, so the page's worker can use it."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

from .fake_api import OPENAI_CHAT, FakeApi


def request(api: FakeApi, method: str, path: str, headers: dict[str, str],
            body: bytes | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
    connection = http.client.HTTPConnection(urlsplit(api.url).netloc, timeout=5)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def test_preflight_echoes_the_requested_headers():
    with FakeApi() as api:
        status, headers, _ = request(api, "OPTIONS", OPENAI_CHAT, {
            "Origin": "http://127.0.0.1:8000", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-stainless-os"})
        assert status == 204
        assert headers["Access-Control-Allow-Origin"] == "*"
        assert headers["Access-Control-Allow-Headers"] == \
            "authorization,content-type,x-stainless-os"
        assert "POST" in headers["Access-Control-Allow-Methods"]


def test_answers_carry_cors_headers_and_expose_retry_after():
    with FakeApi() as api:
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x"}]})
        status, headers, answer = request(api, "POST", OPENAI_CHAT, {
            "Origin": "http://127.0.0.1:8000", "Content-Type": "application/json"},
            body.encode())
        assert status == 200
        assert headers["Access-Control-Allow-Origin"] == "*"
        assert headers["Access-Control-Expose-Headers"] == "*"
        assert json.loads(answer)["choices"][0]["message"]["content"] == "echo: x"
