"""Logging for the `llm` command: the packaged logging.conf, INFO+ to stderr, DEBUG+ to a file."""
import logging.config
import os
from pathlib import Path

LOGGING_CONF = Path(__file__).resolve().parent.parent / "logging.conf"


def default_log_file() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "llm-from-scratch" / "llm.log"


def configure_logging(level: str, log_file: Path) -> None:
    """Load the packaged logging.conf, sending level+ to stderr and DEBUG+ to log_file."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    logging.config.fileConfig(
        LOGGING_CONF,
        defaults={"console_level": level, "log_file": str(log_file)},
        disable_existing_loggers=False,
    )
