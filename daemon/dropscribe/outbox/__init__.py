"""The outbox: rendering a finished job's transcript, and publishing it, atomically and safely
named.

Rendering is pure, one module per format: :mod:`~dropscribe.outbox.txt`,
:mod:`~dropscribe.outbox.transcript_json`, :mod:`~dropscribe.outbox.srt` and
:mod:`~dropscribe.outbox.vtt`, with the cues the subtitle formats share in
:mod:`~dropscribe.outbox.cues`; :mod:`~dropscribe.outbox.formats` chooses the files a job gets.
:mod:`~dropscribe.outbox.publishing` names them and writes them (:class:`Outbox`). Callers
import the public names from here.
"""

from dropscribe.outbox.formats import FORMATS
from dropscribe.outbox.publishing import Outbox

__all__ = ["FORMATS", "Outbox"]
