# Shared by scripts/serve.sh and scripts/test.sh (sourced, not run): the project's virtual
# environment and the Debian packages the commands use. Works on a stock Debian 12 or
# Ubuntu 24.04 Python (PEP 668: nothing is installed into the system's Python).
#
# Environment:
#   RULESC_VENV=DIR   the virtual environment to make and reuse (default: .venv)
#   RULESC_NO_APT=1   never run apt-get, even as root (only say what is missing)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${RULESC_VENV:-$ROOT/.venv}"

say() { printf '==> %s\n' "$*" >&2; }

# A Python 3.11+ to make the venv with.
find_python() {
    local candidate
    for candidate in python3 python3.13 python3.12 python3.11; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    say "rulesc needs Python 3.11 or newer (found: $(python3 --version 2>&1 || echo none))."
    say "On Debian/Ubuntu: sudo apt-get install -y python3 python3-venv"
    return 1
}

# Make .venv once (reused after), and (re)install the project into it when pyproject.toml
# or the extras asked for changed since the last install.
ensure_venv() {
    local extras="$1" python stamp want
    if [ ! -x "$VENV/bin/python" ]; then
        python="$(find_python)" || exit 1
        say "making the project's virtual environment in $VENV"
        if ! "$python" -m venv "$VENV"; then
            rm -rf "$VENV"
            say "could not make a virtual environment: sudo apt-get install -y python3-venv"
            exit 1
        fi
    fi
    stamp="$VENV/.rulesc-installed"
    want="$extras $(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        say "installing rulesc${extras:+ [$extras]} into $VENV (editable)"
        "$VENV/bin/python" -m pip install -q --upgrade pip
        "$VENV/bin/python" -m pip install -q -e "$ROOT${extras:+[$extras]}"
        printf '%s' "$want" >"$stamp"
    else
        say "reusing $VENV (rulesc${extras:+ [$extras]} is installed)"
    fi
    export PATH="$VENV/bin:$PATH"
}

# ensure_packages COMMAND:PACKAGE ...: install the Debian packages whose command is missing
# when we are root with apt-get (and RULESC_NO_APT is unset); otherwise say the exact line
# to run. What stays missing is left to the caller (the tests skip, saying why).
ensure_packages() {
    local pair missing=()
    for pair in "$@"; do
        # (Debian keeps PostgreSQL's programs in /usr/lib/postgresql/VERSION/bin)
        command -v "${pair%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${pair%%:*}" ] ||
            compgen -G "/usr/lib/postgresql/*/bin/${pair%%:*}" >/dev/null ||
            missing+=("${pair#*:}")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && [ -z "${RULESC_NO_APT:-}" ]; then
        say "installing Debian packages: ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        say "missing Debian packages: ${missing[*]}"
        say "  to install them: sudo apt-get install -y ${missing[*]}"
        say "  (the tests that need them are skipped until then, each saying why)"
    fi
}
