# tracenet node image: small runtime on debian:bookworm-slim, non-root user
# (uid 10001), the data directory as a volume, `tracenet status` as health check.
#
# Two ways to build the same runtime image (README.md, "Running in a container"):
#
#   docker build -t tracenet .
#       The default target: compiles tracenet from source in rust:1-bookworm,
#       then copies it onto the runtime. Needs both base images from a registry.
#
#   cargo build --bin tracenet
#   mkdir -p target/container && strip -o target/container/tracenet target/debug/tracenet
#   podman build --format docker --pull=never --target prebuilt -t tracenet .
#       The `prebuilt` target: copies a binary built on the host (glibc, Debian
#       bookworm or older) onto the runtime. It needs only debian:bookworm-slim,
#       which may be a local image (scripts/container-check.sh builds one with
#       debootstrap); rust:1-bookworm is never pulled, because this stage does not
#       depend on the build stage, and Buildah and BuildKit build only the stages a
#       target needs (the build stage also comes after it in this file).
#       `--format docker` keeps the HEALTHCHECK (podman's default OCI format drops it).
#
#   docker run --rm -v tracenet-data:/var/lib/tracenet tracenet init --state DE --anchor KEY
#   docker run -d --name tracenet -v tracenet-data:/var/lib/tracenet -p 4001:4001 tracenet
#   docker exec tracenet tracenet status
#
# The data directory (key, registry, roster, traces) is the volume
# /var/lib/tracenet; create it once with `init` as above.
# Configuration: the volume's tracenet.toml, overridden by TRACENET_* variables
# (for example -e TRACENET_NODE__LISTEN='["/ip4/0.0.0.0/tcp/4001"]').
# Ports: 4001/tcp libp2p (published). The control API stays on the container's
# loopback (127.0.0.1:7701): use `docker exec tracenet tracenet ...`.
# .dockerignore keeps target/ out of the context except target/container/.

FROM debian:bookworm-slim AS runtime
RUN useradd --system --uid 10001 --home-dir /var/lib/tracenet --shell /usr/sbin/nologin tracenet \
 && mkdir -p /var/lib/tracenet \
 && chown tracenet:tracenet /var/lib/tracenet \
 && chmod 0700 /var/lib/tracenet
COPY config/ /usr/share/tracenet/config/
USER tracenet
# Listen addresses come from the volume's tracenet.toml (`init --listen`), by
# default /ip4/0.0.0.0/tcp/4001.
ENV TRACENET_DATA_DIR=/var/lib/tracenet
VOLUME ["/var/lib/tracenet"]
EXPOSE 4001/tcp
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["tracenet", "status"]
ENTRYPOINT ["tracenet"]
CMD ["node", "run", "--log-format", "json"]

# The host's binary on the runtime (see above).
FROM runtime AS prebuilt
COPY target/container/tracenet /usr/local/bin/tracenet

FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY integration ./integration
COPY scripts ./scripts
COPY config ./config
RUN cargo build --release --locked --bin tracenet \
 && strip target/release/tracenet

# The default target: the binary compiled above, on the runtime.
FROM runtime AS release
COPY --from=build /src/target/release/tracenet /usr/local/bin/tracenet
