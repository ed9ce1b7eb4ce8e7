"""What comes in: the establishments' API input, requests and replies by SMS (the webhook
events handled by jobs: ``inbox``, ``receipts``; the router of a text: ``texts_in``; a
requester's text: ``sms``), and the phone menu (``ivr``, its steps and its store)."""
