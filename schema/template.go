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
  # nkeySeed: /etc/resedge/gateway.nk   # or an NKey seed alone
  # cert: /etc/resedge/nats-client.pem  # mutual TLS, with key
  # key: /etc/resedge/nats-client.key
  # rootCAs: [/etc/resedge/nats-ca.pem]
  requestTimeout: 3s
  bufferSize: 8192
  # While NATS is lost: close (clients closed, 503 until it is back),
  # resync (clients kept, resynchronized when it is back) or exit.
  outage: close

engine:
  resetThrottle: 0       # parallel requests after a system.reset; 0 = no limit
  referenceThrottle: 0   # parallel requests following references; 0 = no limit
  unsubscribeDelay: 5s   # how long unused resources stay cached
  limits:
    subscriptionsPerResource: 256
    subscriptionsPerConnection: 10000   # distinct resources a client subscribes to; 0 = no limit
    writeQueue: 4096       # queued messages before a slow client is closed
    maxMessageSize: 4194304
    writeTimeout: 10s
    maxBodySize: 1048576     # largest HTTP API request body (413 above)
    readHeaderTimeout: 10s   # slow request headers are cut off (no slowloris)
    readTimeout: 30s         # slow HTTP API request bodies get 408
    idleTimeout: 2m          # idle keep-alive HTTP connections are closed
    maxHeaderBytes: 1048576  # largest request headers (431 above)
    pingInterval: 30s        # WebSocket ping to every client; 0 = none
    pongTimeout: 30s         # no pong after this long: closed as dead

log:
  level: info      # debug, info, warn, error
  format: auto     # auto, text, json, tint
  trace: false     # log every client and NATS message (secrets redacted)

shutdown:
  lameDuck: 5s     # on SIGTERM, close WebSocket clients spread over this window

# Named TLS settings, used by listeners as  tls: <name>.
# tls:
#   main:
#     certFile: /etc/resedge/tls/fullchain.pem   # read again when it changes
#     keyFile: /etc/resedge/tls/privkey.pem
#     minVersion: "1.2"                          # or "1.3"
#   auto:
#     acme:                                      # Let's Encrypt by default
#       domains: [realtime.example.com]
#       email: ops@example.com
#       # staging: true                          # untrusted test certificates
#       # ca: https://acme.example.net/directory # any other ACME CA
#       # eab: {keyId: …, macKey: …}             # if the CA requires it
#       # onDemand: {allow: ["*.example.com"]}   # or {ask: https://…}

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
