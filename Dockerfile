# vexen-auth container image, for those who build with Docker. `make image` builds
# the same image without a Docker daemon (deploy/image, go-containerregistry); the
# two are kept equivalent (deploy/image_test.go compares this file's user, paths,
# ports, environment and labels with the Go builder's):
#   - an empty base (no shell, no package manager) with CA certificates,
#   - both static binaries in /usr/local/bin (run `issuer serve` or `verifier`),
#   - user 65532:65532 (nonroot), working directory /var/lib/vexen-auth owned by it.
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) \
#                --build-arg COMMIT=$(git rev-parse HEAD) -t vexen-auth .
#   docker run --rm vexen-auth verifier --version
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -buildid= -X github.com/vexen/vexen-auth/internal/version.Version=${VERSION} -X github.com/vexen/vexen-auth/internal/version.Commit=${COMMIT}" \
      -o /out/usr/local/bin/ ./cmd/issuer ./cmd/verifier \
 && mkdir -p /out/etc/ssl/certs /out/var/lib/vexen-auth \
 && cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ \
 && echo 'nonroot:x:65532:65532:nonroot:/var/lib/vexen-auth:/sbin/nologin' >/out/etc/passwd \
 && echo 'nonroot:x:65532:' >/out/etc/group

FROM scratch
COPY --from=build /out/etc/ /etc/
COPY --from=build /out/usr/local/bin/ /usr/local/bin/
COPY --from=build --chown=65532:65532 /out/var/lib/vexen-auth/ /var/lib/vexen-auth/
ENV PATH=/usr/local/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
WORKDIR /var/lib/vexen-auth
USER 65532:65532
# issuer HTTP, verifier HTTP, metrics (--metrics-listen)
EXPOSE 8080/tcp 8081/tcp 9090/tcp
LABEL org.opencontainers.image.title="vexen-auth" \
      org.opencontainers.image.description="Forward authentication for reverse proxies: issuer and verifier" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/vexen/vexen-auth"
CMD ["verifier"]
