// Package tlsmgr gives resedge's listeners their certificates, and its
// NATS connection its TLS and credentials.
//
// # Static certificates
//
// A certificate and key file pair is read when a listener is prepared
// (errors name the file and say what is wrong: missing, unreadable, not
// PEM, swapped, not matching) and served through tls.Config's
// GetCertificate, so a new one is swapped in without closing connections.
// The files are read again on Commit (a SIGHUP reload) and when they
// change: the Manager polls their identity, size and modification time
// every Options.PollInterval (10 s). Polling rather than inotify
// (fsnotify) because it needs no dependency or watch limit, sees every
// way a certificate is replaced (in place, by rename, by a Kubernetes
// secret's symlink swap, on NFS), and costs two stat calls per certificate
// and interval; a renewed certificate is installed days before the old one
// expires, so seconds of delay do not matter. Files caught half-written
// (a key that does not match the certificate yet) are logged once and
// tried again when they change; the previous certificate keeps serving.
//
// # Automatic certificates
//
// ACME settings are served by certmagic: one certificate cache for the
// process, one certmagic.Config per distinct set of ACME settings (CA,
// email, EAB, roots, storage, challenge ports, on-demand policy), shared
// by every listener that uses them, so listeners naming the same domains
// share certificates. Domains are obtained in the background once the
// listeners serve (HTTP-01 challenges are answered by plain HTTP and
// redirect listeners through HandleHTTPChallenge, TLS-ALPN-01 by the TLS
// listeners, which offer acme-tls/1), and renewed in the background.
// On-demand TLS obtains a certificate during the handshake for a name that
// the allow-list or the ask URL approves, and refuses any other before an
// ACME order is placed. Obtained, renewed and loaded certificates are
// logged with their expiry and reported to Options.Expiry (the
// resedge_tls_certificate_expiry_timestamp_seconds metric).
//
// # TLS defaults
//
// TLS 1.2 or later (minVersion "1.3" raises it), forward-secret AEAD
// cipher suites, and ALPN http/1.1 only: WebSocket upgrades need
// HTTP/1.1.
//
// # NATS
//
// NATSOptions turns the nats settings into nats.go options (client
// certificate, root CAs, credentials file, NKey seed), checking every file
// first; ExplainNATSError says what a failure to connect means ("the NATS
// server requires a client certificate: set nats.cert and nats.key").
package tlsmgr
