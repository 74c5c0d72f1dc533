"""Helpers for the firmware workflow unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbench.firmware.fileserver import FileServer
from testbench.lab.model import FileServerSettings


@pytest.fixture
def file_server(tmp_path: Path):
    server = FileServer(FileServerSettings(), tmp_path / "files")
    server.start()
    try:
        yield server
    finally:
        server.stop()
