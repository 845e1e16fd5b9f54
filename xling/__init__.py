"""xling: pretraining engine, cross-lingual objectives, back-translation, and the shared
infrastructure every stage uses (typed configs, registries, data root, atomic I/O, the CLI).

Importing this package stays cheap (no torch): `corpora` and `vocab` import its helpers.
"""

__version__ = "0.1.0"
