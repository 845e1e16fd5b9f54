"""vocab: shared SentencePiece vocabularies — train, extend, measure, export to Hugging Face.

Heavy libraries (sentencepiece, tokenizers, transformers, torch) are imported inside functions.
"""

from vocab.embeddings import resize_embeddings
from vocab.export import export_hf
from vocab.extend import VocabExtendConfig, extend_vocab
from vocab.stats import LangStats, compute_stats, stats_for_inputs, write_stats
from vocab.train import VocabTrainConfig, train_vocab

__all__ = [
    "LangStats",
    "VocabExtendConfig",
    "VocabTrainConfig",
    "compute_stats",
    "export_hf",
    "extend_vocab",
    "resize_embeddings",
    "stats_for_inputs",
    "train_vocab",
    "write_stats",
]
