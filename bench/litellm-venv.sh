#!/usr/bin/env bash
# LiteLLM's proxy (litellm[proxy] from PyPI) in a virtual environment of its own, installed once
# and kept under ~/.cache: the peer of bench/gateway-vs-litellm.sh. Prints the environment's path.
# scripts/install-dependencies.sh --with-test-peers runs it, so the tests' smoke run finds it.
set -euo pipefail
venv="${XDG_CACHE_HOME:-$HOME/.cache}/tokenwatt-bench/litellm-venv"
if [ ! -x "$venv/bin/litellm" ]; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q 'litellm[proxy]' >&2
fi
echo "$venv"
