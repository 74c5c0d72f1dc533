#!/usr/bin/env bash
# Set up the ISO 15118 emulators (EVCC and SECC of the `iso15118` PyPI package) for the bench.
#
# The package pins pydantic 1.10 and an exact cryptography version, so it lives in its own
# virtual environment, apart from the bench's .venv. Its EXI codec runs on Java (17 works).
# Idempotent: a second run with everything in place only checks and returns.
#
#   scripts/setup-iso15118.sh            # create/refresh .venv-iso15118 next to the repo root
#   ISO15118_VENV=/opt/v2g scripts/setup-iso15118.sh   # elsewhere (the bench reads the same var)
#
# Needs: python3 >= 3.9 with venv, network access to the package registry (first run only),
# Java >= 11 on PATH (installed with apt-get when missing and running as root), openssl
# (certificates for Plug & Charge are generated per run from the package's own script),
# iproute2 (`ip`; veth pairs and network namespaces, which need root or CAP_NET_ADMIN).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${ISO15118_VENV:-$ROOT/.venv-iso15118}"
SPEC="iso15118==0.31.*"
PYTHON="${PYTHON:-python3}"

say() { echo "setup-iso15118: $*"; }

# --- Java for the EXI codec --------------------------------------------------------------
if ! command -v java >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "java not found: installing openjdk-17-jre-headless with apt-get"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
    else
        say "java not found. Install a Java runtime >= 11 (e.g. 'apt-get install openjdk-17-jre-headless')" >&2
        exit 1
    fi
fi
say "$(java -version 2>&1 | head -n 1)"

for tool in ip openssl; do
    command -v "$tool" >/dev/null 2>&1 || say "warning: '$tool' not found (needed for sessions: iproute2 / openssl)" >&2
done

# --- the package in its own venv ---------------------------------------------------------
installed() {
    "$VENV/bin/python" - <<'PY' 2>/dev/null
import importlib.metadata as md, sys
v = md.version("iso15118")
md.version("aiofile")
sys.exit(0 if v.startswith("0.31.") else 1)
PY
}

if [ -x "$VENV/bin/python" ] && installed; then
    say "already set up in $VENV"
else
    say "creating $VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
    # aiofile: the EVCC reads its config file with it but the package does not declare it.
    "$VENV/bin/python" -m pip install -q "$SPEC" aiofile
fi

"$VENV/bin/python" - <<'PY'
import importlib.metadata as md
import iso15118, os
jar = os.path.join(os.path.dirname(iso15118.__file__), "shared", "EXICodec.jar")
assert os.path.isfile(jar), f"EXI codec jar missing at {jar}"
print(f"setup-iso15118: iso15118 {md.version('iso15118')}, pydantic {md.version('pydantic')}, "
      f"cryptography {md.version('cryptography')}, aiofile {md.version('aiofile')}")
PY
say "ready: $VENV"
