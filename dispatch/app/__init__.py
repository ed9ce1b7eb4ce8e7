"""The one place for Flask: the app factory (``factory.create_app``), the web request's context
(``context``: its database session and the process's services), the establishments' HTTP API,
the ``sio`` commands, the process runner of ``sio run`` with its embedded Redis, migrations and
the demo data."""
