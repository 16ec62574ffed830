# syntax=docker/dockerfile:1
#
# The bot's container image: the GitHub App server (`bot serve`, the default command) and the
# command line (validate, plan, rules), with the tools that building, converting and testing OS
# images takes (buildah, mmdebstrap, qemu, partitioning and filesystem tools).
#
#   docker build -t cluster-as-code .
#   docker run -d -p 8080:8080 -v cac-data:/var/lib/cluster-as-code \
#     -e CAC_APP_ID -e CAC_PRIVATE_KEY_FILE=/run/secrets/app.pem -e CAC_WEBHOOK_SECRET_FILE=… \
#     cluster-as-code                                  # docs/github-app.md: the whole setup
#   docker run --rm -v "$PWD:/repo" -w /repo cluster-as-code plan --bootstrap
#
# Needs BuildKit (the default builder since Docker 23; buildah and podman build it too) for the
# cache mounts. For reproducible builds, pin both base images by digest as well
# (golang:1.26-bookworm@sha256:…), and let a dependency bot update the digests.

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Build with the Go in the image, never download another toolchain.
ENV CGO_ENABLED=0 GOTOOLCHAIN=local
# The modules first, in a layer of their own: a change to the source does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY cmd/ cmd/
COPY internal/ internal/
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags='-s -w' -o /bot ./cmd/bot

FROM debian:bookworm-slim
LABEL org.opencontainers.image.title="cluster-as-code" \
      org.opencontainers.image.source="https://github.com/cluster-as-code/cluster-as-code"

# git: reading fleet repositories. tini: PID 1, forwards SIGTERM (the bot drains in-flight work
# on it) and reaps the processes that buildah and qemu leave behind.
# Image builds: buildah with crun (buildah only recommends a runtime, and recommends are off),
# fuse-overlayfs and uidmap (newuidmap/newgidmap) for rootless storage and user namespaces;
# mmdebstrap for Debian root file systems; qemu-utils (qemu-img) to convert disks;
# qemu-system-x86 and ovmf to boot an image under UEFI for its tests; e2fsprogs, dosfstools,
# mtools, fdisk (sfdisk), gdisk (sgdisk) to partition and format disk images; xz-utils and zstd
# to compress them; openssh-client to reach test machines.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates git tini \
      buildah crun fuse-overlayfs uidmap \
      mmdebstrap \
      qemu-utils qemu-system-x86 ovmf \
      e2fsprogs dosfstools mtools fdisk gdisk \
      xz-utils zstd openssh-client \
 && rm -rf /var/lib/apt/lists/*

# Run as an unprivileged user, with subordinate ids for rootless buildah and mmdebstrap.
#
# Receiving webhooks, planning and talking to GitHub and Ironic need no privilege at all. Image
# builds do: buildah and `mmdebstrap --mode=unshare` need either root or user namespaces. The
# operator chooses:
#   - rootless (this default): the runtime must let the container create user namespaces and
#     mount FUSE, e.g. `docker run --device /dev/fuse --security-opt seccomp=unconfined
#     --security-opt apparmor=unconfined` (Docker's default profiles forbid unshare and mount),
#     and BUILDAH_ISOLATION=chroot below avoids nesting a runtime. Prefer this.
#   - root: `docker run --user 0 --privileged`. Simplest, but root in a privileged container
#     is root on the host: give the bot a machine of its own.
# Either way, booting images under qemu at a usable speed needs /dev/kvm: `--device /dev/kvm`
# and `--group-add` the host's kvm group id.
ENV BUILDAH_ISOLATION=chroot
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/cluster-as-code \
      --shell /usr/sbin/nologin cac \
 && echo 'cac:100000:65536' >>/etc/subuid \
 && echo 'cac:100000:65536' >>/etc/subgid \
 && install -d -o cac -g cac -m 0750 /var/lib/cluster-as-code \
 && git config --system --add safe.directory '*'
# safe.directory: a fleet repository mounted from the host belongs to another user; let git
# read it (the command-line use above).

COPY --from=build /bot /bot

# The data directory (CAC_DATA_DIR): the SQLite store and the bot's other files on disk. Mount a
# persistent volume here; with SQLite, run one replica only (docs/github-app.md).
VOLUME /var/lib/cluster-as-code
WORKDIR /var/lib/cluster-as-code
USER cac
# CAC_LISTEN: webhooks, /healthz and /metrics.
EXPOSE 8080
# No HEALTHCHECK: the image has no HTTP client (curl) and the bot no health-check command yet.
# Orchestrators can probe GET /healthz on port 8080 themselves.
ENTRYPOINT ["/usr/bin/tini", "--", "/bot"]
CMD ["serve"]
