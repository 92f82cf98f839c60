// Package e2e holds end-to-end tests of resedge: a real NATS server, the
// engine, a listener and WebSocket clients, with the test playing the
// services (see internal/restest).
package e2e
