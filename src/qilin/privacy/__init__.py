"""PHI de-identification of training data: typed spans, per-record placeholders or surrogates, whole files."""
