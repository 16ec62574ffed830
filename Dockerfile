# The bot's container image.
#
# A placeholder until the GitHub App issue completes it: for now it packages the bot command
# line (validate, plan, rules), which needs only git. The image pipeline adds what building
# and converting OS images takes (buildah, qemu-utils, e2fsprogs, …), and the GitHub App its
# server, configuration and state volume.
#
#   docker build -t cluster-as-code .
#   docker run --rm -v "$PWD:/repo" cluster-as-code plan --bootstrap

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd/ cmd/
COPY internal/ internal/
RUN CGO_ENABLED=0 go build -trimpath -o /out/bot ./cmd/bot

FROM debian:bookworm-slim
# The fleet repository is mounted from the host, owned by another user: let git read it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && git config --system --add safe.directory '*'
COPY --from=build /out/bot /usr/local/bin/bot
WORKDIR /repo
ENTRYPOINT ["bot"]
CMD ["--help"]
