#!/usr/bin/env bash
# Builds every fuzz target (or those named) with libFuzzer on the stable
# toolchain: the coverage instrumentation cargo-fuzz adds with
# `--sanitizer none`, spelled out (see README.md for why no ASan).
# The binaries land in fuzz/target/x86_64-unknown-linux-gnu/release/.
set -euo pipefail
cd "$(dirname "$0")"
bins=()
for t in "$@"; do bins+=(--bin "$t"); done
export RUSTFLAGS="${RUSTFLAGS:-} -Cpasses=sancov-module \
 -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
 -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares \
 --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
exec cargo build --release --target x86_64-unknown-linux-gnu "${bins[@]}"
