"""Answers to the exercises at the end of the pages, one module per page,
each checked by its doctests against PyTorch."""
