"""The domain on a database and a clock: no Flask, no Redis, no worker."""
