# genzoo: two set-up commands for a fresh machine.
#   make demo   install (virtualenv .venv) and train a VAE on the bundled digits (< 2 min on 2 CPU cores)
#   make test   install and run the test suite
# Where PyTorch is missing, a CPU build is installed: TORCH (default torch==2.13.0) from
# TORCH_INDEX when set (e.g. https://download.pytorch.org/whl/cpu), else from pip's own indexes.

PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0
TORCH_INDEX ?=

.PHONY: venv demo test bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH)"
	$(BIN)/pip install -q -e ".[test]"
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(BIN)/genzoo train vae --data digits --steps 4000 --set model.latent_dim=8 --set model.encoder.type=mlp --set model.encoder.hidden=256 \
		--set train.batch_size=64 --set train.log_every=100

test: venv
	$(BIN)/python -m pytest -q -p no:cacheprovider

clean:
	rm -rf $(VENV) build *.egg-info
