# syntax=docker/dockerfile:1
# The simulated stack and training, from the README's own commands: scripts/setup.sh builds the
# environment, scripts/run.sh (`meld-launch sim`) is the default command. No ROS install: the graph
# runs on the ROS 2 Jazzy wheels from PyPI, as on a laptop and in CI.
#   docker build -f docker/sim.Dockerfile -t meld-sim .
#   docker run --rm -it --ipc=host -v "$PWD/runs:/meld/runs" meld-sim --config smoke
# Arguments after the image name go to meld-launch (see README.md). docs/docker.md has the rest.
FROM python:3.11-slim-bookworm

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1
WORKDIR /meld

# The whole repository (sim.Dockerfile.dockerignore keeps a host .venv, runs/ and build outputs
# out: a copied .venv would point at the host's python and make setup.sh skip the install).
COPY . /meld

# The README's set-up: the Debian packages for headless MuJoCo rendering, .venv with the pinned
# dependencies (torch==2.13.0 from PyPI: on x86_64 Linux that wheel pulls the CUDA libraries, about
# 4 GB; the trainer uses the GPU when the container gets one), the workspace packages.
# The pip cache mount keeps downloaded wheels across rebuilds after a code change.
RUN --mount=type=cache,target=/root/.cache/pip \
    scripts/setup.sh \
    && rm -rf /var/lib/apt/lists/*

# Episodes, checkpoints and logs: mount the host's runs/ here to keep them and to resume.
VOLUME ["/meld/runs"]

# scripts/run.sh runs setup.sh (a no-op now: its stamp matches), then `exec meld-launch sim`, which
# stops every node cleanly on SIGTERM (docker stop) as on Ctrl-C.
ENTRYPOINT ["/meld/scripts/run.sh"]
CMD []
