"""Reporting: rich console (live verdicts, matrix), self-contained HTML matrix, Allure files."""
