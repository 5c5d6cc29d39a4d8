"""Reading corpora: files and folders of text, and (later) conversations and downloads."""
from llm.data.text import iter_files, read_bytes, read_text

__all__ = ["iter_files", "read_bytes", "read_text"]
