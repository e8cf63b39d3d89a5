"""The models, probes and training set-ups of the site's experiments: shown
on the pages so that each run can be read, not meant as general tools."""
