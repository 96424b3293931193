# telepay serve in a container: one static-enough binary (glibc) on distroless, run as
# the image's non-root user. Multi-arch: docker buildx build --platform
# linux/amd64,linux/arm64 -t telepay . (each platform built natively or under QEMU).
# See docs/self-hosting.md.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# Only the CLI (which carries `telepay serve`): the Lambda functions are not needed here.
RUN cargo build --release --locked -p telepay \
    && cp target/release/telepay /telepay \
    && mkdir /state

# glibc and CA certificates, no shell, no package manager; uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /telepay /usr/local/bin/telepay
# The SQLite store's home when no Postgres is configured (mount a volume here), owned by
# the user the server runs as.
COPY --from=build --chown=65532:65532 /state /var/lib/telepay
WORKDIR /var/lib/telepay
ENV TELEPAY_SQLITE_PATH=/var/lib/telepay/telepay.sqlite \
    TELEPAY_LOG_FORMAT=json \
    PORT=3000
EXPOSE 3000
USER nonroot
ENTRYPOINT ["/usr/local/bin/telepay"]
CMD ["serve", "--bind", "0.0.0.0"]
