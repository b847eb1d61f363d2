"""Background work: the broker, the actors, and the process that runs them.

Messages carry ids only; the database is the source of truth and every actor is idempotent,
so a lost or repeated message costs nothing (the sweeper re-enqueues what was lost).
"""
