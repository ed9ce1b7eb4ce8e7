"""The conversation with nurses and requesters: what a nurse's reply does (``replies``, read by
``grammar``), calls to the requester (``calls``), delivery statuses (``deliveries``), and the
signed links to a request's details (``links``)."""
