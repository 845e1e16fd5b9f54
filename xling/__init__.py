"""xling: the ground floor every package uses (`xling.core`), and above the stage packages (`corpora`,
`vocab`, `eval_xtreme`) the pretraining engine, cross-lingual objectives, back-translation, the
pipeline (`xling run`) and the CLI. See README "Architecture".

This file holds only the version: `xling.core` imports it, so it must import nothing.
"""

__version__ = "0.1.0"
