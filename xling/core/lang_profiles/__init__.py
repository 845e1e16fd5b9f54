"""Shipped language profiles (`<iso639-3>.yaml`) and the code table (`codes.tsv`); read by `xling.core.langs`.

A package only so that the files ship as package data.
"""
