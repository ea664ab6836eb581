"""The gates: pauses of all work, each through the scheduler's hold.

:mod:`~dropscribe.pipeline.gates.auth` pauses while the service refuses the key,
:mod:`~dropscribe.pipeline.gates.outage` while most recent calls to it fail transiently and
:mod:`~dropscribe.pipeline.gates.storage` while the disk is full; the bookkeeping they share
(the pause in progress, its probes and their doubling wait) is
:mod:`~dropscribe.pipeline.gates.pause`'s.
"""
