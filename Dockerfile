# syntax=docker/dockerfile:1
# kafka-obs images: one Dockerfile, three targets (docs/deployment.md):
#   docker build --target aggregator -t kafka-obs/aggregator:0.1.0 .
#   docker build --target agent      -t kafka-obs/agent:0.1.0 .       # no JRE: Prometheus text, Admin API, kafkajs intake
#   docker build --target agent-jmx  -t kafka-obs/agent-jmx:0.1.0 .   # with a minimal JRE for the JMX helper
# Runtime images are distroless (no shell, no package manager), run as uid 65532 and need no
# writable path but the aggregator's data directory: readOnlyRootFilesystem works.
ARG NODE_IMAGE=node:20.20.2-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs20-debian12:nonroot

# Compiles TypeScript, generates the protobuf code and compiles the JMX helper (needs a JDK).
FROM ${NODE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jdk-headless \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build
# Only what runs goes on: no tests, benchmarks or source maps; an empty data directory for the
# aggregator's image (a named volume then starts out owned by its user).
RUN rm -rf dist/test dist/bench && find dist -name '*.map' -delete && mkdir -p /data-dir

# The production dependencies alone.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# A JRE with only what the JMX helper uses (remote JMX over RMI, TLS), and the zlib it links to.
FROM build AS jre
RUN jlink --add-modules java.base,java.management,java.management.rmi,java.naming,java.rmi,jdk.naming.rmi,jdk.crypto.ec --strip-debug --no-man-pages --no-header-files --compress=2 --output /opt/jre \
 && cp -L "/usr/lib/$(uname -m)-linux-gnu/libz.so.1" /opt/jre/lib/

FROM ${RUNTIME_IMAGE} AS runtime
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/dist ./dist
COPY --from=build /src/proto/gen/kafkaobs.binpb ./proto/gen/kafkaobs.binpb
ENV NODE_ENV=production
USER 65532:65532
ENTRYPOINT ["/nodejs/bin/node", "/app/dist/bin/kafka-obs.js"]

FROM runtime AS aggregator
# gRPC, HTTP (/metrics, /healthz, /readyz); the journal lives in the data directory.
COPY --from=build --chown=65532:65532 /data-dir /var/lib/kafka-obs
EXPOSE 50051 8080
VOLUME ["/var/lib/kafka-obs"]
# In a container the published ports are the exposure decision: listen on all its interfaces.
ENV KAFKA_OBS_GRPC_HOST=0.0.0.0 KAFKA_OBS_HTTP_HOST=0.0.0.0
CMD ["aggregator", "--data-dir", "/var/lib/kafka-obs"]

FROM runtime AS agent
ENV AGENT_HEALTH_PORT=8082
EXPOSE 8082
CMD ["agent"]

FROM runtime AS agent-jmx
COPY --from=jre /opt/jre /opt/jre
ENV JAVA_HOME=/opt/jre LD_LIBRARY_PATH=/opt/jre/lib AGENT_HEALTH_PORT=8082
EXPOSE 8082
CMD ["agent"]
