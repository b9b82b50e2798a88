"""The database floor: a raw table-as-queue loop measured through the same channel as the queues.

The floor of ``broker = "database"`` backends (django-tasks-db), as ``bench/baseline/`` is the floor of the Redis
ones: no queue library, no Django, no ORM; one INSERT per task, and workers that take a row, run the task and DELETE
the row in one transaction. Same database as the backend would use: SQLite in ``SHOP_VAR_DIR`` by default,
PostgreSQL when ``SHOP_DATABASE_URL`` points to one. Only the ``noop`` task.
"""
