# Image of federated-signin for `federated-signin start`. It contains no keys and no config:
# mount the config file at /etc/federated-signin/config.yaml and pass secrets as environment
# variables (`env:NAME` in the config). See docs/deployment.md.
#
# NODE_IMAGE may be pinned to a digest (node:20-bookworm-slim@sha256:...) for repeatable builds.
ARG NODE_IMAGE=node:20-bookworm-slim

# Build stage: compiles src/ to dist/ with the full dependency set.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Runtime stage: production dependencies and the compiled code only.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY certs/README.md ./certs/README.md

# The files above stay owned by root, so the service cannot change its own code. The node
# user (uid 1000) comes with the official Node.js images.
USER node

# Matches `listen.port` in the config; `listen.host` must be 0.0.0.0 inside a container.
EXPOSE 3000

# Node.js 20 has fetch built in, so the image needs no curl. Set HEALTHCHECK_URL when the
# config listens on another port or baseUrl has a path (GET /healthz is served under it).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.HEALTHCHECK_URL || 'http://127.0.0.1:3000/healthz', { signal: AbortSignal.timeout(4000) }).then((response) => process.exit(response.ok ? 0 : 1), () => process.exit(1))"]

# `start` stops cleanly on SIGTERM, which `docker stop` sends.
ENTRYPOINT ["node", "bin/federated-signin.js", "start", "--config", "/etc/federated-signin/config.yaml"]
