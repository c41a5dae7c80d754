# Signoff container image. Build: docker build -t signoff .
# The build stage runs packaging/build-release.sh, the same script .ci/run
# runs (and smoke-tests), so CI builds what this image ships.

FROM rust:1.94-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN packaging/build-release.sh \
 && install -D -m 0755 target/release/signoff /out/signoff

FROM debian:bookworm-slim
# libssl3 for the OpenSSL the binary links; curl for the health check.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/signoff --create-home signoff
COPY --from=build /out/signoff /usr/local/bin/signoff
USER 10001:10001
WORKDIR /var/lib/signoff
# SQLite in the volume by default; set SIGNOFF_DATABASE_URL=postgres://… for
# several instances. The issuer must be set to the public URL (https).
ENV SIGNOFF_BIND=0.0.0.0:8080 \
    SIGNOFF_DATABASE_URL=sqlite:///var/lib/signoff/signoff.db?mode=rwc
VOLUME /var/lib/signoff
EXPOSE 8080
# Healthy means ready (/readyz: database reachable, migrations applied, signing
# keys present, revocation view current), so `depends_on: service_healthy` and
# load balancers that read the container's health send no traffic before
# Signoff can serve it. /healthz (process alive) stays for liveness probes.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["signoff"]
CMD ["serve"]
