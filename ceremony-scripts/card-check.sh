#!/usr/bin/env bash
# One custodian checks their own card against the vault, alone: the card
# opens with their passphrase and its share matches the vault's record of
# it. No other card is needed and nothing in the vault changes except the
# audit log (a wrong passphrase is logged as a refused attempt).
#
#   card-check.sh CARD [--vault DIR] [--passphrase-file F] [--words]
#
# The passphrase is asked on the terminal; for tests only, --passphrase-file
# F (or SV_PASSPHRASE_FILE) reads it from a file. --words then shows the
# card's SLIP-0039 words for a paper backup (logged as card.words_shown):
# write them down, out of sight of everyone else and of any camera.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh
source "$here/common.sh"

usage() { sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

card=""
vault_args=()
pass="${SV_PASSPHRASE_FILE:-}"
words=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --vault) vault_args=(--vault "${2:?}"); shift 2 ;;
        --passphrase-file) pass="${2:?}"; shift 2 ;;
        --words) words=1; shift ;;
        -h|--help) usage ;;
        -*) say "unknown argument: $1"; usage ;;
        *) [[ -z "$card" ]] || usage; card="$1"; shift ;;
    esac
done
[[ -n "$card" ]] || usage
[[ -f "$card" ]] || die "no card at $card (is the custodian's medium mounted?)"

pass_args=()
[[ -z "$pass" ]] || pass_args=(--passphrase-file "$pass")

check_binary
step "Checking $card"
"$SEEDVAULT" "${vault_args[@]}" card check "$card" "${pass_args[@]}"

if [[ "$words" == 1 ]]; then
    step "Paper backup"
    say "The words are shown next. Anyone holding enough of them holds the master key."
    say "(seedvault asks for the passphrase once more before showing them.)"
    if confirm "Is the screen out of sight of everyone else?"; then
        "$SEEDVAULT" "${vault_args[@]}" card words "$card" "${pass_args[@]}"
        pause "Written down and checked word by word? The screen is cleared next."
        if interactive; then clear; fi
    else
        say "Words not shown."
    fi
fi
