"""Word embeddings: word2vec (skip-gram and CBOW with negative sampling) trained by our own C
kernel, its queries and evaluations, the standard word2vec file formats, and the initialisation of
a model's token embedding table from trained vectors."""
from llm.embeddings.corpus import WordSentences, split_words
from llm.embeddings.word2vec import TrainingStats, UnknownWordError, Word2Vec

__all__ = ["TrainingStats", "UnknownWordError", "Word2Vec", "WordSentences", "split_words"]
