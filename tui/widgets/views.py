"""Loads every view of the app: importing a widget file registers the views it declares.

Each view is declared once, beside the widget that draws it (``tui.session.views.ViewDef``:
name, title, the networks it suits, its probe and record, keys, help line, and the widget's
``DEFAULT_CSS``). A new view is a widget file and one line here; the main screen, the training
session, the help page and the tests read the registry.
"""

from __future__ import annotations

from tui.widgets import (  # noqa: F401  (imported for their declarations)
    activation_view,
    attention_view,
    augment_view,
    class_view,
    decision_map,
    filter_view,
    fit_plot,
    landscape_view,
    lossfn_view,
    mistakes_view,
    reconstruction_view,
    sequence_view,
    units_view,
)
