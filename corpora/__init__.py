"""corpora: Common-Crawl-style text → clean, deduplicated, decontaminated, rebalanced per-language documents."""
