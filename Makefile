# dreamreel: `make demo` renders the default preset and a short zoom; `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test bench clean demo-video

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
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

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) out build *.egg-info
