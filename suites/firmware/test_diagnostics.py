"""Diagnostics (1.6 GetDiagnostics) and log upload (2.x GetLog, N01): the file arrives.

Judged from the wire: the charger's status notifications, and the file that reached the
bench's file server under the name the charger announced.
"""

from __future__ import annotations

import time

import pytest

from testbench.firmware.fileserver import safe_name
from testbench.procedures import firmware as fw

UPLOAD_WITHIN_S = 120.0
ARRIVED_WITHIN_S = 30.0


@pytest.mark.parametrize("scheme", ["http", "ftp"])
@pytest.mark.testcase(v16="TC_045_1_CS", v201="TC_N_25_CS", v21="TC_N_25_CS")  # (verify) 1.6, 2.1
def test_diagnostics_upload(charger, csms, file_server, scheme):
    """GetDiagnostics / GetLog(DiagnosticsLog): Uploading, Uploaded, and the file arrives."""
    if scheme not in file_server.schemes:
        pytest.skip(f"not applicable: the file server does not serve {scheme} "
                    "([files] in lab.toml)")
    since = time.time()
    request_id = fw.new_request_id()
    status, filename = fw.request_upload(charger, file_server.upload_url(scheme),
                                         request_id=request_id)
    assert status == "Accepted", f"charger answered the log request with status {status}"
    assert filename, ("charger named no file in its answer: it says it has no diagnostics "
                      "to upload")
    report = fw.follow_upload(charger, csms.clock, fw.UploadReport(filename, status),
                              UPLOAD_WITHIN_S, request_id=request_id)
    assert report.statuses == ["Uploading", "Uploaded"], (
        f"upload statuses {', '.join(report.statuses) or 'none'}; expected Uploading, "
        f"Uploaded ({report.describe()})")
    arrived = file_server.wait_for_upload(ARRIVED_WITHIN_S, name=safe_name(filename),
                                          since_wall_s=since)
    received = [f"{r.name} ({r.size} bytes)" for r in file_server.received(since)]
    assert arrived is not None, (
        f"charger reported {filename!r} Uploaded but no such file reached the file server "
        f"by {scheme} (received: {', '.join(received) or 'nothing'})")
    assert arrived.size > 0, f"the uploaded file {filename!r} is empty"
