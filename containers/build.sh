#!/usr/bin/env bash
# Build the m3 images from the repo's one pinned dependency list (requirements.lock):
#   containers/build.sh [docker|apptainer]    docker (default): image m3:<lock hash> and m3:latest;
#                                             apptainer: that, then containers/m3.sif from containers/m3.def
# Environment: BASE_IMAGE (default debian:bookworm-slim), TORCH_INDEX_URL (default PyPI: the CUDA 13.0 build),
# M3_WHEELS (a folder of wheels pip may use first), M3_EXTRA_CA (a CA bundle for pip behind a TLS proxy).
# Prints the image id and tag (and the .sif's sha256), to record beside results (meta.json has the code version).
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-docker}"
case "$what" in docker|apptainer) ;; *) echo "usage: containers/build.sh [docker|apptainer]" >&2; exit 2 ;; esac

tag="m3:$(sha256sum requirements.lock | cut -c1-12)"
context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
cp requirements.lock "$context/"
mkdir "$context/wheels"
if [ -n "${M3_WHEELS:-}" ]; then cp "$M3_WHEELS"/*.whl "$context/wheels/"; fi
if [ -n "${M3_EXTRA_CA:-}" ]; then cp "$M3_EXTRA_CA" "$context/extra-ca.crt"; fi

docker build -f containers/Dockerfile -t "$tag" -t m3:latest \
    --build-arg "BASE_IMAGE=${BASE_IMAGE:-debian:bookworm-slim}" \
    --build-arg "TORCH_INDEX_URL=${TORCH_INDEX_URL:-https://pypi.org/simple}" "$context"
echo "docker image: $tag = $(docker image inspect --format '{{.Id}}' "$tag")"

if [ "$what" = apptainer ]; then
    apptainer build --force containers/m3.sif containers/m3.def
    echo "apptainer image: containers/m3.sif sha256 $(sha256sum containers/m3.sif | cut -d' ' -f1)"
fi
