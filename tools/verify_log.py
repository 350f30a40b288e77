#!/usr/bin/env python3
"""Verify a seedvault audit log with nothing but Python's standard library.

    verify_log.py VAULT_DIR/vault.db        # read the database directly
    verify_log.py audit.jsonl               # or an `audit export` file
    verify_log.py vault.db --checkpoint checkpoint.asc [--checkpoint ...]

Checks what docs/audit-log.md specifies: entries numbered 1, 2, 3, ...;
each stored hash is SHA-256 of the stored body bytes; each body's "seq"
is its position and its "prev" is the previous entry's hash; the first
entry is the genesis ("vault.init") with prev = 64 zeros; every entry
names the same vault. Prints one line per problem and exits 3 if any,
else prints the head and exits 0.

With --checkpoint FILE (a file written by `seedvault audit checkpoint`),
also checks that the log extends the checkpoint: it names the log's vault,
the log has at least `entries` entries, and entry `entries` hashes to
`head`. This catches truncation, rollback and forks, which the chain alone
cannot. It does NOT check the checkpoint's OpenPGP signature (the standard
library has no OpenPGP): check that with

    gpg --import vault-cert.asc && gpg --verify checkpoint.asc

before trusting what the checkpoint says.
"""
import argparse
import base64
import hashlib
import json
import sqlite3
import sys


def entries_from_db(path):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    for seq, body, stored in con.execute("SELECT seq, body, hash FROM audit ORDER BY seq"):
        if isinstance(body, str):
            body = body.encode()
        yield seq, bytes(body), bytes(stored or b"")


def entries_from_jsonl(path):
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            rec = json.loads(line)
            if "seq" not in rec or "body_b64" not in rec:
                continue  # header records of the export
            yield rec["seq"], base64.b64decode(rec["body_b64"]), bytes.fromhex(rec["hash"])


CHECKPOINT_MAGIC = "seedvault checkpoint v1"


def read_checkpoint(path):
    """The five fields of a checkpoint file (signature not checked)."""
    with open(path, "r", encoding="utf-8") as f:
        lines = f.read().split("\n")
    if any(l.rstrip() == "-----BEGIN PGP SIGNED MESSAGE-----" for l in lines):
        start = next(i for i, l in enumerate(lines) if l.rstrip() == "-----BEGIN PGP SIGNED MESSAGE-----")
        i = start + 1
        while i < len(lines) and lines[i].strip():  # armor headers ("Hash: ...")
            i += 1
        text = []
        for l in lines[i + 1:]:
            if l.rstrip() == "-----BEGIN PGP SIGNATURE-----":
                break
            text.append(l[2:] if l.startswith("- ") else l)
        lines = text
    while lines and lines[-1] == "":
        lines.pop()
    if len(lines) != 5 or lines[0] != CHECKPOINT_MAGIC:
        raise ValueError("not a seedvault checkpoint")
    fields = {}
    for line, name in zip(lines[1:], ["vault", "entries", "head", "time"]):
        prefix = name + ": "
        if not line.startswith(prefix):
            raise ValueError(f"expected a {name!r} line, found {line!r}")
        fields[name] = line[len(prefix):]
    fields["entries"] = int(fields["entries"])
    return fields


def check_checkpoint(cp, vault, count, hashes):
    """The problem with the log against checkpoint `cp`, or None."""
    if vault is not None and cp["vault"] != vault:
        return (f"it is a checkpoint of vault {cp['vault']}, not of this vault {vault} "
                "(the vault database was replaced, or this is another vault's checkpoint)")
    n = cp["entries"]
    if count < n or n not in hashes:
        return (f"the log has {count} entries but the checkpoint of {cp['time']} covers {n}: "
                "the log was truncated or rolled back to an older copy")
    if hashes[n].hex() != cp["head"]:
        return (f"entry {n} hashes to {hashes[n].hex()}, but the checkpoint of {cp['time']} says {cp['head']}: "
                f"the log forked (entries up to {n} were rewritten and their hashes recomputed, or replaced)")
    return None


def verify(entries, want=()):
    """Walks the chain; `want` are entry numbers whose hash to keep."""
    hashes = {}
    problems = []
    prev = bytes(32)
    expected = 1
    vault = None
    count = 0
    for seq, body, stored in entries:
        count += 1
        if seq != expected:
            if seq > expected:
                problems.append((seq, f"entries {expected}..{seq - 1} are missing (deleted)"))
            else:
                problems.append((seq, f"out of order after entry {expected - 1}"))
        digest = hashlib.sha256(body).digest()
        if digest != stored:
            problems.append((seq, "contents do not match the stored hash (entry altered)"))
        try:
            e = json.loads(body)
            if not isinstance(e, dict):
                raise ValueError
        except ValueError:
            problems.append((seq, "not a valid entry (altered)"))
        else:
            if e.get("seq") != seq:
                problems.append((seq, f"entry says it is entry {e.get('seq')} (moved or renumbered)"))
            if e.get("prev") != prev.hex():
                problems.append((seq, f"does not follow entry {seq - 1} (chain broken)"))
            if vault is None:
                vault = e.get("vault")
            elif e.get("vault") != vault:
                problems.append((seq, f"belongs to vault {e.get('vault')}, not {vault}"))
            if seq == 1 and e.get("event") != "vault.init":
                problems.append((seq, "the first entry is not the vault's genesis"))
        if seq in want:
            hashes[seq] = digest
        prev = digest
        expected = seq + 1
    if count == 0:
        problems.append((0, "the log is empty (no genesis entry)"))
    return count, prev, problems, vault, hashes


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("log", help="vault.db or an `audit export` file")
    parser.add_argument("--checkpoint", action="append", default=[], metavar="FILE",
                        help="a saved checkpoint the log must extend (signature NOT checked; use gpg --verify)")
    args = parser.parse_args(argv[1:])
    checkpoints = []
    for path in args.checkpoint:
        try:
            checkpoints.append((path, read_checkpoint(path)))
        except (OSError, ValueError) as e:
            print(f"TAMPERED checkpoint {path}: not a seedvault checkpoint: {e}")
            return 3
    with open(args.log, "rb") as f:
        is_db = f.read(16) == b"SQLite format 3\x00"
    entries = entries_from_db(args.log) if is_db else entries_from_jsonl(args.log)
    want = {cp["entries"] for _, cp in checkpoints}
    count, head, problems, vault, hashes = verify(entries, want)
    for seq, problem in problems:
        print(f"TAMPERED entry {seq}: {problem}" if seq else f"TAMPERED log: {problem}")
    bad_checkpoints = 0
    if not problems and checkpoints:
        print(f"hash chain consistent: {count} entries, head {head.hex()}")
    for path, cp in checkpoints:
        problem = check_checkpoint(cp, vault, count, hashes)
        if problem:
            bad_checkpoints += 1
            print(f"TAMPERED checkpoint {path}: {problem}")
        else:
            print(f"checkpoint {path}: the log extends it ({cp['entries']} entries, {cp['time']})")
    if problems or bad_checkpoints:
        return 3
    print(f"audit log intact: {count} entries, head {head.hex()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
