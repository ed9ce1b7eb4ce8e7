"""Care requests: taking them in, the actions on them (cancel, assign, relaunch, tell the
requester), their retention and the day's summary. Their statuses and clock are
``dispatch.lifecycle``'s."""
