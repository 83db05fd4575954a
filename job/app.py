"""The job app: the scheduled tick at `POST /job`."""

from __future__ import annotations

from flask import Flask, Response, jsonify

from job.settings import JobSettings
from shared.runtime import Runtime, build_runtime
from shared.webapp import create_base_app, json_body


def create_app(settings: JobSettings, runtime: Runtime | None = None) -> Flask:
    runtime = runtime or build_runtime(settings)
    app = create_base_app("job")

    @app.post("/job")
    def tick() -> tuple[Response, int]:
        json_body()
        return jsonify({"outcome": "accepted"}), 202

    return app
