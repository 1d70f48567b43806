# bootwire in a container (README, "Operations").
#
#   docker build -t bootwire .
#   docker run -d --name bootwire --network host \
#     -v /etc/bootwire:/etc/bootwire:ro -v /srv/tftp:/srv/tftp:ro -v bootwire-state:/var/lib/bootwire bootwire
#   docker kill --signal HUP bootwire          # reread /etc/bootwire/bootwire.json
#   docker exec bootwire bootwire leases --config /etc/bootwire/bootwire.json
#
# Host networking (--network host) for DHCP: phones broadcast their DISCOVERs on the LAN, which a
# container behind Docker's bridge and NAT never sees, and its replies would leave from the wrong
# address. TFTP needs it too: every transfer answers from a new ephemeral port, which -p cannot
# publish. The container starts as root to bind ports 67 and 69, then runs as `node` (--user).
# In bootwire.json, keep the leases in the state volume: "leases": "/var/lib/bootwire/leases.db".

FROM node:20-slim AS build
WORKDIR /app
# better-sqlite3 and the optional batched-UDP addon (packages/tftp/native/) compile at install;
# npm ci's prepare script builds every package (tsc -b).
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY . .
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
# The workspace: node_modules/@bootwire/* link to packages/*, each with its dist/ (and tftp's addon in build/).
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/packages ./packages
RUN ln -s /app/packages/bootwire/dist/cli/main.js /usr/local/bin/bootwire && chmod +x /app/packages/bootwire/dist/cli/main.js \
  && mkdir -p /etc/bootwire /var/lib/bootwire && chown node:node /var/lib/bootwire
VOLUME /var/lib/bootwire
# What bootwire.json usually serves (documentation: with --network host nothing is published).
EXPOSE 67/udp 69/udp 80/tcp 443/tcp
ENTRYPOINT ["bootwire"]
CMD ["serve", "--config", "/etc/bootwire/bootwire.json", "--user", "node"]
