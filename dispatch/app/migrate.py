"""Schema migrations (Alembic) and the initial data load, used by ``sio db upgrade``."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from dispatch.config import PROJECT_ROOT
from dispatch.geo import load_communes
from models import make_sessionmaker


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine) -> int:
    """Migrate the schema to the newest revision(s), then load the communes if the table is empty.

    Returns the number of communes loaded.
    """
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")
    with make_sessionmaker(engine).begin() as session:
        return load_communes(session)
