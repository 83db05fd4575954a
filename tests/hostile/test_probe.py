"""The probe's checks can fail: a deliberately broken app trips each of them."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, jsonify

from tests.hostile.conftest import EXTENSION_SECRET, SEEDED_EMAIL, TALLY, Apps, Probe


def broken_app(apps: Apps) -> Any:
    app = Flask("broken")

    @app.post("/boom")
    def boom() -> Any:
        raise RuntimeError("escaped")

    @app.post("/five")
    def five() -> Any:
        return jsonify({"error": "x"}), 500

    @app.post("/open")
    def open_() -> Any:
        return jsonify({"ok": True}), 200

    @app.post("/leak")
    def leak() -> Any:
        return jsonify({"error": "x", "detail": f"{EXTENSION_SECRET} {SEEDED_EMAIL}"}), 400

    @app.post("/write")
    def write() -> Any:
        apps.world.ct.put_custom_object("probe-test", "k", {"v": 1}, version=None)
        return jsonify({"error": "refused"}), 400

    app.config["PROPAGATE_EXCEPTIONS"] = True
    return app.test_client()


@pytest.mark.parametrize(
    ("path", "kind", "authorized"),
    [
        ("/boom", "crashes", True),
        ("/five", "server_errors", True),
        ("/open", "accepted_without_auth", False),
        ("/leak", "leaks", True),
        ("/write", "changed_by_rejected", True),
    ],
)
def test_each_check_catches_its_failure(apps: Apps, path: str, kind: str, authorized: bool) -> None:
    client = broken_app(apps)
    counter = getattr(TALLY, kind)
    name = f"probe self-test {path}"
    with pytest.raises(AssertionError):
        Probe(apps, name).send(client, "POST", path, json={}, authorized=authorized)
    assert counter[name] == 1
    # The self-test's own findings are not findings about the connector.
    del counter[name]
    TALLY.inputs[name] -= 1
    if TALLY.inputs[name] <= 0:
        del TALLY.inputs[name]
    TALLY.examples.pop(f"{kind}:{name}", None)
    apps.world.ct.delete_custom_object("probe-test", "k")
