"""Settings of the job app."""

from __future__ import annotations

from typing import ClassVar

from shared.settings import ConnectorSettings


class JobSettings(ConnectorSettings):
    app_name: ClassVar[str] = "job"
