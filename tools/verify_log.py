#!/usr/bin/env python3
"""Verify a seedvault audit log with nothing but Python's standard library.

    verify_log.py VAULT_DIR/vault.db        # read the database directly
    verify_log.py audit.jsonl               # or an `audit export` file

Checks what docs/audit-log.md specifies: entries numbered 1, 2, 3, ...;
each stored hash is SHA-256 of the stored body bytes; each body's "seq"
is its position and its "prev" is the previous entry's hash; the first
entry is the genesis ("vault.init") with prev = 64 zeros; every entry
names the same vault. Prints one line per problem and exits 3 if any,
else prints the head and exits 0.
"""
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


def verify(entries):
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
        prev = digest
        expected = seq + 1
    if count == 0:
        problems.append((0, "the log is empty (no genesis entry)"))
    return count, prev, problems


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    path = argv[1]
    with open(path, "rb") as f:
        is_db = f.read(16) == b"SQLite format 3\x00"
    count, head, problems = verify(entries_from_db(path) if is_db else entries_from_jsonl(path))
    for seq, problem in problems:
        print(f"TAMPERED entry {seq}: {problem}" if seq else f"TAMPERED log: {problem}")
    if problems:
        return 3
    print(f"audit log intact: {count} entries, head {head.hex()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
