"""The sweeper's round counts the offers due into the nurses' answer statistics (issue 17), as its
own committed step: ``workers.worker.sweep_once``."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from dispatch.clock import utcnow
from dispatch.config import load_settings
from models import NurseAnswerStats, Offer, make_engine, make_sessionmaker
from tests.support.helpers import make_nurse, make_request_row
from workers.worker import sweep_once


def test_the_sweepers_round_counts_the_offers_due(tmp_path, database_url):
    settings = load_settings(
        {
            "SIO_INSTANCE_PATH": str(tmp_path / "instance"),
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test",
            "TELEPHONY": "simulator",
            "TWILIO_ACCOUNT_SID": "",
            "TWILIO_AUTH_TOKEN": "",
        }
    )
    engine = make_engine(database_url)
    session = make_sessionmaker(engine)()
    try:
        nurse = make_nurse(session, "Ann", "06 10 00 00 01", ["42147"])
        sent = utcnow() - timedelta(days=2)
        request = make_request_row(session, "42147", "42600", sent, "confirmed")
        old = Offer(request_id=request.id, nurse_id=nurse.id, wave=1, status="declined", created_at=sent,
                    sent_at=sent, answered_at=sent + timedelta(seconds=90))  # fmt: skip
        fresh = Offer(request_id=make_request_row(session, "42147", "42600", utcnow(), "open").id,
                      nurse_id=nurse.id, wave=1, status="sent", created_at=utcnow(), sent_at=utcnow())  # fmt: skip
        session.add_all([old, fresh])
        session.commit()

        assert sweep_once(settings) == 0  # nothing overdue to re-enqueue (no Redis needed)

        session.expire_all()
        assert session.get(Offer, old.id).counted.startswith("a|")
        assert session.get(Offer, fresh.id).counted is None  # texted less than a day ago
        row = session.scalar(select(NurseAnswerStats).where(NurseAnswerStats.nurse_id == nurse.id))
        assert sum(count for count, _ in row.answers["w"].values()) == 1
    finally:
        session.close()
        engine.dispose()
