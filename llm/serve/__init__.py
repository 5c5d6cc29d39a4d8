"""`llm serve`: a trained model behind OpenAI's HTTP API, with a chat page, decoding concurrent
requests together.

    batching   the worker thread and its batch: requests join and leave between steps
    text       generated tokens as text (cut UTF-8 characters, stop strings)
    protocol   OpenAI's request fields checked, its response shapes and error objects
    api        the Starlette app and `run` (uvicorn); static/ holds the chat page

api needs the web stack, the `serve` extra (Starlette, uvicorn); the rest needs NumPy only.
"""
MISSING_EXTRA = 'llm serve needs the web stack: pip install -e ".[serve]"'
