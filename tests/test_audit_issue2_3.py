"""Audit of issues 2 (foundation) and 3 (router, static files, JSON, streaming): the gaps found."""

from __future__ import annotations

from typing import Any

from kali.testing import Client


def echo_json(request: Any) -> Any:
    return {"got": request.json()}


def test_deeply_nested_json_is_a_400_not_a_500() -> None:
    client = Client(echo_json)
    response = client.post("/", body=b"[" * 100_000, headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert "nested too deeply" in response.text
    # A reasonable nesting still decodes.
    response = client.post("/", body=b"[" * 50 + b"]" * 50, headers={"Content-Type": "application/json"})
    assert response.status == 200
