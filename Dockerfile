# tracenet node image: multi-stage build, small runtime, non-root user.
#
#   docker build -t tracenet .
#   docker run -d --name tracenet -v tracenet-data:/var/lib/tracenet -p 4001:4001 tracenet
#   docker exec tracenet tracenet status
#
# The data directory (key, registry, roster, traces) is the volume
# /var/lib/tracenet; create it once with
#   docker run --rm -v tracenet-data:/var/lib/tracenet tracenet init --state DE
# Configuration: the volume's tracenet.toml, overridden by TRACENET_* variables
# (for example -e TRACENET_NODE__LISTEN='["/ip4/0.0.0.0/tcp/4001"]').
# Ports: 4001/tcp libp2p (published). The control API stays on the container's
# loopback (127.0.0.1:7701): use `docker exec tracenet tracenet ...`.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY integration ./integration
COPY scripts ./scripts
COPY config ./config
RUN cargo build --release --locked --bin tracenet \
 && strip target/release/tracenet

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/tracenet --shell /usr/sbin/nologin tracenet \
 && mkdir -p /var/lib/tracenet \
 && chown tracenet:tracenet /var/lib/tracenet \
 && chmod 0700 /var/lib/tracenet
COPY --from=build /src/target/release/tracenet /usr/local/bin/tracenet
COPY config/ /usr/share/tracenet/config/
USER tracenet
ENV TRACENET_DATA_DIR=/var/lib/tracenet \
    TRACENET_NODE__LISTEN='["/ip4/0.0.0.0/tcp/4001"]'
VOLUME ["/var/lib/tracenet"]
EXPOSE 4001/tcp
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["tracenet", "status"]
ENTRYPOINT ["tracenet"]
CMD ["node", "run", "--log-format", "json"]
