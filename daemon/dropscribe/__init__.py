"""dropscribe: an unattended transcription daemon for a watch folder."""

__version__ = "0.1.0"
