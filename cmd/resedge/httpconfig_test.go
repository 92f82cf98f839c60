package main

import (
	"io"
	"log/slog"
	"reflect"
	"testing"

	"github.com/resedge/resedge/listeners"
)

func TestHTTPConfigFromOptions(t *testing.T) {
	opts, err := parseOptions([]string{
		"--apipath", "/v1", "--apiencoding", "jsonFlat",
		"--putmethod", "set", "--deletemethod", "remove", "--patchmethod", "update",
		"--headauth", "auth.session.header", "--wsheadauth", "auth.ws",
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg := httpConfig(opts, nil, slog.New(slog.DiscardHandler))
	if cfg.APIPath != "/v1/" || cfg.APIEncoding != "jsonflat" || cfg.PutMethod != "set" || cfg.DeleteMethod != "remove" || cfg.PatchMethod != "update" {
		t.Fatalf("unexpected config %+v", cfg)
	}
	if !reflect.DeepEqual(cfg.HeaderAuth, &listeners.AuthMethod{RID: "auth.session", Method: "header"}) {
		t.Fatalf("headerAuth: %+v", cfg.HeaderAuth)
	}
	if !reflect.DeepEqual(cfg.WSHeaderAuth, &listeners.AuthMethod{RID: "auth", Method: "ws"}) {
		t.Fatalf("wsHeaderAuth: %+v", cfg.WSHeaderAuth)
	}

	opts, err = parseOptions(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg = httpConfig(opts, nil, slog.New(slog.DiscardHandler))
	if cfg.APIEncoding != "json" || cfg.PutMethod != "" || cfg.HeaderAuth != nil || cfg.WSHeaderAuth != nil {
		t.Fatalf("unexpected default config %+v", cfg)
	}
}
