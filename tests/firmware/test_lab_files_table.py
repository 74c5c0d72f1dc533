"""The [files] table of lab.toml: defaults, keys and the problems it reports."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from testbench.errors import LabConfigError
from testbench.lab.loader import SCHEMAS, load_lab
from testbench.lab.model import FileServerSettings

REPO = Path(__file__).resolve().parents[2]


def _lab(tmp_path: Path, files: str) -> Path:
    text = (REPO / "lab.toml").read_text(encoding="utf-8") + "\n" + files
    path = tmp_path / "lab.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_schema_matches_the_model():
    assert set(SCHEMAS["files"]) == {f.name for f in dataclasses.fields(FileServerSettings)}


def test_defaults_without_the_table():
    assert load_lab(REPO / "lab.toml").files == FileServerSettings()


def test_keys_are_read(tmp_path: Path):
    lab = load_lab(_lab(tmp_path, '[files]\nhost = "0.0.0.0"\nurl_host = "192.0.2.1"\n'
                                  'port = 8080\nftp = false\nhttps_port = 8443\n'
                                  'tls_cert = "c.pem"\ntls_key = "c.key"\n'))
    assert lab.files == FileServerSettings(host="0.0.0.0", url_host="192.0.2.1", port=8080,
                                           ftp=False, https_port=8443,
                                           tls_cert=Path("c.pem"), tls_key=Path("c.key"))


@pytest.mark.parametrize(("table", "key", "words"), [
    ('[files]\ntls_cert = "c.pem"\n', "tls_key", "both"),
    ('[files]\nhost = "0.0.0.0"\n', "url_host", "every interface"),
    ('[files]\nport = 8080\nftp_port = 8080\n', "ftp_port", "also"),
    ('[files]\nftp = "yes"\n', "ftp", ""),
    ('[files]\nprot = 1\n', "prot", ""),
])
def test_problems_name_the_key(tmp_path: Path, table: str, key: str, words: str):
    with pytest.raises(LabConfigError) as caught:
        load_lab(_lab(tmp_path, table))
    text = str(caught.value)
    assert "[files]" in text and key in text and words in text
