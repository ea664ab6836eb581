"""The gates: pauses of all work, each through the scheduler's hold.

:mod:`~dropscribe.pipeline.gates.auth` pauses while the service refuses the key,
:mod:`~dropscribe.pipeline.gates.outage` while calls to it keep failing with none going
through, and :mod:`~dropscribe.pipeline.gates.storage` while the disk is full; the bookkeeping
they share (the pause in progress, its probes and their capped doubling wait) is
:mod:`~dropscribe.pipeline.gates.pause`'s.
"""
