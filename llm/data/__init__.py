"""Corpora: the one corpus pipeline (llm.data.corpus: text files -> one token stream -> a
train/val split), conversations (ShareGPT / LimaRP JSON and JSONL) and their chat template;
reading text files is llm.util.text's, re-exported here.

Submodules with heavier imports are used by name: llm.data.download (named datasets over
HTTP), llm.data.prepare (token arrays tokenized once, memory-mapped by training).
"""
from llm.data.conversations import Conversation, Turn, load_conversations
from llm.util.text import iter_files, read_bytes, read_text

__all__ = ["Conversation", "Turn", "iter_files", "load_conversations", "read_bytes", "read_text"]
