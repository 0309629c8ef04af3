"""A few lines of urllib so tests speak plain HTTP to the servers under test."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass


@dataclass
class HttpReply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


def request(method: str, url: str, body: bytes = b"", headers: dict | None = None, timeout: float = 10) -> HttpReply:
    req = urllib.request.Request(url, data=body if method != "GET" else None, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return HttpReply(resp.status, dict(resp.headers), resp.read())
    except urllib.error.HTTPError as err:
        return HttpReply(err.code, dict(err.headers), err.read())


def post(url: str, body: bytes, headers: dict | None = None, timeout: float = 10) -> HttpReply:
    return request("POST", url, body, headers, timeout)


def get(url: str, timeout: float = 10) -> HttpReply:
    return request("GET", url, timeout=timeout)
