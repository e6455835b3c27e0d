"""Ground modules: settings, errors, identity, redaction. They import nothing of ours."""
