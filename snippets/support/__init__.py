"""What every example shares: data loading, the training loop, and the
report (figures, tables, values and claims written into one folder)."""
