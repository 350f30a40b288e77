# shellcheck shell=bash
# Shared helpers of the ceremony scripts. Sourced, never run.
#
# Rules every script keeps: no passphrase on a command line or in a log
# (seedvault asks on the terminal, or reads the file named by
# --passphrase-file); stop at the first failure (set -euo pipefail);
# say what is about to happen before it happens.

SEEDVAULT="${SEEDVAULT:-seedvault}"

say() { printf '%s\n' "$*" >&2; }
step() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'ceremony: %s\n' "$*" >&2; exit 1; }

# True when a person is at the keyboard (and SV_NONINTERACTIVE is not set).
interactive() { [[ -z "${SV_NONINTERACTIVE:-}" && -t 0 ]]; }

# pause MESSAGE: waits for Enter when a person is present.
pause() {
    if interactive; then
        read -r -p "$1 [Enter] " _ </dev/tty
    fi
}

# confirm QUESTION: y/N from the terminal; non-interactive runs must have
# said yes up front with SV_ASSUME_YES=1.
confirm() {
    if interactive; then
        local a
        read -r -p "$1 [y/N] " a </dev/tty
        [[ "$a" == y || "$a" == Y || "$a" == yes ]]
    else
        [[ "${SV_ASSUME_YES:-}" == 1 ]]
    fi
}

check_binary() {
    command -v "$SEEDVAULT" >/dev/null 2>&1 || die "cannot find the seedvault binary ($SEEDVAULT); set SEEDVAULT=/path/to/seedvault"
    local path
    path="$(command -v "$SEEDVAULT")"
    say "binary   $path"
    say "version  $("$SEEDVAULT" --version)"
    if command -v sha256sum >/dev/null 2>&1; then
        say "sha256   $(sha256sum "$path" | cut -d' ' -f1)  (compare with the verified build record)"
    fi
}

# passphrase_file DIR NAME: DIR/NAME.txt when DIR is set and the file exists.
passphrase_file() {
    local dir="$1" name="$2"
    [[ -n "$dir" ]] || return 1
    [[ -f "$dir/$name.txt" ]] || die "no passphrase file $dir/$name.txt for $name"
    printf '%s' "$dir/$name.txt"
}

# Groups a fingerprint in fours, the way people read it aloud.
grouped() { printf '%s' "$1" | sed 's/\(....\)/\1 /g; s/ $//'; }

# cert_fingerprint FILE: primary fingerprint of an armored certificate, by gpg.
cert_fingerprint() {
    local home
    home="$(mktemp -d)"
    GNUPGHOME="$home" gpg --batch --quiet --with-colons --import-options show-only --import "$1" 2>/dev/null \
        | awk -F: '$1=="fpr"{print $10; exit}'
    rm -rf "$home"
}

# json_field KEY: a top-level field of the one JSON object on stdin
# (seedvault's --json output is pretty-printed, one key per line).
json_field() {
    awk -v key="\"$1\":" '$1 == key && /^  "/ { v = $2; gsub(/^"|",?$|,$/, "", v); print v; exit }'
}

# request_field REQ KEY: a field of request REQ in `request list --json`.
request_field() {
    awk -v req="\"$1\"," -v key="\"$2\":" '
        /^  \{/ { inreq = 0 }
        $1 == "\"id\":" && $2 == req { inreq = 1 }
        inreq && $1 == key { v = $2; for (i = 3; i <= NF; i++) v = v " " $i; gsub(/^"|",?$|,$/, "", v); print v; exit }'
}
