# syntax=docker/dockerfile:1
# Build: docker build -t switchboard --build-arg VERSION=$(git describe --always) .
# Run:   docker run -p 8080:8080 -v switchboard-data:/data switchboard

FROM docker.io/library/golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# A static binary: modernc.org/sqlite needs no cgo.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/switchboard ./cmd/switchboard \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/switchboard /usr/local/bin/switchboard
# The SQLite file lives on this volume, owned by the non-root user (65532).
COPY --from=build --chown=65532:65532 /out/data /data
VOLUME /data
ENV SWITCHBOARD_ADDR=0.0.0.0:8080 \
    SWITCHBOARD_DB=sqlite:/data/switchboard.db
EXPOSE 8080
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/switchboard"]
CMD ["serve"]
