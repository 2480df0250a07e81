# depthclip_ros: the two commands of the README, and helpers.
#   make demo   - set up .venv (first time) and run the ROS 2 demo on the bundled sample
#   make test   - set up .venv (first time) and run the whole test suite
# Both bootstrap the same virtual environment in .venv (Python >= 3.10, no ROS needed).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.depthclip-installed
# Offline: WEIGHTS=/path/to/RN50.pt (or .safetensors); WEIGHTS=random for a smoke run.
WEIGHTS ?=
CAMERAS ?= 1
FRAMES ?= 8
DEMO_OUT ?= out/demo

.PHONY: demo test venv lint bench clean

venv: $(STAMP)

$(STAMP): setup.py package.xml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -e '.[ros,test,onnx]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/depthclip demo --frames $(FRAMES) --cameras $(CAMERAS) --output $(DEMO_OUT) \
		$(if $(WEIGHTS),--weights $(WEIGHTS),)

test: $(STAMP)
	$(PY) -m pytest test -q -p no:cacheprovider

lint: $(STAMP)
	$(PY) -m pytest test/test_flake8.py test/test_pep257.py test/test_copyright.py -q

bench: $(STAMP)
	$(VENV)/bin/depthclip bench --json

clean:
	rm -rf $(VENV) build install log out .cache *.egg-info
