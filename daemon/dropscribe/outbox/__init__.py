"""The outbox: rendering a finished job's transcript, and publishing it, atomically and safely
named.

Rendering is pure, one module per format: :mod:`~dropscribe.outbox.txt`,
:mod:`~dropscribe.outbox.transcript_json`, :mod:`~dropscribe.outbox.srt` and
:mod:`~dropscribe.outbox.vtt`, with what the subtitle formats share in
:mod:`~dropscribe.outbox.cues`; a transcript is cut into cues within :class:`CueLimits` by
:mod:`~dropscribe.outbox.cue_layout` (from the timed words of
:mod:`~dropscribe.outbox.timed_words`, in the lines of :mod:`~dropscribe.outbox.line_wrap`);
:mod:`~dropscribe.outbox.incomplete` marks an incomplete transcript in every format;
:mod:`~dropscribe.outbox.formats` chooses the files a job gets.
:mod:`~dropscribe.outbox.publishing` names them and writes them (:class:`Outbox`). Callers
import the public names from here.
"""

from dropscribe.outbox.cue_layout import CueLimits
from dropscribe.outbox.formats import FORMATS
from dropscribe.outbox.publishing import Outbox

__all__ = ["FORMATS", "CueLimits", "Outbox"]
