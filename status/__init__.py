"""Coordinator pages, the simulator page, and the health and metrics endpoints."""

from __future__ import annotations

from flask import Flask


def register_status(app: Flask) -> None:
    from status.health import bp as health_bp

    app.register_blueprint(health_bp)
