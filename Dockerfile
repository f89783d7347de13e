# The kubeloop manager image: `docker build -t kubeloop:dev .` (`make docker-build IMG=...`).
# The builder installs the package and its runtime dependencies (no dev extra) into a venv;
# the final image holds that venv on the same slim base and runs as uid/gid 65532.

FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY framework ./framework
COPY api ./api
COPY controllers ./controllers
RUN pip install .

FROM python:3.11-slim
# The root filesystem is read-only in the cluster (config/manager): no bytecode files are
# written at run time (pip compiled them at install), and /tmp is an emptyDir.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
COPY --from=builder /opt/venv /opt/venv
USER 65532:65532
ENTRYPOINT ["manager", "run"]
