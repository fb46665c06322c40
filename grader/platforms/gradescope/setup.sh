#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image
# (Ubuntu), from the folder the bundle was unpacked into
# (/autograder/source). It installs what the kit needs and builds the
# grader, so that a submission's grading builds only the student's crate.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=/dev/null
. ./gradescope.env

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q build-essential pkg-config curl git jq valgrind bubblewrap \
  postgresql redis-server prometheus prometheus-alertmanager
if ! command -v cargo > /dev/null && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
  curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
fi
# shellcheck source=/dev/null
. "$HOME/.cargo/env"

cd kit
cargo build --release -q -p grader -p xtask
# One grading of the starter builds the baseline, the lab's tools and
# every dependency; a failure here (no services at image build) only
# leaves that work to the first submission.
cargo xtask grade -- --quiet grade --lab "$LAB" --target exercise > /dev/null || true
