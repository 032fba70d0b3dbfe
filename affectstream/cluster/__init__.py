"""Many monitor workers on NATS JetStream: devices partitioned across workers, each device's
state in one place at a time, moved when a worker dies or joins, every prediction published
once.

Nothing here is imported by the plain daemon (``affectstream run`` without a ``[cluster]``
section): the NATS client (``nats-py``, the ``cluster`` extra) is imported only by
:mod:`affectstream.cluster.worker` and the modules it uses.
"""
