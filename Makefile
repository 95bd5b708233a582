# Every target sets itself up: a fresh clone needs only python3 and make.
PYTHON ?= python3
VENV ?= .venv
# CPU build by default; GPU users: make test TORCH_SPEC=torch TORCH_INDEX="--index-url https://..."
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
BIN := $(VENV)/bin

.PHONY: setup test demo serve bench lint clean gpu-check

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_INDEX) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/python -m tokenshuffle.kernels || echo "make setup: CPU decode kernels not built (no g++?); torch's kernels will be used"
	touch $@

lint: setup
	$(BIN)/ruff check src tests

test: setup lint
	$(BIN)/python -m pytest

DEMO_MODEL := src/tokenshuffle/assets/demo-model
DEMO_OUT ?= out/demo

demo: setup
	@test -d $(DEMO_MODEL) || { echo "make demo: no shipped model at $(DEMO_MODEL)"; exit 1; }
	$(BIN)/tokenshuffle generate "a photo of a red circle and a blue star" --num-images 4 --out $(DEMO_OUT)/red-circle-blue-star.png
	$(BIN)/tokenshuffle generate "a photo of three hearts" --num-images 4 --out $(DEMO_OUT)/three-hearts.png
	$(BIN)/tokenshuffle generate "a photo of a triangle above a square" --num-images 4 --out $(DEMO_OUT)/triangle-above-square.png
	$(BIN)/tokenshuffle generate "a photo of a red circle and a blue star" --height 1024 --width 1024 --num-images 4 \
		--out $(DEMO_OUT)/red-circle-blue-star-1024.png
	$(BIN)/tokenshuffle generate "a photo of a red circle and a blue star" --height 512 --width 1024 --num-images 4 \
		--out $(DEMO_OUT)/red-circle-blue-star-1024x512.png
	$(BIN)/tokenshuffle generate "keycap 9" "woman lifting weights" "man getting haircut" "bavaria flag" \
		"flag: Latvia" "person in motorized wheelchair" "orthodox cross" "man barista" --model emoji --num-images 4 \
		--out $(DEMO_OUT)/emoji-heldout-names.png
	@echo "make demo: the images are in $(DEMO_OUT)/ (each grid PNG has its single images beside it)"

# The HTTP API and web page on http://127.0.0.1:$(PORT)/ (API docs at /docs); Ctrl-C stops it.
PORT ?= 8000
serve: setup
	$(BIN)/tokenshuffle serve --port $(PORT)

bench: setup
	$(BIN)/tokenshuffle bench generate

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info

# The GPU subset of the tests, then the benches on cuda (issue 37): GPT-B, 8 images at 384² with CFG,
# s=1 and s=2, eager and compiled (CUDA graphs), fp32 and bf16. Needs a CUDA build of torch in the venv:
#   make gpu-check TORCH_SPEC=torch==2.13.0 TORCH_INDEX="--index-url https://download.pytorch.org/whl/cu128"
GPU_OUT ?= out/gpu-check
gpu-check: setup
	@$(BIN)/python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'make gpu-check: torch ' + torch.__version__ + ' sees no CUDA GPU')"
	@mkdir -p $(GPU_OUT)
	$(BIN)/python -m pytest -q tests/test_gpu.py tests/model tests/sampling
	$(BIN)/tokenshuffle bench generate --device cuda --height 384 --width 384 --batch 8 --windows 1,2 --dtype fp32,bf16 --json $(GPU_OUT)/generate-384-eager.json
	$(BIN)/tokenshuffle bench generate --device cuda --height 384 --width 384 --batch 8 --windows 1,2 --dtype fp32,bf16 --compile --json $(GPU_OUT)/generate-384-compiled.json
	$(BIN)/tokenshuffle bench generate --device cuda --height 1024 --width 1024 --windows 1,2,4 --dtype bf16 --compile --json $(GPU_OUT)/generate-1024.json
	@echo "make gpu-check: JSON in $(GPU_OUT)/; compare s/image with LlamaGen's A100 figures (GPT-B, 8 images, 384²: 7.80 s; 2.39 s with vLLM)"
