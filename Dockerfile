# One image for every asyncgate role: `api`, `worker`, `migrate`, `dev`.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/asyncgate ./cmd/asyncgate

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/asyncgate /usr/local/bin/asyncgate
USER nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/asyncgate"]
CMD ["api"]
