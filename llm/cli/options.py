"""What the verb modules share to describe their options: the defaults of the function a verb
calls, read from its signature so that `--help` and the library never disagree, and the words
for what a --tokenizer may name."""
import inspect
from collections.abc import Callable

# Every --tokenizer is read by Tokenizer.from_pretrained, which takes all of these.
TOKENIZER_FILES = ("a tokenizer.json (ours, from `llm tokenizer train`, or a Hugging Face one), "
                   "GPT-2's vocab.json (merges.txt beside it), or a directory with either")


def signature_defaults(function: Callable) -> dict[str, object]:
    """The default value of each of function's parameters that has one, by name."""
    return {name: parameter.default
            for name, parameter in inspect.signature(function).parameters.items()
            if parameter.default is not inspect.Parameter.empty}
