"""vocab: shared SentencePiece vocabularies — train, extend, measure, export to Hugging Face."""
