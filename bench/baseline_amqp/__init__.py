"""The AMQP floor: a raw RabbitMQ publish / consume-with-manual-ack loop, measured through the same channel as the
queues.

The floor of ``broker = "rabbitmq"`` backends (Celery and Dramatiq on RabbitMQ), as ``bench/baseline/`` is the floor
of the Redis ones: no queue library, no Django; pika (the client Dramatiq uses; Celery's py-amqp is the same AMQP
0-9-1) publishing a small JSON message per task to a durable queue as a persistent message, and N consumer processes
that ack each message after its noop ran. Only the ``noop`` task.
"""
