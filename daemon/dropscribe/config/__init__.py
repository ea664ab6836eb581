"""The configuration: its schema, its loading, and the secrets it names.

:mod:`~dropscribe.config.schema` is the settings schema, one module per group of sections
(the one place defaults live), with the folder profiles laid over the top level;
:mod:`~dropscribe.config.loading` reads and validates the YAML file, listing every problem at
once (the only module that imports yaml); :mod:`~dropscribe.config.credentials` finds the API
key and the webhook secrets; :mod:`~dropscribe.config.languages` holds the language codes and
the English-only models; :mod:`~dropscribe.config.extras` says whether an optional extra is
installed. Callers import the public names from here.
"""

from dropscribe.config.credentials import read_api_key, webhook_secret
from dropscribe.config.languages import WHISPER_LANGUAGES, language_problem
from dropscribe.config.loading import load_config
from dropscribe.config.schema.folders import Paths, Watch
from dropscribe.config.schema.metrics import Metrics, listen_address
from dropscribe.config.schema.pacing import Retry
from dropscribe.config.schema.profile import Profile, ProfileNotify, profile_for
from dropscribe.config.schema.receivers import Notify
from dropscribe.config.schema.service import Api
from dropscribe.config.schema.settings import (
    Settings,
    effective,
    language_model_problem,
    language_model_warnings,
    profile_models,
)

__all__ = [
    "WHISPER_LANGUAGES",
    "Api",
    "Metrics",
    "Notify",
    "Paths",
    "Profile",
    "ProfileNotify",
    "Retry",
    "Settings",
    "Watch",
    "effective",
    "language_model_problem",
    "language_model_warnings",
    "language_problem",
    "listen_address",
    "load_config",
    "profile_for",
    "profile_models",
    "read_api_key",
    "webhook_secret",
]
