"""Coordinator pages, the simulator page, and the health and metrics endpoints."""

from __future__ import annotations

from flask import Flask


def register_people(app: Flask) -> None:
    """Issue #16: nurses, establishments and colleagues managed on the page; poles and the rota."""
    from status import colleagues, establishments, nurse_admin, rota_page

    for blueprint in (nurse_admin.bp, establishments.bp, colleagues.bp, rota_page.bp):
        app.register_blueprint(blueprint)


def register_status(app: Flask) -> None:
    from status import (
        auth,
        board,
        desk,
        details,
        inscriptions,
        nurses,
        registration,
        simulator,
        space,
        steer,
        summary_page,
    )
    from status.health import bp as health_bp
    from status.web import init_web

    app.register_blueprint(health_bp)
    init_web(app)
    for blueprint in (auth.bp, board.bp, nurses.bp, summary_page.bp, details.bp, simulator.bp, steer.bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(desk.bp)
    for blueprint in (space.bp, registration.bp, inscriptions.bp):  # issue 16: the nurse's own space
        app.register_blueprint(blueprint)
    register_people(app)
