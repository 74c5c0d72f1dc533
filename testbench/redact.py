"""Redaction of secrets in traces, logs, journals and reports.

What is redacted (value replaced by ``[REDACTED]``, the structure around it kept):

- OCPP payload fields holding credentials: any key naming a password, secret, PIN or
  private key (``basicAuthPassword``, ``apnPassword``, ``simPin``, VPN ``password`` and
  ``key`` ...); the ``value`` of a 1.6 configuration key ``AuthorizationKey``
  (ChangeConfiguration, GetConfiguration); the values of a 2.x device-model variable
  ``BasicAuthPassword`` (or any variable naming a password, PIN or key: SetVariables,
  GetVariables, NotifyReport, NotifyEvent).
- PEM private-key blocks (``-----BEGIN ... PRIVATE KEY-----`` .. ``-----END ...``), also
  inside JSON strings with escaped newlines.
- HTTP ``Authorization`` / ``Proxy-Authorization`` header values (the scheme is kept),
  passwords in URLs (``wss://user:pw@host``) and ``password=...`` pairs in free text.
- Every value registered with ``register_secret`` (the bench registers each password it
  hands to a connection check, and its HTTP Basic token), wherever it appears.

``redact_text`` and ``redact_payload`` never modify their input and never raise.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from typing import Any

__all__ = [
    "REDACTED",
    "RedactingFilter",
    "install_log_redaction",
    "redact_frame",
    "redact_payload",
    "redact_text",
    "register_secret",
]

REDACTED = "[REDACTED]"

MIN_SECRET_CHARS = 6
"""Registered values shorter than this are not searched for in free text (too many false
hits); structural rules still redact them."""

# Payload keys whose value is a secret (case-insensitive, whole key).
_SECRET_KEY = re.compile(
    r"(?i)^(?:[a-z0-9_]*(?:password|passwd|passphrase|secret)[a-z0-9_]*|simpin|pin"
    r"|authorizationkey|privatekey|private_key|apikey|api_key)$")
# Device-model variable names / 1.6 configuration keys whose value is a secret.
_SECRET_SETTING = re.compile(
    r"(?i)(password|passwd|passphrase|secret|simpin|authorizationkey|privatekey|vpnkey)")
# Keys of a 2.x device-model entry that carry the variable's value.
_VALUE_KEYS = ("attributeValue", "actualValue", "value")
# A VPN block ({server, user, group, password, key, type}): its "key" is the shared secret.
_VPN_HINTS = ("server", "user", "group")

_PEM_BEGIN = re.compile(r"-----BEGIN ((?:[A-Z0-9]{1,20} ){0,4}PRIVATE KEY)-----")
_SCHEMES = r"(?:basic|bearer|digest|negotiate|ntlm|token)"
_AUTH_HEADER = re.compile(
    r"(?i)(\b(?:proxy-)?authorization\b[\"']?\s*[:=]\s*[\"']?)"
    rf"(?:({_SCHEMES})(\s+))?(?!\[REDACTED\])(?!{_SCHEMES}\s)([^\s\"',;}}\]]+)")
# Bounded repetitions throughout: a charger controls this text, and an unbounded pattern
# that backtracks would let one frame stall the event loop.
_URL_PASSWORD = re.compile(
    r"(?i)\b([a-z][a-z0-9+.-]{0,20}://[^/\s:@\"']{1,256}):([^@\s/\"']{1,256})@")
_PAIR = re.compile(
    r"(?i)([\"']?\b[a-z0-9_]{0,64}(?:password|passwd|passphrase|secret|simpin|authorizationkey)"
    r"\b[\"']?\s*[:=]\s*)(\[REDACTED\]|\"(?:[^\"\\]|\\.)*\"|'[^']*'|[^\s,;}\]]+)")
# {"key": "AuthorizationKey", "value": "..."} in JSON or Python-repr text.
_KEY_VALUE = re.compile(
    r"(?i)([\"']key[\"']\s{0,8}:\s{0,8}[\"'][^\"']{0,64}(?:authorizationkey|password)"
    r"[^\"']{0,64}[\"']\s{0,8},\s{0,8}[\"']value[\"']\s{0,8}:\s{0,8})([\"'])([^\"']*)\2")
# Cheap pre-check: could this text hold anything to redact at all?
_TRIGGER = re.compile(
    r"(?i)password|passwd|passphrase|secret|simpin|\"pin\"|authorizationkey|private ?key"
    r"|authorization|://[^/\s\"']*@|\"key\"|apikey|api_key")

_lock = threading.Lock()
_registered: frozenset[str] = frozenset()


def register_secret(value: str | None, *, user: str | None = None) -> None:
    """Redact ``value`` wherever it appears from now on (also its JSON-escaped form).

    With ``user``, the HTTP Basic token ``base64(user:value)`` is registered too.
    """
    global _registered
    if not value:
        return
    forms = {value, json.dumps(value)[1:-1]}
    if user is not None:
        forms.add(base64.b64encode(f"{user}:{value}".encode()).decode("ascii"))
    forms = {f for f in forms if len(f) >= MIN_SECRET_CHARS}
    if not forms:
        return
    with _lock:
        _registered = _registered | forms


def _registered_secrets() -> frozenset[str]:
    return _registered


# ---------------------------------------------------------------------------- payloads
def redact_payload(payload: Any) -> Any:
    """A copy of a JSON-like value (dict, list, str ...) with every secret redacted."""
    try:
        return _redact_value(payload, 0)
    except RecursionError:
        return REDACTED  # absurdly deep: nothing of it is shown


def _redact_value(value: Any, depth: int) -> Any:
    if isinstance(value, dict):
        return _redact_dict(value, depth)
    if isinstance(value, list | tuple):
        return [_redact_value(v, depth + 1) for v in value]
    if isinstance(value, str):
        return redact_text(value) if value else value
    return value


def _redact_dict(d: dict[Any, Any], depth: int) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    vpn = any(h in d for h in _VPN_HINTS)
    secret_setting = _names_secret_setting(d)
    for key, value in d.items():
        secret_key = isinstance(key, str) and bool(_SECRET_KEY.match(key))
        if secret_key or (vpn and key == "key") or (secret_setting and key in _VALUE_KEYS):
            out[key] = _mask(value)
        elif secret_setting and key == "variableAttribute" and isinstance(value, list):
            out[key] = [_mask_attribute(a, depth) for a in value]
        else:
            out[key] = _redact_value(value, depth + 1)
    return out


def _names_secret_setting(d: dict[Any, Any]) -> bool:
    """A 1.6 ``{"key": "AuthorizationKey", "value": ...}`` or a 2.x entry whose
    ``variable.name`` names a password."""
    key = d.get("key")
    if isinstance(key, str) and _SECRET_SETTING.search(key) and "value" in d:
        return True
    variable = d.get("variable")
    if isinstance(variable, dict):
        name = variable.get("name")
        return isinstance(name, str) and bool(_SECRET_SETTING.search(name))
    return False


def _mask_attribute(attribute: Any, depth: int) -> Any:
    if isinstance(attribute, dict):
        return {k: (_mask(v) if k == "value" else _redact_value(v, depth + 1))
                for k, v in attribute.items()}
    return _redact_value(attribute, depth + 1)


def _mask(value: Any) -> Any:
    if value is None or value == "" or isinstance(value, bool):
        return value
    return REDACTED


# ---------------------------------------------------------------------------- text
def redact_text(text: str) -> str:
    """``text`` with every secret redacted (JSON text keeps its structure)."""
    if not isinstance(text, str) or not text:
        return text
    try:
        return _redact_text(text)
    except Exception:  # noqa: BLE001 - redaction must never break logging or reporting
        return _redact_pem(text)


def _redact_text(text: str) -> str:
    secrets = _registered_secrets()
    if secrets:
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
    if not _TRIGGER.search(text):
        return text
    stripped = text.lstrip()
    if stripped[:1] in ("[", "{"):
        redacted_json = _redact_json_text(text)
        if redacted_json is not None:
            return redacted_json
    text = _redact_pem(text)
    text = _KEY_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}{m.group(2)}", text)
    text = _AUTH_HEADER.sub(_auth_replacement, text)
    text = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}:{REDACTED}@", text)
    return _PAIR.sub(_pair_replacement, text)


def _redact_json_text(text: str) -> str | None:
    """Redacted JSON text if ``text`` is JSON (unchanged text if nothing was secret)."""
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return None
    redacted = redact_payload(parsed)
    if redacted == parsed:
        return text
    return json.dumps(redacted, separators=(",", ":"), ensure_ascii=True)


def redact_frame(text: str | bytes) -> tuple[str, bool]:
    """An OCPP-J frame for a trace: (text, redacted?). Frames without secrets stay exact."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    redacted = redact_text(text)
    return redacted, redacted != text


def _redact_pem(text: str) -> str:
    """Replace the body of every PEM private-key block (to its END line; or, cut short, to
    the next double quote or the end of the text)."""
    if "PRIVATE KEY-----" not in text:
        return text
    out: list[str] = []
    pos = 0
    for m in _PEM_BEGIN.finditer(text):
        if m.start() < pos:
            continue  # inside a block already redacted
        label = m.group(1)
        end_line = f"-----END {label}-----"
        end = text.find(end_line, m.end())
        quote = text.find('"', m.end())
        if end < 0 or (0 <= quote < end):
            stop = quote if quote >= 0 else len(text)
        else:
            stop = end + len(end_line)
        out.append(text[pos:m.start()])
        out.append(f"-----BEGIN {label}-----{REDACTED}{end_line}")
        pos = stop
    out.append(text[pos:])
    return "".join(out)


def _auth_replacement(m: re.Match[str]) -> str:
    scheme = (m.group(2) or "") + (m.group(3) or "")
    return f"{m.group(1)}{scheme}{REDACTED}"


def _pair_replacement(m: re.Match[str]) -> str:
    value = m.group(2)
    if value == REDACTED:
        return m.group(0)
    if value.startswith('"'):
        return f'{m.group(1)}"{REDACTED}"'
    if value.startswith("'"):
        return f"{m.group(1)}'{REDACTED}'"
    return f"{m.group(1)}{REDACTED}"


# ---------------------------------------------------------------------------- logging
class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message of every record it sees
    (dict and list arguments structurally, before formatting)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            if isinstance(record.args, tuple) and any(
                    isinstance(a, dict | list) for a in record.args):
                record.args = tuple(redact_payload(a) if isinstance(a, dict | list) else a
                                    for a in record.args)
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is logging's problem, not ours
            return True
        redacted = redact_text(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


_FILTER = RedactingFilter()


def install_log_redaction(*loggers: logging.Logger | str) -> None:
    """Redact records logged on these loggers (default: the root logger's handlers).

    A filter on a logger only sees records created on that very logger, so the bench puts
    it on the loggers that may log secrets (``websockets.server`` logs request headers
    at DEBUG) and on the handlers of the root logger.
    """
    if not loggers:
        for handler in logging.getLogger().handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
        return
    for item in loggers:
        logger = logging.getLogger(item) if isinstance(item, str) else item
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
