"""Foundations shared by every layer above: atomic files and directories (`atomic`), config
dataclasses to and from dicts (`config_dict`), reading text files (`text`). Standard library
only; nothing here imports another part of llm."""
