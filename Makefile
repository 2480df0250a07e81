# depthclip_ros: the two commands of the README, and helpers.
#   make demo   - set up .venv (first time) and run the ROS 2 demo on the bundled sample
#   make test   - set up .venv (first time) and run the whole test suite on the Kilted
#                 wheels, then set up .venv-jazzy (first time) and run the tests that use
#                 rclpy or ROS messages again on the Jazzy wheels
# Both bootstrap the same virtual environment in .venv (Python >= 3.10, no ROS needed);
# make test also .venv-jazzy.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.depthclip-installed
# The second environment: the PyPI wheels of ROS 2 Jazzy (the `ros-jazzy` extra) instead of
# Kilted's (the `ros` extra); the two sets hold the same modules, so never in one venv.
JAZZY_VENV ?= .venv-jazzy
JAZZY_PY := $(JAZZY_VENV)/bin/python
JAZZY_STAMP := $(JAZZY_VENV)/.depthclip-installed
# Offline: WEIGHTS=/path/to/RN50.pt (or .safetensors); WEIGHTS=random for a smoke run.
WEIGHTS ?=
CAMERAS ?= 1
FRAMES ?= 8
DEMO_OUT ?= out/demo
# Things to find in the demo: QUERIES="door chair" writes an overlay PNG beside each strip.
QUERIES ?=

.PHONY: demo test test-kilted test-jazzy venv venv-jazzy lint bench clean

venv: $(STAMP)

venv-jazzy: $(JAZZY_STAMP)

$(STAMP): setup.py package.xml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -e '.[ros,test,onnx]'
	touch $(STAMP)

$(JAZZY_STAMP): setup.py package.xml
	$(PYTHON) -m venv $(JAZZY_VENV)
	$(JAZZY_PY) -m pip install --upgrade pip
	$(JAZZY_PY) -m pip install torch==2.14.1 torchvision==0.29.1
	$(JAZZY_PY) -m pip install -e '.[ros-jazzy,test,onnx]'
	touch $(JAZZY_STAMP)

demo: $(STAMP)
	$(VENV)/bin/depthclip demo --frames $(FRAMES) --cameras $(CAMERAS) --output $(DEMO_OUT) \
		$(if $(WEIGHTS),--weights $(WEIGHTS),) $(foreach q,$(QUERIES),--query $(q))

# Both parts always run (Jazzy after a Kilted failure too); fails if either fails. Each output
# ends with the rclpy it ran on ("ran on rclpy 9.1.2 (ROS 2 Kilted) from ...").
test:
	@kilted=0; jazzy=0; \
	$(MAKE) --no-print-directory test-kilted || kilted=$$?; \
	$(MAKE) --no-print-directory test-jazzy || jazzy=$$?; \
	if [ $$kilted -ne 0 ]; then exit $$kilted; fi; exit $$jazzy

# --durations: the slowest tests of every run, to see where a slow machine's time goes.
test-kilted: $(STAMP)
	$(PY) -m pytest test -q -p no:cacheprovider --durations=15

# Only the test modules that import rclpy or ROS messages (marked `ros` by test/conftest.py).
test-jazzy: $(JAZZY_STAMP)
	$(JAZZY_PY) -m pytest test -q -p no:cacheprovider -m ros

lint: $(STAMP)
	$(PY) -m pytest test/test_flake8.py test/test_pep257.py test/test_copyright.py -q

bench: $(STAMP)
	$(VENV)/bin/depthclip bench --json

clean:
	rm -rf $(VENV) $(JAZZY_VENV) build install log out .cache *.egg-info
