"""Layers and model helpers the pages present for readers to copy: each one
behaves like its PyTorch counterpart on every option that counterpart
accepts, or refuses an option it does not support with a ``ValueError``
(``tests/`` checks both)."""
