"""The Redis floor: a raw Redis list push/pop loop measured through the same channel as the queues.

It is described by ``backend.toml`` like every backend so the harness runs it through the same lifecycle, but it
only has the ``noop`` task: it shows the physical floor of this broker on this machine beside every backend.
"""
