"""Great Expectations suites (committed JSON under ``suites/``) and the runner the asset checks call."""
