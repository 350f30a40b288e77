"""Reads a seed file with privacyIDEA's own importers and prints what
privacyIDEA would enrol, as JSON: {serial: {type, otpkey, otplen, hashlib,
timeStep, counter}}.

argv: csv|pskc, path. `csv` is privacyidea.lib.importotp.parseOATHcsv, `pskc`
parsePSKCdata (plain PSKC). Both need a Flask application context with
flask_babel (privacyIDEA looks up its token classes and translations there);
a minimal app is enough, no database is touched.
"""
import json
import sys

from flask import Flask
from flask_babel import Babel


def normalize(token):
    """The fields a customer's codes depend on, with privacyIDEA's defaults."""
    out = {
        "type": token.get("type"),
        "otpkey": token.get("otpkey"),
        "otplen": int(token.get("otplen", 6)),
        "hashlib": token.get("hashlib", "sha1"),
    }
    if "timeStep" in token:
        out["timeStep"] = int(token["timeStep"])
    if "counter" in token:
        out["counter"] = int(token["counter"])
    return out


def main():
    mode, path = sys.argv[1], sys.argv[2]
    app = Flask("seedvault-interop")
    Babel(app)
    with app.app_context():
        from privacyidea.lib.importotp import parseOATHcsv, parsePSKCdata

        with open(path, encoding="utf-8") as f:
            data = f.read()
        if mode == "csv":
            tokens = parseOATHcsv(data)
        elif mode == "pskc":
            tokens, not_imported = parsePSKCdata(data)
            if not_imported:
                sys.exit(f"privacyIDEA did not import {sorted(not_imported)}")
        else:
            sys.exit(f"unknown mode {mode}")
    print(json.dumps({serial: normalize(t) for serial, t in tokens.items()}, sort_keys=True))


if __name__ == "__main__":
    main()
