"""RQ jobs, the queue, the worker entry point and the sweeper."""
