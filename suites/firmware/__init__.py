"""Firmware management and diagnostics: update over OCPP, failures reported, logs uploaded."""
