#!/usr/bin/env bash
# The GPU check in one call (`make gpu-check` prepares it; run it on the lent GPU machine from the repo root):
# install the wheels carried in .whl/ (the machine's own CUDA torch stays), run the dreaming tests on CUDA,
# then the GPU benchmark table. Prints the GPU's name and the date first. About 8 minutes on one H200.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
cp -r .whl/site/imageio_ffmpeg /tmp/site/
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
if command -v ffmpeg >/dev/null; then export IMAGEIO_FFMPEG_EXE=$(command -v ffmpeg); CASES=still,zoom,video; else CASES=still; fi
date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c 'import torch; print("torch", torch.__version__, torch.cuda.get_device_name())'
timeout 240 python3 -m pytest -q -x --device cuda tests/test_dream.py tests/test_features.py tests/test_ascent.py \
  tests/test_objectives.py tests/test_guided.py tests/test_backprop.py tests/test_models.py 2>&1 | tail -15
timeout 300 python3 -m benchmarks --device cuda --cases $CASES --repeats 3 --seeds 8 --threads 8
