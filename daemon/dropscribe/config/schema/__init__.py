"""The settings schema: the one place defaults live.

Each section of the YAML file is a frozen pydantic model in which unknown keys are errors, in
the module named for what it configures: :mod:`~.folders` (paths, watch),
:mod:`~.service` (api, embedded), :mod:`~.pacing` (workers, poll, retry),
:mod:`~.transcription` (whisper, output, quality), :mod:`~.diarization`,
:mod:`~.receivers` (notify), :mod:`~.metrics` and :mod:`~.profile`; :mod:`~.settings`
holds them all, with the rules that span sections and the merging of a profile over the top
level. :mod:`~.section` is their common base.
"""
