// Package schema is resedge's configuration: the Go types, the JSON Schema
// (draft 2020-12) kept in schema.json and embedded in the binary, and the
// loader that builds a Config from layers and validates it.
//
// # Layers
//
// Load merges, each layer overriding the one before:
//
//  1. built-in defaults (the schema's "default" annotations);
//  2. the config file: YAML (.yaml, .yml), TOML (.toml) or JSON (any other
//     name); a file with Resgate's flat keys is a Resgate config;
//  3. the environment: RESEDGE_… variables;
//  4. the command-line flags: Resgate's flags, and config key paths.
//
// Objects merge key by key; lists are replaced whole. A configuration
// without listeners gets Resgate's: an http listener named "default" on
// 0.0.0.0:8080. Each listener then gets the defaults of its kind.
//
// The merged result is validated against the schema (types, enums,
// unknown keys, the keys each listener kind may use), decoded, and checked
// by Validate (duplicate names and addresses, a metrics port equal to an
// API port, unknown TLS references, origins, resource patterns, methods,
// ACME reachability…). Every problem is reported at once in a
// *ValidationError, each located where its value came from:
//
//	config.yaml:12: listeners.public.wsPath: unknown key (did you mean "wsPaths"?)
//	env RESEDGE_NATS_BUFFERSIZE: nats.bufferSize: must be at least 1, got 0
//	flag --port: invalid port "70000": must be less than 65536
//
// # Environment variables
//
// RESEDGE_ followed by the key path in upper case, one "_" between keys:
//
//	RESEDGE_NATS_URLS=nats://a:4222,nats://b:4222   nats.urls (lists: comma separated, or JSON)
//	RESEDGE_NATS_REQUESTTIMEOUT=5s                   nats.requestTimeout (REQUEST_TIMEOUT works too)
//	RESEDGE_LOG_LEVEL=debug                          log.level
//	RESEDGE_LISTENERS_PUBLIC_ADDRESS=:8443           listeners.public.address
//	RESEDGE_LISTENERS_PUBLIC_TLS_CERTFILE=/c.pem     listeners.public.tls.certFile
//	RESEDGE_TLS_MAIN_ACME_EMAIL=ops@example.com      tls.main.acme.email
//
// camelCase keys are matched ignoring case, and may be split by "_"
// (REQUESTTIMEOUT or REQUEST_TIMEOUT). A listener or TLS name is matched
// against the names already configured, ignoring case with "-" and "_"
// alike (RESEDGE_LISTENERS_MY_API_ADDRESS sets listener "my-api" or
// "my_api"); a name not configured yet is created in lower case. Values are
// converted to the key's type: numbers, true/false, and lists. A variable
// that names no key is an error, with the closest variable suggested.
//
// # Flags
//
// LoadOptions.Flags takes Resgate's flags with their meaning (-n/--nats,
// -i/--addr, -p/--port, -w/--wspath, -a/--apipath, -r/--reqtimeout,
// -u/--headauth, -t/--wsheadauth, -m/--metricsport, --apiencoding,
// --putmethod, --deletemethod, --patchmethod, --wscompression,
// --resetthrottle, --referencethrottle, -c/--config, --tls, --tlscert,
// --tlskey, --creds, --natscert, --natskey, --natsrootca, --alloworigin,
// -D/--debug, -V/--trace, -DV) plus --logformat. The listener flags are
// shorthand for the single http listener (created as "default" when there
// is none); --metricsport for the single metrics listener (created as
// "metrics"); --addr sets the host of both. With several http listeners
// they are an error: use key paths instead. Any config key path is also a
// flag: --listeners.public.address=:8443, --nats.urls=nats://a:4222.
//
// -c FILE behaves as in Resgate: a missing file is created from the
// defaults and the given Resgate flags, then read.
//
// # Resgate config files
//
// A file whose top-level keys are Resgate's (natsUrl, addr, port, wsPath,
// apiPath, headerAuth, certFile, …) loads unchanged and means what it means
// to Resgate v1.8.0 (see FromResgate): one http listener named "default",
// plus a metrics listener named "metrics" when metricsPort is set.
// Differences: an empty natsUrl starts resedge's embedded NATS server, the
// README's tlsCert and tlsKey are read as certFile and keyFile, and unknown
// keys are errors.
package schema
