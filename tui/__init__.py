"""Everything a person touches: the ``dltui`` command and its Textual app."""
