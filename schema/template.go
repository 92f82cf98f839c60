package schema

// InitTemplate is a commented starter config in YAML, for
// "resedge config init". As written it loads to Default(): every setting
// shown is a default, every other one is commented out.
const InitTemplate = `# resedge configuration.
# Keys, defaults and meaning: resedge config schema, or schema/README.md.
# Every value can be overridden by RESEDGE_<KEY_PATH> environment variables
# (RESEDGE_LISTENERS_DEFAULT_ADDRESS=:9000) and --<key.path> flags.
# Completion in editors: save the schema (resedge config schema >
# resedge.schema.json) and start this file with the line
#   # yaml-language-server: $schema=./resedge.schema.json

nats:
  # NATS server URLs. Empty: start an embedded NATS server on 127.0.0.1:4222.
  urls: []
  # creds: /etc/resedge/gateway.creds   # user credentials (JWT + NKey)
  # cert: /etc/resedge/nats-client.pem  # mutual TLS, with key
  # key: /etc/resedge/nats-client.key
  # rootCAs: [/etc/resedge/nats-ca.pem]
  requestTimeout: 3s
  bufferSize: 8192

engine:
  resetThrottle: 0       # parallel requests after a system.reset; 0 = no limit
  referenceThrottle: 0   # parallel requests following references; 0 = no limit
  unsubscribeDelay: 5s   # how long unused resources stay cached
  limits:
    subscriptionsPerResource: 256
    writeQueue: 4096       # queued messages before a slow client is closed
    maxMessageSize: 4194304
    writeTimeout: 10s

log:
  level: info      # debug, info, warn, error
  format: auto     # auto, text, json, tint
  trace: false     # log every client and NATS message

# Named TLS settings, used by listeners as  tls: <name>.
# tls:
#   main:
#     certFile: /etc/resedge/tls/fullchain.pem
#     keyFile: /etc/resedge/tls/privkey.pem
#   auto:
#     acme:
#       domains: [realtime.example.com]
#       email: ops@example.com

listeners:
  default:
    kind: http               # http, metrics or redirect
    address: 0.0.0.0:8080    # host:port, :port, or systemd:<socket name>
    # tls: main              # or inline: {certFile: …, keyFile: …}
    wsPaths: [/]
    apiPath: /api/
    apiEncoding: json        # json or jsonflat
    allowOrigin: ["*"]       # or [https://app.example.com, …]
    # headerAuth: auth.user.header      # rid.method called for HTTP API requests
    # wsHeaderAuth: auth.user.wsheader  # rid.method called for WebSocket upgrades
    # putMethod: set
    # deleteMethod: delete
    # patchMethod: patch
    wsCompression: false
    maxConnections: 0        # 0 = no limit
    resources: [">"]         # resource patterns exposed here
  # metrics:
  #   kind: metrics
  #   address: 127.0.0.1:9100
  # http:
  #   kind: redirect
  #   address: ":80"
  #   redirectTo: default
`
