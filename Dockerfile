# Multi-stage build of the fairway binary.
#   docker build -t fairway .
#   docker run -p 8080:8080 -v $PWD/conf/fairway.yaml:/etc/fairway/fairway.yaml fairway
FROM rust:1-bookworm AS build
# The build packages come from scripts/setup.sh's list, the one the README
# and CI use (tests/package.rs fails if this stage installs any other way).
COPY scripts/setup.sh /src/scripts/setup.sh
RUN /src/scripts/setup.sh --build && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin fairway

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/fairway /usr/local/bin/fairway
COPY conf/fairway.yaml /etc/fairway/fairway.yaml
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/fairway"]
CMD ["-c", "/etc/fairway/fairway.yaml"]
