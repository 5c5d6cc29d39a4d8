"""Word embeddings: word2vec (skip-gram and CBOW with negative sampling) trained by our own C
kernel, its queries and evaluations, the standard word2vec file formats, and the initialisation of
a model's token embedding table from trained vectors."""
from llm.embeddings.corpus import TokenSentences, WordSentences, split_words, token_strings
from llm.embeddings.init import init_embedding_table
from llm.embeddings.word2vec import TrainingStats, UnknownWordError, Word2Vec

__all__ = ["TokenSentences", "TrainingStats", "UnknownWordError", "Word2Vec", "WordSentences",
           "init_embedding_table", "split_words", "token_strings"]
