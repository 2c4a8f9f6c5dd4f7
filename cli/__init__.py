"""Front end without a GUI: the ``landmark-tagger`` entry point (``entry``: GUI, CLI or
``--self-test``), the command-line sub-commands (``commands``) and the installation self-test
(``selftest``)."""
