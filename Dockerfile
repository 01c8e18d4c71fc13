# T4 server image: `docker build -t t4 .` then `docker run -p 3379:3379 t4 run --listen 0.0.0.0:3379 ...`
# (docker-compose.yml runs it with MinIO). The entrypoint is the CLI; the command picks the subcommand.

FROM node:20-bookworm-slim AS build
# better-sqlite3 falls back to compiling when no prebuilt binary matches.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json ./
COPY src ./src
COPY test ./test
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /opt/t4
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
RUN mkdir -p /var/lib/t4 && chown node:node /var/lib/t4
USER node
VOLUME ["/var/lib/t4"]
EXPOSE 3379
ENTRYPOINT ["node", "dist/src/app/cli/main.js"]
CMD ["run", "--data-dir", "/var/lib/t4", "--listen", "0.0.0.0:3379"]
