#!/usr/bin/env bash
# Export ceremony: an approved seed request goes onto the customer's medium.
#
#   export-ceremony.sh --request REQ --media DIR --card CARD [--card CARD ...] \
#       [--vault DIR] [--passphrase-file F ...] [--passphrase-dir DIR] \
#       [--expect-fingerprint FPR]
#
# Shows the request list and the request, has the officer confirm the
# recipient fingerprint the customer read aloud (out of band), runs
# `seedvault export` with the quorum's cards, puts vault-cert.asc on the
# medium, verifies the manifest with gpg against that certificate, checks
# the bundle's SHA-256 against the manifest, and prints what to hand over.
#
# Passphrases are typed on the terminal. For tests only: --passphrase-file F
# (paired with --card by position) or --passphrase-dir DIR (or
# SV_PASSPHRASE_DIR) holding NAME.txt for card NAME.card. Without a
# terminal (or with SV_NONINTERACTIVE=1) the fingerprint is confirmed only
# by --expect-fingerprint (or SV_EXPECT_FINGERPRINT), never assumed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh
source "$here/common.sh"

usage() { sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

req=""
media=""
vault_args=()
cards=()
passes=()
pass_dir="${SV_PASSPHRASE_DIR:-}"
expect="${SV_EXPECT_FINGERPRINT:-}"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --request) req="${2:?}"; shift 2 ;;
        --media) media="${2:?}"; shift 2 ;;
        --vault) vault_args=(--vault "${2:?}"); shift 2 ;;
        --card) cards+=("${2:?}"); shift 2 ;;
        --passphrase-file) passes+=("${2:?}"); shift 2 ;;
        --passphrase-dir) pass_dir="${2:?}"; shift 2 ;;
        --expect-fingerprint) expect="${2:?}"; shift 2 ;;
        -h|--help) usage ;;
        *) say "unknown argument: $1"; usage ;;
    esac
done
[[ -n "$req" && -n "$media" && ${#cards[@]} -ge 1 ]] || usage
sv() { "$SEEDVAULT" "${vault_args[@]}" "$@"; }

step "1. The console"
check_binary
command -v gpg >/dev/null 2>&1 || die "gpg is needed to verify the manifest"
[[ -d "$media" ]] || die "$media does not exist (is the medium mounted?)"
vault_fpr="$(sv status --json | json_field vault_fingerprint)"
[[ "$vault_fpr" =~ ^[0-9A-F]{40}$ ]] || die "cannot read the vault's fingerprint from seedvault status"
cert="$media/vault-cert.asc"
# A certificate already on the medium is what the customer will trust: it
# must be this vault's, or the ceremony stops before anything is written.
if [[ -e "$cert" && "$(cert_fingerprint "$cert")" != "$vault_fpr" ]]; then
    die "$cert on the medium is not this vault's certificate ($vault_fpr); remove it and check where it came from"
fi

step "2. Seed requests"
sv request list >&2
list="$(sv request list --json)"
field() { request_field "$req" "$1" <<<"$list"; }
[[ -n "$(field state)" ]] || die "request $req does not exist"
state="$(field state)"
order="$(field order_id)"
format="$(field format)"
fpr="$(field recipient_fingerprint)"
expires="$(field expires_at)"

step "3. Request $req"
say "order        $order"
say "requester    $(field requester)"
say "format       $format"
say "serials      $(field serials)"
say "created by   $(field created_by)"
say "decided by   $(field decided_by)"
say "state        $state"
[[ "$(field reexport_reason)" == null ]] || say "RE-EXPORT    $(field reexport_reason)"
if [[ "$expires" =~ ^[0-9]+$ ]]; then
    say "approval expires $(date -u -d "@$expires" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || echo "$expires (unix time)")"
fi
[[ "$state" == approved ]] || die "request $req is $state; only an approved request can be exported"
say ""
say "recipient    $(grouped "$fpr")"

step "4. The recipient fingerprint"
norm() { printf '%s' "$1" | tr -d ' :' | tr '[:lower:]' '[:upper:]'; }
if [[ -n "$expect" ]]; then
    [[ "$(norm "$expect")" == "$fpr" ]] || die "the request's recipient is $fpr, not the expected $(norm "$expect"); do not export"
    say "matches the expected fingerprint"
elif interactive; then
    say "Read the fingerprint above to the customer on a channel you trust (phone call you"
    say "placed to the number on file), or compare it with the one they sent in writing."
    read -r -p "Type the LAST 8 characters of the fingerprint the customer confirmed: " typed </dev/tty
    [[ "$(norm "$typed")" == "${fpr: -8}" ]] || die "that does not match ${fpr: -8}; do not export"
else
    die "no terminal: give --expect-fingerprint FPR (the fingerprint confirmed with the customer)"
fi

step "5. seedvault export (the quorum's cards)"
export_args=(export "$req" --media "$media")
i=0
for c in "${cards[@]}"; do
    export_args+=(--card "$c")
    if [[ ${#passes[@]} -gt 0 ]]; then
        [[ $i -lt ${#passes[@]} ]] || die "fewer --passphrase-file than --card"
        export_args+=(--passphrase-file "${passes[$i]}")
    elif [[ -n "$pass_dir" ]]; then
        export_args+=(--passphrase-file "$(passphrase_file "$pass_dir" "$(basename "$c" .card)")")
    fi
    i=$((i + 1))
done
sv "${export_args[@]}" >&2
bundle="$media/$order-$req.$format.asc"
manifest="$media/$order-$req.manifest.asc"
[[ -f "$bundle" && -f "$manifest" ]] || die "export did not leave $bundle and $manifest"

step "6. The vault certificate on the medium"
if [[ -e "$cert" ]]; then
    [[ "$(cert_fingerprint "$cert")" == "$vault_fpr" ]] || die "$cert on the medium is not this vault's certificate ($vault_fpr)"
    say "$cert already there, fingerprint $vault_fpr"
else
    sv vault-cert >"$cert"
    say "wrote $cert ($vault_fpr)"
fi

step "7. Verify the manifest with gpg, against the certificate on the medium"
home="$(mktemp -d)"
trap 'rm -rf "$home"' EXIT
GNUPGHOME="$home" gpg --batch --quiet --import "$cert" 2>/dev/null
status="$(GNUPGHOME="$home" gpg --batch --status-fd 1 --verify "$manifest" 2>/dev/null || true)"
grep -q "^\[GNUPG:\] VALIDSIG $vault_fpr " <<<"$status" \
    || die "gpg does not accept $manifest as signed by the vault key $vault_fpr"
say "gpg: good signature on the manifest by the vault key $(grouped "$vault_fpr")"
manifest_sha="$(sed -n 's/^bundle-sha256: \([0-9a-f]\{64\}\)$/\1/p' "$manifest")"
manifest_fpr="$(sed -n 's/^recipient: \([0-9A-F]\{40\}\)$/\1/p' "$manifest")"
bundle_sha="$(sha256sum "$bundle" | cut -d' ' -f1)"
[[ "$manifest_sha" == "$bundle_sha" ]] || die "the bundle's SHA-256 $bundle_sha differs from the manifest's $manifest_sha"
[[ "$manifest_fpr" == "$fpr" ]] || die "the manifest names recipient $manifest_fpr, the request $fpr"
if grep -q '^test-vault: yes' "$manifest"; then
    say "WARNING: the manifest says TEST VAULT: these are not real seeds"
fi

step "8. Hand over"
printf 'bundle         %s\n' "$bundle"
printf 'bundle sha256  %s\n' "$bundle_sha"
printf 'manifest       %s (verified)\n' "$manifest"
printf 'vault cert     %s (%s)\n' "$cert" "$(grouped "$vault_fpr")"
printf 'recipient      %s\n' "$(grouped "$fpr")"
printf 'manifest verified: yes\n'
