"""The do-nothing API Extension the checkout's fast path is measured against.

Same framework, same gunicorn settings, same request: it checks the Authorization header,
parses the JSON body and answers `{"actions": []}`. Whatever the loyalty extension costs on
carts that do not concern loyalty shows as the gap between the two.
"""

from __future__ import annotations

import hmac
import os

from flask import Flask, Response, jsonify, request

app = Flask("baseline")
_EXPECTED = f"Bearer {os.environ.get('EXTENSION_SECRET', '')}".encode()


@app.get("/health")
def health() -> Response:
    return jsonify({"status": "ok"})


@app.post("/service")
def service() -> tuple[Response, int]:
    if not hmac.compare_digest(request.headers.get("Authorization", "").encode(), _EXPECTED):
        return jsonify({"error": "unauthorized"}), 401
    request.get_json(force=True)
    return jsonify({"actions": []}), 200
