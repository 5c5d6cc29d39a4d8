"""The command-line tests train and generate with the training tests' tiny corpus, config and
one thread."""
from ..train.conftest import corpus, one_thread, tiny_config  # noqa: F401  (fixtures)
