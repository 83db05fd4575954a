"""The job app: the scheduled tick at `POST /job`."""

from __future__ import annotations

from flask import Flask, Response

from job.settings import JobSettings
from shared.runtime import Runtime, build_runtime
from shared.webapp import create_base_app, error_response, json_body


def create_app(settings: JobSettings, runtime: Runtime | None = None) -> Flask:
    runtime = runtime or build_runtime(settings)
    app = create_base_app("job")

    @app.post("/job")
    def tick() -> tuple[Response, int]:
        json_body()
        return error_response(501, "not_implemented", "the job app's tasks have not landed yet")

    return app
