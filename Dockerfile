# syntax=docker/dockerfile:1
# One image for every role of the cybercoop binary (manager, gateway, vault).
# Static, non-root, and no shell in the final image.
FROM golang:1.26 AS build
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY internal/ internal/
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath \
      -ldflags "-s -w -X github.com/cybercoop/cybercoop-operator/internal/version.Version=${VERSION}" \
      -o /out/cybercoop ./cmd/cybercoop

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/cybercoop /cybercoop
USER 65532:65532
ENTRYPOINT ["/cybercoop"]
CMD ["manager"]
