#!/usr/bin/env bash
# Does `pip install taskneurons` leave a user's own torch in place (issue 13)? A fresh venv gets a stand-in for a
# cluster's vendor build (the metadata of torch 2.5.1+cu121, no code: pip decides from the installed version alone),
# then pip resolves `pip install .` without installing anything (--dry-run). Prints pip's plan and the verdict.
#   bash benchmarks/check_install_keeps_torch.sh [torch version, default 2.5.1+cu121]
set -euo pipefail
version="${1:-2.5.1+cu121}"
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$(mktemp -d)/venv"
python3 -m venv "$venv"
site="$("$venv/bin/python" -c 'import site; print(site.getsitepackages()[0])')"
info="$site/torch-$version.dist-info"
mkdir -p "$info" "$site/torch"
printf 'Metadata-Version: 2.1\nName: torch\nVersion: %s\n' "$version" > "$info/METADATA"
echo pip > "$info/INSTALLER"
: > "$info/RECORD"
plan="$("$venv/bin/pip" install --dry-run "$root" 2>&1 | grep '^Would install' || true)"
echo "$plan"
if [ -z "$plan" ]; then echo "pip found no plan (see its output above)"; exit 1; fi
if echo "$plan" | grep -qw 'torch-[0-9][^ ]*'; then echo "REPLACES torch $version"; exit 1; fi
echo "keeps torch $version: pip would install everything else and leave it in place"
rm -rf "$(dirname "$venv")"
