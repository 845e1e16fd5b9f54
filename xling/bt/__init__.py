"""Back-translation: a small Marian-style encoder-decoder (Hugging Face transformers) that shares the
pretraining SentencePiece vocabulary, trained on the available parallel data (`xling bt train`),
used to turn monolingual text into filtered pseudo-parallel pairs (`xling bt translate`) that feed
the `tlm` objective through `xling.parallel`, and scored with sacrebleu BLEU/chrF/chrF++
(`xling bt score`). See docs/cross-lingual.md for why transformers rather than fairseq.
"""
