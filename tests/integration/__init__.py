"""The service through its real paths: Flask's client, a real Redis and RQ worker, the database, the Twilio stand-in."""
