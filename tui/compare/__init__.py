"""Comparing runs: read run folders and sweep folders into records, sort them, draw them.

No Textual and no Rich here: :mod:`tui.compare.records` reads and sums up the runs,
:mod:`tui.compare.plots` draws plain-Unicode plots as lines of (text, style) pieces. ``dltui
compare`` prints them with Rich; the app's open screen loads the same records.
"""
