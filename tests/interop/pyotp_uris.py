"""Reads an otpauth file (one URI a line) with pyotp.parse_uri and prints
what pyotp understood, as JSON: one object per URI with type, name, issuer,
secret (hex), digits, algorithm, and interval (TOTP) or counter (HOTP).

argv: path.
"""
import base64
import json
import sys

import pyotp


def secret_hex(b32):
    padded = b32.upper() + "=" * (-len(b32) % 8)
    return base64.b32decode(padded).hex()


def main():
    out = []
    with open(sys.argv[1], encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            otp = pyotp.parse_uri(line)
            item = {
                "name": otp.name,
                "issuer": otp.issuer,
                "secret": secret_hex(otp.secret),
                "digits": otp.digits,
                "algorithm": otp.digest().name.upper(),
            }
            if isinstance(otp, pyotp.TOTP):
                item["type"] = "totp"
                item["interval"] = otp.interval
            else:
                item["type"] = "hotp"
                item["counter"] = otp.initial_count
            out.append(item)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
