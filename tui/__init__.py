"""Everything a person touches: the ``dltui`` command and its Textual app.

``cli`` and ``commands/`` are the command line; ``app``, ``screens/`` and ``widgets/`` the app
(each view of the data declares itself beside its widget, ``widgets/views.py`` imports them);
``session/`` runs training on a thread and measures what the views draw, without Textual;
``bench/`` is the benchmark suite behind ``dltui bench``.
"""
