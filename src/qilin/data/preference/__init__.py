"""Preference pairs (DPO): what the pairs teach besides their labels, and their packed shared-prefix layout."""
