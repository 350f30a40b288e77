#!/usr/bin/env bash
# Key ceremony: create the vault, one card per custodian, each custodian
# checks their own card, then the record everyone signs.
#
#   key-ceremony.sh --vault DIR --cards-out DIR --threshold M \
#       --custodian NAME --custodian NAME [...] \
#       [--passphrase-dir DIR] [--insecure-fast-kdf] [--record FILE]
#
# Passphrases are typed by each custodian on the terminal (seedvault asks,
# without echo, twice at init and once at the card check). For rehearsals
# and tests only, --passphrase-dir DIR (or SV_PASSPHRASE_DIR) names a
# directory holding NAME.txt for each custodian. Set SEEDVAULT to the binary
# if it is not on PATH; SV_NONINTERACTIVE=1 skips the "press Enter" pauses.
#
# Exit status: 0 when the vault exists and every card checked; otherwise
# the status of the failed seedvault command (1 refused, 2 usage).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh
source "$here/common.sh"

usage() { sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

vault="${SEEDVAULT_DIR:-}"
cards=""
threshold=""
custodians=()
pass_dir="${SV_PASSPHRASE_DIR:-}"
fast=()
record=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --vault) vault="${2:?}"; shift 2 ;;
        --cards-out) cards="${2:?}"; shift 2 ;;
        --threshold) threshold="${2:?}"; shift 2 ;;
        --custodian) custodians+=("${2:?}"); shift 2 ;;
        --passphrase-dir) pass_dir="${2:?}"; shift 2 ;;
        --insecure-fast-kdf) fast=(--insecure-fast-kdf); shift ;;
        --record) record="${2:?}"; shift 2 ;;
        -h|--help) usage ;;
        *) say "unknown argument: $1"; usage ;;
    esac
done
[[ -n "$vault" && -n "$cards" && -n "$threshold" && ${#custodians[@]} -ge 2 ]] || usage

step "1. The console and the binary"
check_binary
if [[ -e "$vault/vault.db" ]]; then
    die "$vault already holds a vault; a key ceremony makes a new one in an empty directory"
fi
if [[ -e "$cards" ]]; then
    [[ -d "$cards" ]] || die "$cards exists and is not a directory"
    if [[ -n "$(ls -A "$cards")" ]]; then
        die "$cards is not empty; use an empty directory (an old card must never be mistaken for a new one)"
    fi
fi
if swapon --show=NAME --noheadings 2>/dev/null | grep -q .; then
    say "WARNING: swap is on ($(swapon --show=NAME --noheadings | tr '\n' ' ')); the operator guide asks for no swap or encrypted swap"
fi
say "vault    $vault"
say "cards    $cards"
say "quorum   $threshold of ${#custodians[@]}: ${custodians[*]}"
[[ ${#fast[@]} -eq 0 ]] || say "WARNING: --insecure-fast-kdf: this is a TEST vault, never for real seeds"
pause "Every custodian present and the console offline?"

step "2. seedvault init"
init=("$SEEDVAULT" --vault "$vault" init --threshold "$threshold" --cards-out "$cards" "${fast[@]}")
for n in "${custodians[@]}"; do
    init+=(--custodian "$n")
done
if [[ -n "$pass_dir" ]]; then
    say "(passphrases read from files in $pass_dir: rehearsal or test)"
    for n in "${custodians[@]}"; do
        init+=(--passphrase-file "$(passphrase_file "$pass_dir" "$n")")
    done
else
    say "Each custodian in turn types their passphrase (at least 12 characters) twice, when seedvault asks."
fi
# stdout is the vault id alone; prompts and the summary go to the terminal.
vault_id="$("${init[@]}")"
[[ "$vault_id" =~ ^[0-9a-f]{16}$ ]] || die "init did not print a vault id (got: $vault_id)"

step "3. Each custodian checks their own card"
for n in "${custodians[@]}"; do
    card="$cards/$n.card"
    [[ -f "$card" ]] || die "init wrote no card for $n ($card)"
    pause "Custodian $n: take the keyboard."
    check=("$SEEDVAULT" --vault "$vault" card check "$card")
    if [[ -n "$pass_dir" ]]; then
        check+=(--passphrase-file "$(passphrase_file "$pass_dir" "$n")")
    fi
    "${check[@]}" >&2
done

step "4. The record"
vault_fpr="$("$SEEDVAULT" --vault "$vault" status --json | json_field vault_fingerprint)"
cert="$cards/vault-cert.asc"
[[ -f "$cert" ]] || die "init wrote no vault certificate ($cert)"
if command -v gpg >/dev/null 2>&1; then
    file_fpr="$(cert_fingerprint "$cert")"
    [[ "$file_fpr" == "$vault_fpr" ]] || die "vault-cert.asc has fingerprint $file_fpr, the vault says $vault_fpr"
fi
{
    printf 'seedvault key ceremony record\n'
    printf 'date (UTC)         %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    printf 'vault id           %s\n' "$vault_id"
    printf 'vault certificate  %s\n' "$(grouped "$vault_fpr")"
    printf 'quorum             %s of %s\n' "$threshold" "${#custodians[@]}"
    [[ ${#fast[@]} -eq 0 ]] || printf 'TEST VAULT         made with --insecure-fast-kdf: never for real seeds\n'
    printf '\nEach custodian initials each line:\n'
    for n in "${custodians[@]}"; do
        printf '  %-16s card checked (card OK) ____  passphrase known only to me ____\n' "$n"
        printf '  %-16s words written (seedvault card words, if the procedure asks) ____\n' ""
        printf '  %-16s card stored: ______________________  signature ____________\n' ""
    done
    printf '\nvault-cert.asc copied to the media for factories and customers ____\n'
    printf 'vault-cert.asc fingerprint compared with the line above ____\n'
    printf 'the ceremony console wiped or sealed as the procedure says ____\n'
} | if [[ -n "$record" ]]; then tee "$record"; else cat; fi
printf 'vault id: %s\n' "$vault_id"
