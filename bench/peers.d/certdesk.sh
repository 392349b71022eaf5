# certdesk as a peer of /work/shared/peer-bench/peers.sh (sourced by it):
#
#   PEERS_D=bench/peers.d PEERS="certdesk certbot lego" KEYS=ec256 \
#     SCENARIOS="single san10 seq20 batch20" RUNS=3 RESULTS=bench/results/peers \
#     WORK_ROOT=$(mktemp -d) /work/shared/peer-bench/peers.sh
#
# certdesk_cmd registers the account and adds the orders before peers.sh starts the clock
# (the builder's output is the timed script), so the timed part starts from an account that
# is already registered: only `certdesk order ... --wait` runs are timed. The certbot and lego
# rows of peers.sh include their registration; compare with that in mind.
# Needs the env of pebble-up.sh: ACME_DIR_URL, ACME_CA_BUNDLE, PEBBLE_MGMT_URL, CTS_DNS,
# HTTP01_PORT. CERTDESK_ROOT (default: this repository) finds .venv/bin/certdesk.

CERTDESK_ROOT=${CERTDESK_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
CERTDESK_PY=${CERTDESK_PY:-$CERTDESK_ROOT/.venv/bin/python}
CERTDESK_BIN=${CERTDESK_BIN:-$CERTDESK_ROOT/.venv/bin/certdesk}
PEER_SCENARIOS[certdesk]="single san10 seq20 batch20"

certdesk_version() {
  echo "certdesk $(cd "$CERTDESK_ROOT" && git rev-parse --short HEAD 2>/dev/null), $("$CERTDESK_PY" --version 2>&1)"
}

# certdesk_setup WORKDIR KEY CN [SAN ...]: account (registered) + one order, all untimed.
_certdesk_setup() {
  local w=$1 key=$2
  shift 2
  curl -sf --cacert "$ACME_CA_BUNDLE" "$PEBBLE_MGMT_URL/roots/0" > "$w/pebble-roots.pem" || return 1
  CERTDESK_HOME=$w/home "$CERTDESK_PY" - "$w" "$key" "$@" >>"$w/setup.log" 2>&1 <<'PY' || return 1
import os, sys
from engine.cli import main

w, key, *orders = sys.argv[1:]
acct = f"{w}/acct"
listen = f"127.0.0.1:{os.environ['HTTP01_PORT']}"
steps = [
    ["account", "create", "--supplier", "acme", "--server", os.environ["ACME_DIR_URL"],
     "--ca-bundle", os.environ["ACME_CA_BUNDLE"], "--email", "bench@example.test", "-a", acct],
    ["account", "set", "--resolver", os.environ["CTS_DNS"], "--trust-roots",
     f"{w}/pebble-roots.pem", "--validation-http-port", os.environ["HTTP01_PORT"], "-a", acct],
]
for spec in orders:  # "cn" or "cn,san,san..."
    cn, *sans = spec.split(",")
    argv = ["domain", "set", cn, "--challenge", "file-srv", "--http-listen", listen,
            "--key-type", key, "-a", acct]
    for san in sans:
        argv += ["--san", san]
    steps.append(argv)
for argv in steps:
    if main(["-q", *argv]) != 0:
        sys.exit(f"setup failed: certdesk {' '.join(argv)}")
PY
}

certdesk_cmd() {  # key scenario workdir
  local key=$1 scen=$2 w=$3 n all=() san=""
  local run="env CERTDESK_HOME=$w/home $CERTDESK_BIN -q order"
  [[ $scen == dns01 ]] && return 1   # challtestsrv takes no RFC 2136 updates
  (cd "$CERTDESK_ROOT" && case $scen in
    single) _certdesk_setup "$w" "$key" a1.example.test ;;
    san10) for n in $(names 10); do san+="${san:+,}$n"; done
           _certdesk_setup "$w" "$key" "$san" ;;
    seq20|batch20) read -ra all <<< "$(names 20)"; _certdesk_setup "$w" "$key" "${all[@]}" ;;
    *) exit 1 ;;
  esac) || { echo "certdesk: setup for $scen failed, see $w/setup.log" >&2; return 1; }
  case $scen in
    single|san10) echo "$run a1.example.test --wait -a $w/acct" ;;
    seq20) echo "for n in $(names 20); do $run \$n --wait -a $w/acct || exit 1; done" ;;
    batch20) echo "$run $(names 20) --wait -a $w/acct" ;;
  esac
}

certdesk_count() {  # the certificates of the orders, as files certdesk wrote
  find "$1/acct" -maxdepth 1 -name '*-certonly.pem' ! -name 'LE-*' 2>/dev/null | wc -l
}
