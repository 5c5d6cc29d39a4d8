"""What the verb modules share to describe their options: the defaults of the function a verb
calls, read from its signature so that `--help` and the library never disagree."""
import inspect
from collections.abc import Callable


def signature_defaults(function: Callable) -> dict[str, object]:
    """The default value of each of function's parameters that has one, by name."""
    return {name: parameter.default
            for name, parameter in inspect.signature(function).parameters.items()
            if parameter.default is not inspect.Parameter.empty}
