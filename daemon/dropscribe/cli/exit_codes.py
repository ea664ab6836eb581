"""The exit codes of every subcommand, from sysexits.h where one fits."""

EXIT_OK = 0
EXIT_JOBS_FAILED = 1  # `once`/`transcribe`: at least one recording failed
EXIT_USAGE = 64  # EX_USAGE: wrong arguments
EXIT_NOT_RETRYABLE = 65  # EX_DATAERR: `retry` named jobs that exist but cannot be requeued
# EX_DATAERR: `acknowledge` named a job whose transcript is not an open incomplete one
EXIT_NOT_INCOMPLETE = 65
EXIT_NOT_FOUND = 66  # EX_NOINPUT: no such job or file
# EX_UNAVAILABLE: a model could not be fetched; serve/worker: the `scale` extra is missing, or
# the address to listen on is not this machine's (or a privileged port)
EXIT_UNAVAILABLE = 69
EXIT_SOFTWARE = 70  # EX_SOFTWARE: an internal error
EXIT_LOCKED = 75  # EX_TEMPFAIL: another run/once/transcribe holds the state folder
# EX_TEMPFAIL: serve/worker: another process listens on the port (it may be free soon, so
# systemd's restart may succeed where a configuration error's could not)
EXIT_PORT_TAKEN = 75
# EX_CONFIG: a bad configuration (also serve's and worker's bad options, or a model that
# cannot be loaded); systemd does not restart on it
EXIT_CONFIG = 78
EXIT_HARD_STOP = 130  # stopped at once by a second signal; the state is still consistent
EXIT_CLOSED_PIPE = 141  # 128 + SIGPIPE: the reader of our output went away (`status | head`)
