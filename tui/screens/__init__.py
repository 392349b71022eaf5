"""Modal screens: forms, confirmations, summaries."""
