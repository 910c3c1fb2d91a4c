# voucherbot in a container: `docker build -t voucherbot .`. Running it, and the Kubernetes
# CronJob that uses it: contrib/README.md. No secret is in the image: the API key comes at run
# time (CONNECTIF_API_KEY_FILE, or CONNECTIF_API_KEY).

FROM python:3.12-slim AS build
WORKDIR /src
# .dockerignore lets in only what the wheel is built from
COPY pyproject.toml README.md ./
COPY voucherbot ./voucherbot
# The wheels, then an environment of them alone: --no-index installs nothing else (so no pin
# is needed, DL3013), and a venv without pip carries no installer into the image.
# hadolint ignore=DL3013
RUN pip wheel --no-cache-dir --wheel-dir /wheels . \
    && python -m venv --without-pip /opt/voucherbot \
    && pip --python /opt/voucherbot/bin/python install --no-cache-dir --no-index \
        --find-links=/wheels --root-user-action=ignore --disable-pip-version-check voucherbot

FROM python:3.12-slim
RUN groupadd --system --gid 10001 voucherbot \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin voucherbot \
    && install -d -o 10001 -g 10001 -m 0700 /data
# the same base image, so the venv's python (/usr/local/bin/python3) is where it expects
COPY --from=build /opt/voucherbot /opt/voucherbot
ENV VOUCHERBOT_RULES=/config/rules.toml \
    VOUCHERBOT_LEDGER=/data/voucherbot.sqlite \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/voucherbot/bin:$PATH
# The ledger, its lock and its .pending/ folder: the one volume to keep, one per store.
VOLUME /data
USER 10001:10001
# SIGINT rather than SIGTERM: the ledger then records a stopped run as "interrupted"
STOPSIGNAL SIGINT
ENTRYPOINT ["voucherbot"]
CMD ["run", "--quiet"]
