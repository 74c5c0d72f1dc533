"""The bench's OCPP-J central system (1.6J, 2.0.1, 2.1) and its synchronous facade."""

from testbench.csms.connection import CallErrorReply, OcppConnection, answers
from testbench.csms.facade import ChargerHandle, Csms
from testbench.csms.failures import (
    CallErrorReceived,
    CallTimeout,
    ConnectionLost,
    ExpectationFailed,
    InvalidCallResult,
    NotConnected,
)
from testbench.csms.messages import CallErrorInfo, CallOutcome, Message
from testbench.csms.policies import AUTHORIZATION_STATUSES, BOOT_STATUSES
from testbench.csms.server import CentralSystem
from testbench.csms.session import ChargerSession, ConnectionRecord
from testbench.csms.state import ChargerState, OpenTransaction

__all__ = [
    "AUTHORIZATION_STATUSES",
    "BOOT_STATUSES",
    "CallErrorInfo",
    "CallErrorReceived",
    "CallErrorReply",
    "CallOutcome",
    "CallTimeout",
    "CentralSystem",
    "ChargerHandle",
    "ChargerSession",
    "ChargerState",
    "ConnectionLost",
    "ConnectionRecord",
    "Csms",
    "ExpectationFailed",
    "InvalidCallResult",
    "Message",
    "NotConnected",
    "OcppConnection",
    "OpenTransaction",
    "answers",
]
