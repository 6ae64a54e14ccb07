"""State the app's processes share when they are several (``Past one machine`` in the README): with a
PostGIS store, the accounts, the session key, the login rate limit, export jobs and uploads live in
the app's own schema of the same PostgreSQL database (``pg.AppDatabase``), never in one process's
memory or on one machine's disk. With a GeoPackage store (one machine) they stay in files beside it."""
